// Small POSIX file helpers for the filesystem registry: every failure is an
// absl::Status that names the path, and durability steps (fsync of files
// and of the directories that hold them) are explicit.
#ifndef LORAPLEX_SERVICE_REGISTRY_FILE_UTIL_H_
#define LORAPLEX_SERVICE_REGISTRY_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/auth/sha256.h"

namespace loraplex::service::file_util {

// `base` + "/" + `name`.
std::string JoinPath(absl::string_view base, absl::string_view name);

// Creates `path` and any missing parents; OK if it is already a directory.
absl::Status MakeDirs(const std::string& path);
// Removes `path` and everything under it; OK if it does not exist.
absl::Status RemoveTree(const std::string& path);
// rename(2): atomic within one filesystem; replaces an empty directory.
absl::Status Rename(const std::string& from, const std::string& to);
// Names in a directory (not "." or ".."), sorted.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path);
// Whether `path` is a directory (or a symlink to one).
bool IsDirectory(const std::string& path);
// Whether anything exists at `path` (lstat).
bool PathExists(const std::string& path);

// fsync(2) of a file or directory (a directory's fsync makes the creation,
// removal or renaming of its entries durable).
absl::Status SyncPath(const std::string& path);
absl::Status SyncFd(int fd, absl::string_view path);
// write(2) until every byte is written.
absl::Status WriteAll(int fd, absl::string_view data, absl::string_view path);
// Creates `path` (it must not exist) empty; no fsync.
absl::Status CreateEmptyFile(const std::string& path);
// Opens `path` (which must exist), appends `data` and closes it again: no
// descriptor is held between calls. No fsync.
absl::Status AppendToFile(const std::string& path, absl::string_view data);
// Creates `path` (it must not exist), writes `contents` and fsyncs it.
absl::Status WriteNewFileDurably(const std::string& path,
                                 absl::string_view contents);
absl::StatusOr<std::string> ReadFile(const std::string& path);

struct FileDigest {
  uint64_t size_bytes = 0;
  Sha256Digest sha256{};
};
// Streams the file through SHA-256.
absl::StatusOr<FileDigest> DigestFile(const std::string& path);

// `num_bytes` random bytes (OpenSSL RAND_bytes) as lower-case hex.
absl::StatusOr<std::string> RandomHex(size_t num_bytes);

}  // namespace loraplex::service::file_util

#endif  // LORAPLEX_SERVICE_REGISTRY_FILE_UTIL_H_
