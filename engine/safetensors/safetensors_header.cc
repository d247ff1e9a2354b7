#include "engine/safetensors/safetensors_header.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/safetensors/safetensors_entry.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

constexpr std::string_view kMetadataKey = "__metadata__";

// The fields of a tensor entry that mean something.
enum class Field { kDtype, kShape, kDataOffsets, kIgnored };

Field ClassifyField(const std::string& key) {
  if (key == "dtype") return Field::kDtype;
  if (key == "shape") return Field::kShape;
  if (key == "data_offsets") return Field::kDataOffsets;
  return Field::kIgnored;
}

// A scalar JSON value as the SAX parser reports it.
struct Scalar {
  RawInteger number;            // kOther unless an integer.
  std::string* text = nullptr;  // Set for a string.
};

// nlohmann SAX handler reading a header as Note [Streaming header
// validation] describes. Levels: 1 = the header object, 2 = a tensor entry
// or __metadata__, 3 = a shape/data_offsets array. Values that are ignored
// (or wrongly typed containers) are skipped, counting only their depth.
// Any handler returning false stops the parse with `refusal_` set.
class HeaderReader {
 public:
  HeaderReader(uint64_t data_start, uint64_t data_size, uint64_t max_tensors)
      : data_start_(data_start),
        data_size_(data_size),
        max_tensors_(max_tensors) {}

  bool null() { return OnScalar(Scalar()); }
  bool boolean(bool /*value*/) { return OnScalar(Scalar()); }
  bool number_integer(int64_t value) {
    // nlohmann reports integers without a minus sign as unsigned.
    Scalar scalar;
    scalar.number.kind = RawInteger::Kind::kNegative;
    scalar.number.negative_value = value;
    return OnScalar(scalar);
  }
  bool number_unsigned(uint64_t value) {
    Scalar scalar;
    scalar.number.kind = RawInteger::Kind::kUnsigned;
    scalar.number.unsigned_value = value;
    return OnScalar(scalar);
  }
  bool number_float(double /*value*/, const std::string& /*text*/) {
    return OnScalar(Scalar());
  }
  bool string(std::string& value) {
    Scalar scalar;
    scalar.text = &value;
    return OnScalar(scalar);
  }
  bool binary(nlohmann::json::binary_t& /*value*/) {
    return OnScalar(Scalar());
  }
  bool start_object(std::size_t /*size*/) { return Open(/*is_object=*/true); }
  bool start_array(std::size_t /*size*/) { return Open(/*is_object=*/false); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& key);

  template <class Exception>
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const Exception& /*error*/) {
    if (!refusal_.has_value()) {
      refusal_ = absl::InvalidArgumentError("header is not valid JSON");
    }
    return false;
  }

  const std::optional<absl::Status>& refusal() const { return refusal_; }
  std::vector<HeaderEntry>& entries() { return entries_; }
  std::map<std::string, std::string>& metadata() { return metadata_; }

 private:
  bool Refuse(absl::Status status) {
    refusal_ = std::move(status);
    return false;
  }
  bool NotAnEntryObject() {
    if (in_metadata_key_) {
      return Refuse(absl::InvalidArgumentError(
          "\"__metadata__\" must map strings to strings"));
    }
    return Refuse(EntryError(entry_.name, "is not a JSON object"));
  }
  bool MetadataValueNotString() {
    return Refuse(absl::InvalidArgumentError(absl::StrCat(
        "\"__metadata__\" value of '", metadata_key_, "' is not a string")));
  }
  bool OnScalar(const Scalar& scalar);
  bool Open(bool is_object);
  bool Close();
  bool AddArrayItem(const RawInteger& item);

  const uint64_t data_start_;
  const uint64_t data_size_;
  const uint64_t max_tensors_;
  int depth_ = 0;                 // Open arrays/objects, skipped ones included.
  int skip_depth_ = 0;            // > 0 inside a value being skipped.
  bool in_metadata_key_ = false;  // The level-1 key is __metadata__.
  bool in_metadata_ = false;      // Inside the __metadata__ object.
  bool seen_metadata_ = false;
  uint64_t tensor_count_ = 0;
  std::string metadata_key_;
  Field field_ = Field::kIgnored;  // The level-2 key of the entry.
  RawEntry entry_;                 // The entry being read.
  std::vector<HeaderEntry> entries_;
  std::map<std::string, std::string> metadata_;
  std::optional<absl::Status> refusal_;
};

