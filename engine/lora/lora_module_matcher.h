// PEFT's rules for which modules an adapter adapts and with what rank and
// alpha, with the config's regexes compiled once. Internal to engine/lora;
// ResolveLoraModule (lora_adapter.h) is the public face.
#ifndef LORAPLEX_ENGINE_LORA_LORA_MODULE_MATCHER_H_
#define LORAPLEX_ENGINE_LORA_LORA_MODULE_MATCHER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"
#include "re2/re2.h"

namespace loraplex::engine {

// "model.layers.<layer>.<self_attn|mlp>.<kind>", the name PEFT matches.
std::string LoraModuleName(int64_t layer, LinearKind kind);

// Note [PEFT module matching] (peft/tuners/tuners_utils.py,
// check_target_module_exists; peft/utils/other.py, get_pattern_key):
//  - exclude_modules: a regex must fully match the name; a list entry must
//    equal the name or be a dotted suffix of it. Excluded wins.
//  - target_modules as a regex must fully match; layers_to_transform is
//    then ignored.
//  - target_modules as a list: an entry equal to the whole name targets it;
//    an entry that is a dotted suffix targets it if layers_to_transform is
//    unset or holds the layer index. ("all-linear" became the list of the
//    seven kinds at parse time, so the layer filter applies to it; PEFT
//    skips the filter for it on models under 3 layers, where its expanded
//    list keeps whole names.)
//  - rank_pattern / alpha_pattern: the first key (in file order) for which
//    the name fully matches "(.*\.)?(<key>)" gives the value.
class LoraModuleMatcher {
 public:
  // INVALID_ARGUMENT naming the field and pattern if RE2 cannot compile a
  // regex of `config` (Python-only syntax such as look-arounds).
  static absl::StatusOr<LoraModuleMatcher> Create(
      const LoraAdapterConfig& config);

  LoraModuleSpec Resolve(int64_t layer, LinearKind kind) const;
  // Whether target_modules selects the module named `name` (any module of
  // the model, not only the seven linear kinds); exclusions apply.
  bool Targets(const std::string& name) const;

 private:
  explicit LoraModuleMatcher(const LoraAdapterConfig& config)
      : config_(&config) {}

  bool Excluded(const std::string& name) const;

  const LoraAdapterConfig* config_;  // Outlives the matcher.
  std::unique_ptr<RE2> target_regex_;
  std::unique_ptr<RE2> exclude_regex_;
  std::vector<std::pair<std::unique_ptr<RE2>, int64_t>> rank_patterns_;
  std::vector<std::pair<std::unique_ptr<RE2>, double>> alpha_patterns_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_LORA_LORA_MODULE_MATCHER_H_
