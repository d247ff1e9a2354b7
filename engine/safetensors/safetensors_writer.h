// Writes safetensors files (https://huggingface.co/docs/safetensors) that
// SafetensorsFile, Hugging Face transformers and PEFT read: header JSON with
// sorted names padded to 8 bytes, tensors stored back to back in name order.
#ifndef LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_WRITER_H_
#define LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/safetensors/safetensors_reader.h"

namespace loraplex::engine {

class SafetensorsWriter {
 public:
  // Adds a tensor; `data` holds numel(shape) * TensorDTypeSize(dtype)
  // little-endian bytes. INVALID_ARGUMENT for a duplicate name, a size that
  // does not match the shape, or the reserved name "__metadata__".
  absl::Status Add(const std::string& name, TensorDType dtype,
                   std::vector<int64_t> shape, std::string data);
  absl::Status AddFloat32(const std::string& name, std::vector<int64_t> shape,
                          const float* values);
  void SetMetadata(const std::string& key, const std::string& value);

  // The whole file's bytes.
  std::string Serialize() const;
  // Writes to `path` + ".tmp", fsyncs, renames over `path`: a crash leaves
  // the old file or the new one, never half of one.
  absl::Status WriteFile(const std::string& path) const;

 private:
  struct Entry {
    TensorDType dtype;
    std::vector<int64_t> shape;
    std::string data;
  };
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_WRITER_H_
