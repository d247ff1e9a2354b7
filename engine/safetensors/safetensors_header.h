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

// Validates `header_json` as SafetensorsFile::Open documents. `data_start`
// is the file offset of the data area (8 + header length) and `data_size`
// its length; TensorInfo::data_offset is made relative to the file start.
// Errors are INVALID_ARGUMENT and do not name the file (the caller does).
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    std::string_view header_json, uint64_t data_start, uint64_t data_size);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_HEADER_H_