bool HeaderReader::key(std::string& key) {
  if (skip_depth_ > 0) return true;
  if (depth_ == 1) {
    in_metadata_key_ = key == kMetadataKey;
    if (in_metadata_key_) {
      if (seen_metadata_) {
        return Refuse(absl::InvalidArgumentError(
            "header repeats the key '__metadata__'"));
      }
      seen_metadata_ = true;
      return true;
    }
    if (++tensor_count_ > max_tensors_) {
      return Refuse(absl::InvalidArgumentError(
          absl::StrCat("header lists more than ", max_tensors_,
                       " tensors, the limit for this file")));
    }
    entry_ = RawEntry();
    entry_.name = std::move(key);
    return true;
  }
  // depth_ == 2: a member of __metadata__ or of a tensor entry.
  if (in_metadata_) {
    if (metadata_.count(key) != 0) {
      return Refuse(absl::InvalidArgumentError(
          absl::StrCat("header repeats the key '", key, "'")));
    }
    metadata_key_ = std::move(key);
    return true;
  }
  if (entry_.fields.count(key) != 0) {
    return Refuse(absl::InvalidArgumentError(
        absl::StrCat("header repeats the key '", key, "'")));
  }
  field_ = ClassifyField(key);
  entry_.fields.insert(std::move(key));
  return true;
}

bool HeaderReader::OnScalar(const Scalar& scalar) {
  if (skip_depth_ > 0) return true;
  switch (depth_) {
    case 0:
      return Refuse(absl::InvalidArgumentError("header is not a JSON object"));
    case 1:
      return NotAnEntryObject();
    case 2:
      if (in_metadata_) {
        if (scalar.text == nullptr) return MetadataValueNotString();
        metadata_.emplace(std::move(metadata_key_), std::move(*scalar.text));
        return true;
      }
      // A scalar "shape" or "data_offsets" leaves its *_is_array false.
      if (field_ == Field::kDtype && scalar.text != nullptr) {
        entry_.dtype = std::move(*scalar.text);
      }
      return true;
    default:  // 3: an element of shape or data_offsets.
      return AddArrayItem(scalar.number);
  }
}

bool HeaderReader::AddArrayItem(const RawInteger& item) {
  if (field_ == Field::kShape) {
    if (entry_.shape.size() >= kMaxTensorDims) {
      return Refuse(EntryError(
          entry_.name,
          absl::StrCat("has more than ", kMaxTensorDims, " dimensions")));
    }
    entry_.shape.push_back(item);
  } else if (entry_.offsets.size() < 3) {
    entry_.offsets.push_back(item);
  }
  return true;
}

bool HeaderReader::Open(bool is_object) {
  if (depth_ + 1 > kMaxHeaderDepth) {
    return Refuse(absl::InvalidArgumentError(absl::StrCat(
        "header nests deeper than the limit of ", kMaxHeaderDepth, " levels")));
  }
  const int level = depth_;
  ++depth_;
  if (skip_depth_ > 0) {
    ++skip_depth_;
    return true;
  }
  switch (level) {
    case 0:
      if (is_object) return true;
      return Refuse(absl::InvalidArgumentError("header is not a JSON object"));
    case 1:
      if (!is_object) return NotAnEntryObject();
      in_metadata_ = in_metadata_key_;
      return true;
    case 2:
      if (in_metadata_) return MetadataValueNotString();
      if (!is_object && field_ == Field::kShape) {
        entry_.shape_is_array = true;
        return true;
      }
      if (!is_object && field_ == Field::kDataOffsets) {
        entry_.offsets_is_array = true;
        return true;
      }
      skip_depth_ = 1;  // dtype or shape of the wrong type, or ignored.
      return true;
    default:  // 3: a container inside shape or data_offsets.
      skip_depth_ = 1;
      return AddArrayItem(RawInteger());
  }
}

bool HeaderReader::Close() {
  --depth_;
  if (skip_depth_ > 0) {
    --skip_depth_;
    return true;
  }
  if (depth_ != 1) return true;  // The header, or a shape/offsets array.
  if (in_metadata_) {
    in_metadata_ = false;
    return true;
  }
  absl::StatusOr<HeaderEntry> entry =
      CheckEntry(entry_, data_start_, data_size_);
  if (!entry.ok()) return Refuse(entry.status());
  entries_.push_back(*std::move(entry));
  return true;
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    std::string_view header_json, uint64_t data_start, uint64_t data_size,
    uint64_t max_tensors) {
  HeaderReader reader(data_start, data_size, max_tensors);
  const bool parsed = nlohmann::json::sax_parse(
      header_json.begin(), header_json.end(), &reader,
      nlohmann::json::input_format_t::json, /*strict=*/true);
  if (reader.refusal().has_value()) {
    return *reader.refusal();
  }
  if (!parsed) {
    return absl::InvalidArgumentError("header is not valid JSON");
  }
  std::vector<HeaderEntry>& entries = reader.entries();
  RETURN_IF_ERROR(SortAndCheckTiling(entries, data_size));
  SafetensorsHeader result;
  result.metadata = std::move(reader.metadata());
  result.tensors.reserve(entries.size());
  for (HeaderEntry& entry : entries) {
    result.tensors.push_back(std::move(entry.info));
  }
  return result;
}

}  // namespace loraplex::engine
