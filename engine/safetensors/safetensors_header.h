// The JSON header of a safetensors file, validated against the size of the
// data area it describes. Internal to engine/safetensors.
#ifndef LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_HEADER_H_
#define LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_HEADER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/safetensors/safetensors_reader.h"

namespace loraplex::engine {

struct SafetensorsHeader {
  // Sorted by (data_offset, nbytes, name): entries tile the data area.
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// Note [Streaming header validation]: the header is read with nlohmann's
// SAX parser straight into per-tensor records; no JSON DOM is built. Memory
// is the tensor records (bounded by `max_tensors` and the header's length)
// and time is O(n log n) in the number of tensors: the tiling check sorts
// by offsets, duplicate names are found by sorting names. A valid header
// nests 3 levels (header, tensor entry, shape/offsets array); fields of an
// entry other than dtype/shape/data_offsets are ignored (as the reference
// implementation does) but may nest at most kMaxHeaderDepth levels in all.
// A shape has at most kMaxTensorDims dimensions.
inline constexpr int kMaxHeaderDepth = 8;
inline constexpr size_t kMaxTensorDims = 64;

// Validates `header_json` as SafetensorsFile::Open documents. `data_start`
// is the file offset of the data area (8 + header length) and `data_size`
// its length; TensorInfo::data_offset is made relative to the file start.
// More than `max_tensors` entries (not counting __metadata__) is an error
// found while parsing. Errors are INVALID_ARGUMENT and do not name the file
// (the caller does).
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    std::string_view header_json, uint64_t data_start, uint64_t data_size,
    uint64_t max_tensors);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_HEADER_H_
