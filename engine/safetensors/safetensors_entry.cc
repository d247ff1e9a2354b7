#include "engine/safetensors/safetensors_entry.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"

namespace loraplex::engine {
namespace {

absl::StatusOr<TensorDType> ParseDType(const RawEntry& raw) {
  if (!raw.dtype.has_value()) {
    return EntryError(raw.name, "has no string field \"dtype\"");
  }
  const std::string& text = *raw.dtype;
  if (text == "F32") {
    return TensorDType::kF32;
  }
  if (text == "F16") {
    return TensorDType::kF16;
  }
  if (text == "BF16") {
    return TensorDType::kBF16;
  }
  return EntryError(raw.name, absl::StrCat("has dtype ", text,
                                           "; supported: F32, F16, BF16"));
}

// Reads the shape and returns numel, refusing negative or non-integer
// dimensions and element counts that overflow.
absl::StatusOr<uint64_t> ParseShape(const RawEntry& raw,
                                    std::vector<int64_t>& dims) {
  if (!raw.shape_is_array) {
    return EntryError(raw.name, "has no array field \"shape\"");
  }
  uint64_t numel = 1;
  for (const RawInteger& dim : raw.shape) {
    if (dim.kind == RawInteger::Kind::kNegative) {
      return EntryError(raw.name, absl::StrCat("has a negative dimension (",
                                               dim.negative_value, ")"));
    }
    if (dim.kind != RawInteger::Kind::kUnsigned) {
      return EntryError(raw.name, "has a shape entry that is not an integer");
    }
    const uint64_t d = dim.unsigned_value;
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(numel, d, &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return EntryError(raw.name, "has a shape whose element count overflows");
    }
    dims.push_back(static_cast<int64_t>(d));
  }
  return numel;
}

absl::Status ParseOffsets(const RawEntry& raw, uint64_t data_size,
                          HeaderEntry& entry) {
  const auto is_unsigned = [](const RawInteger& v) {
    return v.kind == RawInteger::Kind::kUnsigned;
  };
  if (!raw.offsets_is_array || raw.offsets.size() != 2 ||
      !is_unsigned(raw.offsets[0]) || !is_unsigned(raw.offsets[1])) {
    return EntryError(raw.name,
                      "needs \"data_offsets\": [begin, end] with two "
                      "non-negative integers");
  }
  entry.begin = raw.offsets[0].unsigned_value;
  entry.end = raw.offsets[1].unsigned_value;
  if (entry.begin > entry.end) {
    return EntryError(raw.name,
                      absl::StrCat("has data_offsets [", entry.begin, ", ",
                                   entry.end, "] with begin > end"));
  }
  if (entry.end > data_size) {
    return EntryError(
        raw.name, absl::StrCat("has data_offsets [", entry.begin, ", ",
                               entry.end, "] past the end of the data area (",
                               data_size, " bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EntryError(absl::string_view name, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("tensor '", name, "' ", problem));
}

absl::StatusOr<HeaderEntry> CheckEntry(const RawEntry& raw, uint64_t data_start,
                                       uint64_t data_size) {
  HeaderEntry entry;
  entry.info.name = raw.name;
  ASSIGN_OR_RETURN(entry.info.dtype, ParseDType(raw));
  ASSIGN_OR_RETURN(const uint64_t numel, ParseShape(raw, entry.info.shape));
  RETURN_IF_ERROR(ParseOffsets(raw, data_size, entry));
  const size_t element_bytes = TensorDTypeSize(entry.info.dtype);
  uint64_t expected_bytes = 0;
  if (__builtin_mul_overflow(numel, element_bytes, &expected_bytes) ||
      entry.end - entry.begin != expected_bytes) {
    return EntryError(
        raw.name, absl::StrCat("has ", entry.end - entry.begin,
                               " bytes but its shape and dtype need ", numel,
                               " x ", element_bytes, " bytes"));
  }
  entry.info.data_offset = data_start + entry.begin;
  entry.info.nbytes = expected_bytes;
  return entry;
}

absl::Status SortAndCheckTiling(std::vector<HeaderEntry>& entries,
                                uint64_t data_size) {
  // Repeated names first: sorting pointers by name finds them in
  // O(n log n) (a JSON DOM would have kept one of the two silently).
  std::vector<const std::string*> names;
  names.reserve(entries.size());
  for (const HeaderEntry& entry : entries) {
    names.push_back(&entry.info.name);
  }
  std::sort(names.begin(), names.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  const auto repeated = std::adjacent_find(
      names.begin(), names.end(),
      [](const std::string* a, const std::string* b) { return *a == *b; });
  if (repeated != names.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("header repeats the key '", **repeated, "'"));
  }
  std::sort(entries.begin(), entries.end(),
            [](const HeaderEntry& a, const HeaderEntry& b) {
              return std::tie(a.begin, a.end, a.info.name) <
                     std::tie(b.begin, b.end, b.info.name);
            });
  // The reference implementation requires the entries, ordered by offsets,
  // to cover the data area exactly.
  uint64_t covered = 0;
  const HeaderEntry* previous = nullptr;
  for (const HeaderEntry& entry : entries) {
    if (entry.begin < covered) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensors '", previous->info.name, "' and '",
                       entry.info.name, "' overlap in the data area"));
    }
    if (entry.begin > covered) {
      return absl::InvalidArgumentError(
          absl::StrCat("bytes [", covered, ", ", entry.begin,
                       ") of the data area belong to no tensor (hole before '",
                       entry.info.name, "')"));
    }
    covered = entry.end;
    previous = &entry;
  }
  if (covered != data_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("bytes [", covered, ", ", data_size,
                     ") at the end of the data area belong to no tensor"));
  }
  return absl::OkStatus();
}

}  // namespace loraplex::engine
