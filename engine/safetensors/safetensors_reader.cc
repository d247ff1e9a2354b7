#include "engine/safetensors/safetensors_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/safetensors/safetensors_header.h"

namespace loraplex::engine {
namespace {

constexpr uint64_t kLengthPrefixBytes = 8;

// Prefixes every error of `status` with the file it concerns.
absl::Status WithPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(path, ": ", status.message()));
}

absl::Status ErrnoError(const std::string& path, absl::string_view action,
                        int error_number) {
  return absl::ErrnoToStatus(error_number, absl::StrCat(path, ": ", action));
}

uint64_t ReadLittleEndianU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

// Read-only private mapping of a whole regular file of at least 8 bytes.
absl::Status MapFile(const std::string& path, const uint8_t** mapping,
                     size_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoError(path, "cannot open", errno);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error_number = errno;
    ::close(fd);
    return ErrnoError(path, "cannot stat", error_number);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < kLengthPrefixBytes) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": file is ", file_size,
                     " bytes, too short for the 8-byte header length"));
  }
  void* address = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int error_number = errno;
  ::close(fd);  // The mapping keeps the file alive.
  if (address == MAP_FAILED) {
    return ErrnoError(path, "cannot mmap", error_number);
  }
  *mapping = static_cast<const uint8_t*>(address);
  *size = file_size;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path, const SafetensorsLimits& limits) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  if (absl::Status mapped =
          MapFile(path, &file->mapping_, &file->mapping_size_);
      !mapped.ok()) {
    return mapped;
  }
  const uint64_t file_size = file->mapping_size_;
  const uint64_t header_bytes = ReadLittleEndianU64(file->mapping_);
  // Both checks come before anything is sized by header_bytes.
  if (header_bytes > limits.max_header_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header length ", header_bytes, " exceeds the limit of ",
        limits.max_header_bytes, " bytes"));
  }
  if (header_bytes > file_size - kLengthPrefixBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header length ", header_bytes, " runs past the end of the ",
        file_size, "-byte file (truncated?)"));
  }
  const uint64_t data_start = kLengthPrefixBytes + header_bytes;
  const std::string_view header_json(
      reinterpret_cast<const char*>(file->mapping_ + kLengthPrefixBytes),
      header_bytes);
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensorsHeader(
      header_json, data_start, file_size - data_start, limits.max_tensors);
  if (!header.ok()) {
    return WithPath(path, header.status());
  }
  file->tensors_ = std::move(header->tensors);
  file->metadata_ = std::move(header->metadata);
  for (size_t i = 0; i < file->tensors_.size(); ++i) {
    file->index_.emplace(file->tensors_[i].name, i);
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) {
    ::munmap(const_cast<uint8_t*>(mapping_), mapping_size_);
  }
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::Span<const uint8_t> SafetensorsFile::Data(
    const TensorInfo& tensor) const {
  // Guards against a TensorInfo from another file: never read outside the
  // mapping.
  if (tensor.data_offset > mapping_size_ ||
      tensor.nbytes > mapping_size_ - tensor.data_offset) {
    return {};
  }
  return absl::Span<const uint8_t>(mapping_ + tensor.data_offset,
                                   tensor.nbytes);
}

}  // namespace loraplex::engine
