#include "engine/safetensors/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/safetensors/strict_json.h"

namespace loraplex::engine {
namespace {

using json = nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";

struct Entry {
  TensorInfo info;
  uint64_t begin = 0;  // Relative to the data area.
  uint64_t end = 0;
};

absl::Status EntryError(absl::string_view name, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("tensor '", name, "' ", problem));
}

const json* FindField(const json& object, std::string_view field) {
  auto it = object.find(field);
  return it == object.end() ? nullptr : &*it;
}

absl::StatusOr<TensorDType> ParseDType(absl::string_view name,
                                       const json* dtype) {
  if (dtype == nullptr || !dtype->is_string()) {
    return EntryError(name, "has no string field \"dtype\"");
  }
  const std::string& text = dtype->get_ref<const std::string&>();
  if (text == "F32") {
    return TensorDType::kF32;
  }
  if (text == "F16") {
    return TensorDType::kF16;
  }
  if (text == "BF16") {
    return TensorDType::kBF16;
  }
  return EntryError(
      name, absl::StrCat("has dtype ", text, "; supported: F32, F16, BF16"));
}

// Reads the shape and returns numel, refusing negative or non-integer
// dimensions and element counts that overflow.
absl::StatusOr<uint64_t> ParseShape(absl::string_view name, const json* shape,
                                    std::vector<int64_t>& dims) {
  if (shape == nullptr || !shape->is_array()) {
    return EntryError(name, "has no array field \"shape\"");
  }
  uint64_t numel = 1;
  for (const json& dim : *shape) {
    if (dim.is_number_integer() && !dim.is_number_unsigned()) {
      return EntryError(name, absl::StrCat("has a negative dimension (",
                                           dim.get<int64_t>(), ")"));
    }
    if (!dim.is_number_unsigned()) {
      return EntryError(name, "has a shape entry that is not an integer");
    }
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(numel, d, &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return EntryError(name, "has a shape whose element count overflows");
    }
    dims.push_back(static_cast<int64_t>(d));
  }
  return numel;
}

absl::Status ParseOffsets(absl::string_view name, const json* offsets,
                          uint64_t data_size, Entry& entry) {
  if (offsets == nullptr || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned()) {
    return EntryError(name,
                      "needs \"data_offsets\": [begin, end] with two "
                      "non-negative integers");
  }
  entry.begin = (*offsets)[0].get<uint64_t>();
  entry.end = (*offsets)[1].get<uint64_t>();
  if (entry.begin > entry.end) {
    return EntryError(
        name, absl::StrCat("has data_offsets [", entry.begin, ", ", entry.end,
                           "] with begin > end"));
  }
  if (entry.end > data_size) {
    return EntryError(
        name, absl::StrCat("has data_offsets [", entry.begin, ", ", entry.end,
                           "] past the end of the data area (", data_size,
                           " bytes)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Entry> ParseEntry(const std::string& name, const json& value,
                                 uint64_t data_start, uint64_t data_size) {
  if (!value.is_object()) {
    return EntryError(name, "is not a JSON object");
  }
  Entry entry;
  entry.info.name = name;
  ASSIGN_OR_RETURN(entry.info.dtype,
                   ParseDType(name, FindField(value, "dtype")));
  ASSIGN_OR_RETURN(
      const uint64_t numel,
      ParseShape(name, FindField(value, "shape"), entry.info.shape));
  RETURN_IF_ERROR(
      ParseOffsets(name, FindField(value, "data_offsets"), data_size, entry));
  uint64_t expected_bytes = 0;
  if (__builtin_mul_overflow(numel, TensorDTypeSize(entry.info.dtype),
                             &expected_bytes) ||
      entry.end - entry.begin != expected_bytes) {
    return EntryError(
        name, absl::StrCat("has ", entry.end - entry.begin,
                           " bytes but its shape and dtype need ", numel, " x ",
                           TensorDTypeSize(entry.info.dtype), " bytes"));
  }
  entry.info.data_offset = data_start + entry.begin;
  entry.info.nbytes = expected_bytes;
  return entry;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(
    const json& value) {
  if (!value.is_object()) {
    return absl::InvalidArgumentError(
        "\"__metadata__\" must map strings to strings");
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"__metadata__\" value of '", key, "' is not a string"));
    }
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

// The reference implementation requires the entries, ordered by offsets,
// to cover the data area exactly: no overlap, no hole, nothing left over.
absl::Status CheckTiling(const std::vector<Entry>& entries,
                         uint64_t data_size) {
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
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

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    std::string_view header_json, uint64_t data_start, uint64_t data_size) {
  ASSIGN_OR_RETURN(const json header,
                   ParseJsonRejectingDuplicateKeys(header_json, "header"));
  if (!header.is_object()) {
    return absl::InvalidArgumentError("header is not a JSON object");
  }
  SafetensorsHeader result;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      ASSIGN_OR_RETURN(result.metadata, ParseMetadata(value));
      continue;
    }
    ASSIGN_OR_RETURN(Entry entry,
                     ParseEntry(name, value, data_start, data_size));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.info.name) <
           std::tie(b.begin, b.end, b.info.name);
  });
  RETURN_IF_ERROR(CheckTiling(entries, data_size));
  result.tensors.reserve(entries.size());
  for (Entry& entry : entries) {
    result.tensors.push_back(std::move(entry.info));
  }
  return result;
}

}  // namespace loraplex::engine
