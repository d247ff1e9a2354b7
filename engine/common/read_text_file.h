// Reads small text files (JSON configs) whole, with errno mapped to a
// Status. Shared by the engine's parsers (configs, adapter configs,
// safetensors index files).
#ifndef LORAPLEX_ENGINE_COMMON_READ_TEXT_FILE_H_
#define LORAPLEX_ENGINE_COMMON_READ_TEXT_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace loraplex::engine {

// Config files are small; anything larger than this is refused unread.
inline constexpr size_t kMaxConfigFileBytes = 16 << 20;

// The contents of `path`. NOT_FOUND when it does not exist, another code
// from errno for other failures (PERMISSION_DENIED, ...), INVALID_ARGUMENT
// for a directory or a file over `max_bytes`. Messages start with `path`.
absl::StatusOr<std::string> ReadTextFile(
    const std::string& path, size_t max_bytes = kMaxConfigFileBytes);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_COMMON_READ_TEXT_FILE_H_
