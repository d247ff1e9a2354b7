#include "service/registry/file_util.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace loraplex::service::file_util {
namespace {

absl::Status ErrnoError(int error, absl::string_view what,
                        absl::string_view path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path));
}

absl::Status ErrorCodeStatus(const std::error_code& error,
                             absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(error.value(), absl::StrCat(what, " ", path));
}

// Closes the descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

std::string JoinPath(absl::string_view base, absl::string_view name) {
  return absl::StrCat(base, "/", name);
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return ErrorCodeStatus(error, "cannot create directory", path);
  }
  if (!IsDirectory(path)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code error;
  std::filesystem::remove_all(path, error);
  if (error) {
    return ErrorCodeStatus(error, "cannot remove", path);
  }
  return absl::OkStatus();
}

absl::Status Rename(const std::string& from, const std::string& to) {
  if (rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoError(errno, "cannot rename", absl::StrCat(from, " to ", to));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) {
  std::error_code error;
  std::filesystem::directory_iterator it(path, error);
  if (error) {
    return ErrorCodeStatus(error, "cannot list", path);
  }
  std::vector<std::string> names;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    names.push_back(it->path().filename().string());
  }
  if (error) {
    return ErrorCodeStatus(error, "cannot list", path);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool IsDirectory(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool PathExists(const std::string& path) {
  struct stat info;
  return lstat(path.c_str(), &info) == 0;
}

absl::Status SyncFd(int fd, absl::string_view path) {
  if (fsync(fd) != 0) {
    return ErrnoError(errno, "cannot fsync", path);
  }
  return absl::OkStatus();
}

absl::Status SyncPath(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoError(errno, "cannot open", path);
  }
  FdCloser closer(fd);
  return SyncFd(fd, path);
}

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view path) {
  while (!data.empty()) {
    const ssize_t written = write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoError(errno, "cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

absl::Status CreateEmptyFile(const std::string& path) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return ErrnoError(errno, "cannot create", path);
  }
  if (close(fd) != 0) {
    return ErrnoError(errno, "cannot close", path);
  }
  return absl::OkStatus();
}

absl::Status AppendToFile(const std::string& path, absl::string_view data) {
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoError(errno, "cannot open", path);
  }
  absl::Status status = WriteAll(fd, data, path);
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoError(errno, "cannot close", path);
  }
  return status;
}

absl::Status WriteNewFileDurably(const std::string& path,
                                 absl::string_view contents) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return ErrnoError(errno, "cannot create", path);
  }
  FdCloser closer(fd);
  absl::Status status = WriteAll(fd, contents, path);
  if (!status.ok()) {
    return status;
  }
  return SyncFd(fd, path);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoError(errno, "cannot open", path);
  }
  FdCloser closer(fd);
  std::string contents;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoError(errno, "cannot read", path);
    }
    if (got == 0) {
      return contents;
    }
    contents.append(buffer, static_cast<size_t>(got));
  }
}

absl::StatusOr<FileDigest> DigestFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoError(errno, "cannot open", path);
  }
  FdCloser closer(fd);
  FileDigest digest;
  Sha256 hasher;
  std::string buffer(1 << 20, '\0');
  for (;;) {
    const ssize_t got = read(fd, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoError(errno, "cannot read", path);
    }
    if (got == 0) {
      break;
    }
    hasher.Update(absl::string_view(buffer.data(), static_cast<size_t>(got)));
    digest.size_bytes += static_cast<uint64_t>(got);
  }
  digest.sha256 = hasher.Finish();
  return digest;
}

absl::StatusOr<std::string> RandomHex(size_t num_bytes) {
  std::string bytes(num_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()),
                 static_cast<int>(num_bytes)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  return absl::BytesToHexString(bytes);
}

}  // namespace loraplex::service::file_util
