#include "engine/tokenizer/normalizer.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/json_fields.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/split_pattern.h"
#include "engine/tokenizer/unicode_text.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

class NfcNormalizer : public Normalizer {
 public:
  std::string Normalize(std::string_view text) const override {
    return unicode::ToNfc(text);
  }
};

class NfdNormalizer : public Normalizer {
 public:
  std::string Normalize(std::string_view text) const override {
    return unicode::ToNfd(text);
  }
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string Normalize(std::string_view text) const override {
    if (text.empty()) return std::string();
    std::string out = prefix_;
    out.append(text);
    return out;
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<SplitPattern> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string Normalize(std::string_view text) const override {
    std::string out;
    for (const PatternSpan& span : pattern_->FindMatches(text)) {
      if (span.is_match) {
        out += content_;
      } else {
        out += text.substr(span.begin, span.end - span.begin);
      }
    }
    return out;
  }

 private:
  std::unique_ptr<SplitPattern> pattern_;
  std::string content_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}
  std::string Normalize(std::string_view text) const override {
    std::string out(text);
    for (const auto& step : steps_) out = step->Normalize(out);
    return out;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

absl::StatusOr<std::unique_ptr<Normalizer>> ParseReplace(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(const nlohmann::json* pattern_json,
                   json_fields::Required(config, "pattern", path));
  ASSIGN_OR_RETURN(
      std::unique_ptr<SplitPattern> pattern,
      ParseSplitPattern(*pattern_json, json_fields::Join(path, "pattern")));
  ASSIGN_OR_RETURN(std::string content,
                   json_fields::RequiredString(config, "content", path));
  return std::make_unique<ReplaceNormalizer>(std::move(pattern),
                                             std::move(content));
}

absl::StatusOr<std::unique_ptr<Normalizer>> ParseSequence(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Normalizer>> steps,
                   json_fields::ParseList<Normalizer>(config, "normalizers",
                                                      path, &ParseNormalizer));
  return std::make_unique<SequenceNormalizer>(std::move(steps));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(std::string type,
                   json_fields::RequiredString(config, "type", path));
  if (type == "NFC") return std::make_unique<NfcNormalizer>();
  if (type == "NFD") return std::make_unique<NfdNormalizer>();
  if (type == "Prepend") {
    ASSIGN_OR_RETURN(std::string prefix,
                     json_fields::RequiredString(config, "prepend", path));
    return std::make_unique<PrependNormalizer>(std::move(prefix));
  }
  if (type == "Replace") return ParseReplace(config, path);
  if (type == "Sequence") return ParseSequence(config, path);
  return absl::InvalidArgumentError(absl::StrCat(
      path, " type \"", type,
      "\" is not supported (supported: NFC, NFD, Prepend, Replace, Sequence)"));
}

}  // namespace loraplex::engine
