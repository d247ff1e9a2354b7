// Minimal structured logging to stderr. Debian 12's Abseil predates
// absl/log, and glog would drag a second logging world into the service.
#ifndef LORAPLEX_ENGINE_COMMON_LOGGING_H_
#define LORAPLEX_ENGINE_COMMON_LOGGING_H_

#include <string_view>

#include "absl/strings/str_format.h"

namespace loraplex {

enum class LogSeverity { kInfo, kWarning, kError };

// Writes one line: "<UTC time> <I|W|E> <message>". Thread-safe.
void LogLine(LogSeverity severity, std::string_view message);

template <typename... Args>
void LogInfo(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(LogSeverity::kInfo, absl::StrFormat(format, args...));
}
template <typename... Args>
void LogWarning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(LogSeverity::kWarning, absl::StrFormat(format, args...));
}
template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(LogSeverity::kError, absl::StrFormat(format, args...));
}

}  // namespace loraplex

#endif  // LORAPLEX_ENGINE_COMMON_LOGGING_H_
