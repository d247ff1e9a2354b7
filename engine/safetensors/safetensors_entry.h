// One tensor entry of a safetensors header as the streaming reader collects
// it (Note [Streaming header validation]), and the checks that turn the
// entries into TensorInfos. Internal to engine/safetensors.
#ifndef LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_ENTRY_H_
#define LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_ENTRY_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/safetensors/safetensors_reader.h"

namespace loraplex::engine {

// One element of a "shape" or "data_offsets" array, as read.
struct RawInteger {
  enum class Kind {
    kUnsigned,  // A JSON integer >= 0.
    kNegative,  // A JSON integer with a minus sign ("-0" included).
    kOther,     // Anything else: fraction, string, array, ...
  };
  Kind kind = Kind::kOther;
  uint64_t unsigned_value = 0;
  int64_t negative_value = 0;
};

// A tensor entry's fields as read, in any order; checked by CheckEntry once
// its object closes.
struct RawEntry {
  std::string name;
  std::set<std::string> fields;      // Every key seen, to refuse repeats.
  std::optional<std::string> dtype;  // Set when "dtype" is a string.
  bool shape_is_array = false;
  std::vector<RawInteger> shape;
  bool offsets_is_array = false;
  std::vector<RawInteger> offsets;  // At most 3 kept (2 are valid).
};

// A checked entry; begin/end are relative to the data area.
struct HeaderEntry {
  TensorInfo info;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// INVALID_ARGUMENT "tensor '<name>' <problem>".
absl::Status EntryError(absl::string_view name, absl::string_view problem);

// Checks dtype, shape (no negative or overflowing dimension) and
// data_offsets (inside a data area of `data_size` bytes, matching
// numel * dtype size); data_offset is made relative to the file start.
absl::StatusOr<HeaderEntry> CheckEntry(const RawEntry& raw, uint64_t data_start,
                                       uint64_t data_size);

// Sorts `entries` by (begin, end, name) and checks that they cover the data
// area exactly: no overlap, no hole, nothing left over. Also refuses two
// entries with one name. O(n log n).
absl::Status SortAndCheckTiling(std::vector<HeaderEntry>& entries,
                                uint64_t data_size);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAFETENSORS_SAFETENSORS_ENTRY_H_
