// Memory-mapped, strictly validated reader for the safetensors format
// (https://huggingface.co/docs/safetensors). Every check runs in Open(),
// before any tensor byte is handed out, so a malformed or hostile file is
// rejected with a clear message instead of crashing a later reader.
#ifndef LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_READER_H_
#define LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_READER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace loraplex::engine {

// The element types Loraplex accepts; any other safetensors dtype ("I64",
// "F64", "F8_E4M3", ...) is refused by name when the file is opened.
enum class TensorDType { kF32, kF16, kBF16 };

// Bytes per element (4 or 2).
size_t TensorDTypeSize(TensorDType dtype);
// The safetensors spelling: "F32", "F16", "BF16".
const char* TensorDTypeName(TensorDType dtype);

struct TensorInfo {
  std::string name;
  TensorDType dtype = TensorDType::kF32;
  std::vector<int64_t> shape;  // Empty for a scalar.
  uint64_t data_offset = 0;    // Offset of the first byte from the file start.
  uint64_t nbytes = 0;         // == numel() * TensorDTypeSize(dtype).

  int64_t numel() const;
};

struct SafetensorsLimits {
  // Upper bound on the JSON header; larger headers are rejected before any
  // allocation is made for them. The default is the format's own limit.
  uint64_t max_header_bytes = 100ull * 1000 * 1000;
  // Upper bound on the tensors one file lists, checked while the header is
  // parsed. Llama-family checkpoints hold about 10 tensors per layer (a
  // 126-layer model: 1,137 in all, fewer per shard); an adapter at most
  // layers x 7 x 2 (LoraAdapterFiles sets that bound).
  uint64_t max_tensors = 65536;
  // model.safetensors.index.json is refused over this size (Llama 3.1
  // 405B's is about 100 KB) or nested deeper than 64 levels.
  uint64_t max_index_bytes = 16 << 20;
};

// One validated safetensors file. Immutable after Open(); tensor bytes stay
// valid for the object's lifetime. Safe to read from several threads.
// The file is memory-mapped: it must not be truncated or rewritten in place
// while open (replace it by rename, as SafetensorsWriter does).
class SafetensorsFile {
 public:
  // Maps `path` and validates: file at least 8 bytes; header length bounded
  // by `limits` and inside the file; header is a JSON object; each entry has
  // a known dtype, an integer shape and data_offsets [begin, end] inside the
  // data area with end - begin == numel * dtype size; entries do not overlap
  // and cover the data area without holes; no duplicate names; at most
  // limits.max_tensors entries. The optional "__metadata__" entry must map
  // strings to strings. The header is validated as it is parsed, without a
  // JSON DOM, in O(n log n) time (Note [Streaming header validation]).
  // Errors start with `path`: NOT_FOUND for a missing file, the errno's code
  // for other open/mmap failures, INVALID_ARGUMENT for bad content.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path, const SafetensorsLimits& limits = {});

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // All tensors, in ascending data_offset order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorInfo* Find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }
  // The raw little-endian bytes of `tensor`, which must come from this file
  // (an empty span if it lies outside the mapping). Not necessarily aligned
  // to the element size: read with memcpy or ConvertToFloat32.
  absl::Span<const uint8_t> Data(const TensorInfo& tensor) const;

 private:
  SafetensorsFile() = default;

  std::string path_;
  const uint8_t* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> tensors_ idx
  std::map<std::string, std::string> metadata_;
};

// A model's weights: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` ("weight_map": tensor name -> shard file).
// Every shard is opened (and so validated) up front; a tensor the index names
// but its shard lacks, a shard path that leaves the directory, and a tensor
// present in two shards are errors, and so is a shard tensor the index does
// not list. model.safetensors wins when both exist; NOT_FOUND, naming both
// files, when neither does.
class SafetensorsCheckpoint {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> Open(
      const std::string& model_dir, const SafetensorsLimits& limits = {});

  // nullptr when absent. The pointer stays valid for the checkpoint's life.
  const TensorInfo* Find(std::string_view name) const;
  // The bytes of a tensor Find() returned (see SafetensorsFile::Data).
  absl::Span<const uint8_t> Data(const TensorInfo& tensor) const;
  // Every tensor name, sorted.
  std::vector<std::string> TensorNames() const;

 private:
  SafetensorsCheckpoint() = default;

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  // name -> (file index, TensorInfo*)
  std::map<std::string, std::pair<size_t, const TensorInfo*>, std::less<>>
      index_;
};

// Converts `count` little-endian elements of `dtype` at `data` to float.
void ConvertToFloat32(const uint8_t* data, TensorDType dtype, size_t count,
                      float* out);

// True when every element of the tensor is finite (no NaN, no +-Inf).
bool AllFinite(absl::Span<const uint8_t> data, TensorDType dtype);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_READER_H_
