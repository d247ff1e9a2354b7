#include "engine/safetensors/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {

absl::Status SafetensorsWriter::Add(const std::string& name, TensorDType dtype,
                                    std::vector<int64_t> shape,
                                    std::string data) {
  if (name == "__metadata__" || name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid tensor name '", name, "'"));
  }
  uint64_t numel = 1;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "' has a negative dimension"));
    }
    overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel);
  }
  uint64_t nbytes = 0;
  overflow |= __builtin_mul_overflow(numel, TensorDTypeSize(dtype), &nbytes);
  if (overflow || nbytes != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "': ", data.size(), " bytes do not match its shape (",
        numel, " elements of ", TensorDTypeName(dtype), ")"));
  }
  if (!tensors_.emplace(name, Entry{dtype, std::move(shape), std::move(data)})
           .second) {
    return absl::InvalidArgumentError(
        absl::StrCat("duplicate tensor name '", name, "'"));
  }
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::AddFloat32(const std::string& name,
                                           std::vector<int64_t> shape,
                                           const float* values) {
  uint64_t numel = 1;
  for (int64_t d : shape) {
    numel *= static_cast<uint64_t>(std::max<int64_t>(d, 0));
  }
  std::string bytes(reinterpret_cast<const char*>(values),
                    numel * sizeof(float));
  return Add(name, TensorDType::kF32, std::move(shape), std::move(bytes));
}

void SafetensorsWriter::SetMetadata(const std::string& key,
                                    const std::string& value) {
  metadata_[key] = value;
}

std::string SafetensorsWriter::Serialize() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    header["__metadata__"] = metadata_;
  }
  uint64_t offset = 0;
  for (const auto& [name, entry] : tensors_) {
    header[name] = {{"dtype", std::string(TensorDTypeName(entry.dtype))},
                    {"shape", entry.shape},
                    {"data_offsets", {offset, offset + entry.data.size()}}};
    offset += entry.data.size();
  }
  std::string json = header.dump();
  // Pad with spaces so the data area starts 8-byte aligned.
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  }
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& [name, entry] : tensors_) {
    out += entry.data;
  }
  return out;
}

absl::Status SafetensorsWriter::WriteFile(const std::string& path) const {
  const std::string bytes = Serialize();
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(
          absl::StrCat("cannot write ", tmp, ": ", std::strerror(err)));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot flush ", tmp, ": ", std::strerror(errno)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path,
                                            ": ", std::strerror(errno)));
  }
  // The rename itself is durable only once the directory is synced.
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
    const int error_number = errno;
    if (dir_fd >= 0) {
      ::close(dir_fd);
    }
    return absl::InternalError(absl::StrCat("cannot sync directory ", dir, ": ",
                                            std::strerror(error_number)));
  }
  ::close(dir_fd);
  return absl::OkStatus();
}

}  // namespace loraplex::engine
