// Small file helpers for the trainer's inputs and outputs.
#ifndef LORAPLEX_ENGINE_TRAIN_FILE_UTIL_H_
#define LORAPLEX_ENGINE_TRAIN_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loraplex::engine {

// The whole file. NOT_FOUND if it does not exist.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes `path` + ".tmp", then renames it over `path`, so a crash leaves the
// old file or the new one. Creates the parent directory if needed.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents);

// Creates `dir` and its parents if needed.
absl::Status EnsureDirectory(const std::string& dir);

// Copies `from` to `to` (atomically, as above).
absl::Status CopyFile(const std::string& from, const std::string& to);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TRAIN_FILE_UTIL_H_
