#include "engine/train/file_util.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace loraplex::engine {

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::string reason = std::strerror(errno);
    if (!std::filesystem::exists(path)) {
      return absl::NotFoundError(absl::StrCat("no such file: ", path));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read ", path, ": ", reason));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("error while reading ", path));
  }
  return contents.str();
}

absl::Status EnsureDirectory(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", dir, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents) {
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    if (absl::Status made = EnsureDirectory(parent.string()); !made.ok()) {
      return made;
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
    }
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot rename ", tmp, " to ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::Status CopyFile(const std::string& from, const std::string& to) {
  absl::StatusOr<std::string> contents = ReadFileToString(from);
  if (!contents.ok()) return contents.status();
  return WriteFileAtomically(to, *contents);
}

}  // namespace loraplex::engine
