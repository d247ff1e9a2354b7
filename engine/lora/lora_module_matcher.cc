#include "engine/lora/lora_module_matcher.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"

namespace loraplex::engine {
namespace {

absl::StatusOr<std::unique_ptr<RE2>> Compile(const std::string& pattern,
                                             const std::string& field,
                                             const std::string& shown) {
  RE2::Options options;
  options.set_log_errors(false);
  auto regex = std::make_unique<RE2>(pattern, options);
  if (!regex->ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " pattern '", shown,
        "' is not a regex Loraplex (RE2) accepts: ", regex->error()));
  }
  return regex;
}

// PEFT's get_pattern_key: re.match(rf"(.*\.)?({key})$", name).
std::string PatternKeyRegex(const std::string& key) {
  return absl::StrCat("(.*\\.)?(", key, ")");
}

bool ListMatches(const std::vector<std::string>& entries,
                 const std::string& name, bool* exact) {
  for (const std::string& entry : entries) {
    if (name == entry) {
      *exact = true;
      return true;
    }
  }
  *exact = false;
  return std::any_of(entries.begin(), entries.end(), [&](const std::string& e) {
    return absl::EndsWith(name, absl::StrCat(".", e));
  });
}

}  // namespace

std::string LoraModuleName(int64_t layer, LinearKind kind) {
  return absl::StrCat("model.layers.", layer, ".", LinearKindParent(kind), ".",
                      LinearKindName(kind));
}

absl::StatusOr<LoraModuleMatcher> LoraModuleMatcher::Create(
    const LoraAdapterConfig& config) {
  LoraModuleMatcher matcher(config);
  if (config.target_modules_regex.has_value()) {
    ASSIGN_OR_RETURN(matcher.target_regex_,
                     Compile(*config.target_modules_regex, "target_modules",
                             *config.target_modules_regex));
  }
  if (config.exclude_modules_regex.has_value()) {
    ASSIGN_OR_RETURN(matcher.exclude_regex_,
                     Compile(*config.exclude_modules_regex, "exclude_modules",
                             *config.exclude_modules_regex));
  }
  for (const auto& [key, rank] : config.rank_pattern) {
    ASSIGN_OR_RETURN(auto regex,
                     Compile(PatternKeyRegex(key), "rank_pattern", key));
    matcher.rank_patterns_.emplace_back(std::move(regex), rank);
  }
  for (const auto& [key, alpha] : config.alpha_pattern) {
    ASSIGN_OR_RETURN(auto regex,
                     Compile(PatternKeyRegex(key), "alpha_pattern", key));
    matcher.alpha_patterns_.emplace_back(std::move(regex), alpha);
  }
  return matcher;
}

bool LoraModuleMatcher::Excluded(const std::string& name) const {
  if (exclude_regex_ != nullptr) {
    return RE2::FullMatch(name, *exclude_regex_);
  }
  bool exact = false;
  return ListMatches(config_->exclude_modules_list, name, &exact);
}

bool LoraModuleMatcher::Targets(const std::string& name) const {
  if (Excluded(name)) {
    return false;
  }
  if (target_regex_ != nullptr) {
    return RE2::FullMatch(name, *target_regex_);
  }
  bool exact = false;
  return ListMatches(config_->target_modules_list, name, &exact);
}

LoraModuleSpec LoraModuleMatcher::Resolve(int64_t layer,
                                          LinearKind kind) const {
  LoraModuleSpec spec;
  const std::string name = LoraModuleName(layer, kind);
  if (Excluded(name)) {
    return spec;
  }
  if (target_regex_ != nullptr) {
    if (!RE2::FullMatch(name, *target_regex_)) {
      return spec;
    }
  } else {
    bool exact = false;
    if (!ListMatches(config_->target_modules_list, name, &exact)) {
      return spec;
    }
    const auto& layers = config_->layers_to_transform;
    if (!exact && layers.has_value() &&
        std::find(layers->begin(), layers->end(), layer) == layers->end()) {
      return spec;
    }
  }
  spec.targeted = true;
  spec.rank = config_->r;
  for (const auto& [regex, rank] : rank_patterns_) {
    if (RE2::FullMatch(name, *regex)) {
      spec.rank = rank;
      break;
    }
  }
  spec.alpha = config_->lora_alpha;
  for (const auto& [regex, alpha] : alpha_patterns_) {
    if (RE2::FullMatch(name, *regex)) {
      spec.alpha = alpha;
      break;
    }
  }
  const double rank = static_cast<double>(spec.rank);
  spec.scale =
      config_->use_rslora ? spec.alpha / std::sqrt(rank) : spec.alpha / rank;
  return spec;
}

}  // namespace loraplex::engine
