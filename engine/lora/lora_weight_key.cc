#include "engine/lora/lora_weight_key.h"

#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace loraplex::engine {
namespace {

constexpr char kPrefix[] = "base_model.model.model.layers.";
constexpr char kExpectedForm[] =
    "base_model.model.model.layers.<N>.<self_attn|mlp>.<x>_proj.lora_<A|B>."
    "weight";

absl::Status KeyError(const std::string& key, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("tensor '", key, "' ", why));
}

// Decimal without sign or leading zeros, so one layer has one spelling.
bool ParseLayerIndex(absl::string_view text, int64_t* layer) {
  if (text.empty() || text.size() > 9 || (text.size() > 1 && text[0] == '0')) {
    return false;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return absl::SimpleAtoi(text, layer);
}

}  // namespace

absl::StatusOr<LoraWeightKey> ParseLoraWeightKey(const std::string& key) {
  const absl::string_view view(key);
  if (!absl::StartsWith(view, kPrefix)) {
    return KeyError(key, absl::StrCat("is not a LoRA weight Loraplex can apply "
                                      "(expected ",
                                      kExpectedForm, ")"));
  }
  const std::vector<absl::string_view> parts =
      absl::StrSplit(view.substr(sizeof(kPrefix) - 1), '.');
  // <N> <parent> <x_proj> lora_A|lora_B [adapter name] weight
  if (parts.size() == 6 && (parts[3] == "lora_A" || parts[3] == "lora_B") &&
      parts[5] == "weight") {
    return KeyError(
        key, absl::StrCat(
                 "keeps the adapter name '", parts[4],
                 "'; only the form PEFT saves is accepted: ", kExpectedForm));
  }
  if (parts.size() != 5 || (parts[3] != "lora_A" && parts[3] != "lora_B") ||
      parts[4] != "weight") {
    return KeyError(key, absl::StrCat("is not a LoRA weight Loraplex can apply "
                                      "(expected ",
                                      kExpectedForm, ")"));
  }
  LoraWeightKey parsed;
  if (!ParseLayerIndex(parts[0], &parsed.layer)) {
    return KeyError(key, absl::StrCat("has layer index '", parts[0],
                                      "', not a decimal layer number"));
  }
  const std::optional<LinearKind> kind =
      LinearKindFromName(std::string_view(parts[2].data(), parts[2].size()));
  if (!kind.has_value() || parts[1] != LinearKindParent(*kind)) {
    return KeyError(key,
                    absl::StrCat("adapts module '", parts[1], ".", parts[2],
                                 "'; LoRA targets are self_attn.{q,k,v,o}_proj "
                                 "and mlp.{gate,up,down}_proj"));
  }
  parsed.kind = *kind;
  parsed.is_a = parts[3] == "lora_A";
  return parsed;
}

std::string LoraWeightKeyName(int64_t layer, LinearKind kind, bool is_a) {
  return absl::StrCat(kPrefix, layer, ".", LinearKindParent(kind), ".",
                      LinearKindName(kind), is_a ? ".lora_A" : ".lora_B",
                      ".weight");
}

}  // namespace loraplex::engine
