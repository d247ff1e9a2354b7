#include "engine/common/bounded_json.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/read_text_file.h"
#include "engine/common/status_macros.h"

namespace loraplex::engine {
namespace {

// A key for an error message: at most 64 bytes of it.
std::string ShownKey(const std::string& key) {
  return key.size() <= 64 ? key : absl::StrCat(key.substr(0, 61), "...");
}

// nlohmann's SAX interface, building the DOM as nlohmann's own
// json_sax_dom_parser does, plus the depth bound and the duplicate-key
// check of Note [Bounded JSON]. Any handler returning false stops the parse.
template <typename BasicJson>
class BoundedDomBuilder {
 public:
  using number_integer_t = typename BasicJson::number_integer_t;
  using number_unsigned_t = typename BasicJson::number_unsigned_t;
  using number_float_t = typename BasicJson::number_float_t;
  using string_t = typename BasicJson::string_t;
  using binary_t = typename BasicJson::binary_t;
  using object_t = typename BasicJson::object_t;
  using array_t = typename BasicJson::array_t;

  BoundedDomBuilder(BasicJson& root, int max_depth)
      : root_(root), max_depth_(max_depth) {}

  bool null() { return Add(nullptr) != nullptr; }
  bool boolean(bool value) { return Add(value) != nullptr; }
  bool number_integer(number_integer_t value) { return Add(value) != nullptr; }
  bool number_unsigned(number_unsigned_t value) {
    return Add(value) != nullptr;
  }
  bool number_float(number_float_t value, const string_t& /*text*/) {
    return Add(value) != nullptr;
  }
  bool string(string_t& value) { return Add(std::move(value)) != nullptr; }
  bool binary(binary_t& value) { return Add(std::move(value)) != nullptr; }

  bool start_object(std::size_t /*size*/) {
    return Open(BasicJson::value_t::object);
  }
  bool start_array(std::size_t /*size*/) {
    return Open(BasicJson::value_t::array);
  }
  bool end_object() {
    open_.pop_back();
    return true;
  }
  bool end_array() {
    open_.pop_back();
    return true;
  }

  bool key(string_t& key) {
    Container& object = open_.back();
    if constexpr (kOrdered) {
      // ordered_map's own insert searches linearly; a hash set per open
      // object finds repeats and the vector takes the member in O(1).
      if (!object.keys->insert(key).second) return Repeated(key);
      auto& members = static_cast<typename object_t::Container&>(
          object.value->template get_ref<object_t&>());
      members.emplace_back(std::move(key), BasicJson());
      pending_member_ = &members.back().second;
    } else {
      auto [it, inserted] =
          object.value->template get_ref<object_t&>().try_emplace(
              std::move(key));
      if (!inserted) return Repeated(key);  // try_emplace left `key` intact.
      pending_member_ = &it->second;
    }
    return true;
  }

  template <class Exception>
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const Exception& /*error*/) {
    syntax_error_at_ = position;
    return false;
  }

  // Set when a handler stopped the parse (depth, repeated key).
  const std::optional<std::string>& refusal() const { return refusal_; }
  // Set when nlohmann reported malformed text.
  const std::optional<std::size_t>& syntax_error_at() const {
    return syntax_error_at_;
  }

 private:
  static constexpr bool kOrdered =
      std::is_same_v<BasicJson, nlohmann::ordered_json>;

  struct Container {
    BasicJson* value;
    // Keys seen so far; only for ordered_json objects (std::map reports
    // repeats itself).
    std::unique_ptr<std::unordered_set<std::string>> keys;
  };

  // Places `value` where the parse is (root, array end or pending member)
  // and returns it.
  template <typename Value>
  BasicJson* Add(Value&& value) {
    if (open_.empty()) {
      root_ = BasicJson(std::forward<Value>(value));
      return &root_;
    }
    BasicJson* parent = open_.back().value;
    if (parent->is_array()) {
      auto& array = parent->template get_ref<array_t&>();
      array.emplace_back(std::forward<Value>(value));
      return &array.back();
    }
    *pending_member_ = BasicJson(std::forward<Value>(value));
    return pending_member_;
  }

  bool Open(typename BasicJson::value_t type) {
    if (open_.size() >= static_cast<std::size_t>(max_depth_)) {
      refusal_ =
          absl::StrCat("nests arrays and objects deeper than the limit of ",
                       max_depth_, " levels");
      return false;
    }
    Container container{Add(type), nullptr};
    if (kOrdered && type == BasicJson::value_t::object) {
      container.keys = std::make_unique<std::unordered_set<std::string>>();
    }
    open_.push_back(std::move(container));
    return true;
  }

  bool Repeated(const std::string& key) {
    refusal_ = absl::StrCat("repeats the key '", ShownKey(key), "'");
    return false;
  }

  BasicJson& root_;
  const int max_depth_;
  std::vector<Container> open_;  // Innermost last.
  BasicJson* pending_member_ = nullptr;
  std::optional<std::string> refusal_;
  std::optional<std::size_t> syntax_error_at_;
};

}  // namespace

template <typename BasicJson>
absl::StatusOr<BasicJson> ParseBoundedJson(std::string_view text,
                                           absl::string_view label,
                                           const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", text.size(),
                                                   " bytes, over the limit of ",
                                                   limits.max_bytes, " bytes"));
  }
  BasicJson root;
  BoundedDomBuilder<BasicJson> builder(root, limits.max_depth);
  const bool parsed = BasicJson::sax_parse(text.begin(), text.end(), &builder,
                                           nlohmann::json::input_format_t::json,
                                           /*strict=*/true);
  if (builder.refusal().has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": ", *builder.refusal()));
  }
  if (!parsed || builder.syntax_error_at().has_value()) {
    // nlohmann counts the offending character (or the end) as read: its
    // 0-based offset is one less.
    const std::size_t read = builder.syntax_error_at().value_or(0);
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": not valid JSON (syntax error at byte ",
                     std::min(read > 0 ? read - 1 : 0, text.size()), ")"));
  }
  return root;
}

template <typename BasicJson>
absl::StatusOr<BasicJson> ReadBoundedJsonFile(const std::string& path,
                                              absl::string_view label,
                                              const JsonLimits& limits) {
  ASSIGN_OR_RETURN(const std::string text,
                   ReadTextFile(path, limits.max_bytes));
  return ParseBoundedJson<BasicJson>(text, label, limits);
}

template absl::StatusOr<nlohmann::json> ParseBoundedJson(std::string_view,
                                                         absl::string_view,
                                                         const JsonLimits&);
template absl::StatusOr<nlohmann::ordered_json> ParseBoundedJson(
    std::string_view, absl::string_view, const JsonLimits&);
template absl::StatusOr<nlohmann::json> ReadBoundedJsonFile(const std::string&,
                                                            absl::string_view,
                                                            const JsonLimits&);
template absl::StatusOr<nlohmann::ordered_json> ReadBoundedJsonFile(
    const std::string&, absl::string_view, const JsonLimits&);

}  // namespace loraplex::engine
