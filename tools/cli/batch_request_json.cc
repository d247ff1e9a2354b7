#include "tools/cli/batch_request_json.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace loraplex::cli {
namespace {

using nlohmann::json;

absl::Status FieldError(const std::string& field, const std::string& want) {
  return absl::InvalidArgumentError(
      absl::StrCat("field '", field, "' must be ", want));
}

absl::StatusOr<std::vector<int32_t>> IntList(const json& v,
                                             const std::string& field) {
  if (!v.is_array()) return FieldError(field, "an array of integers");
  std::vector<int32_t> out;
  for (const json& e : v) {
    if (!e.is_number_integer()) return FieldError(field, "an array of integers");
    const int64_t x = e.get<int64_t>();
    if (x < INT32_MIN || x > INT32_MAX) return FieldError(field, "32-bit integers");
    out.push_back(static_cast<int32_t>(x));
  }
  return out;
}

}  // namespace

absl::StatusOr<BatchLine> ParseBatchLine(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("line is not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("line is not a JSON object");
  static const std::set<std::string> kKnown = {
      "id", "adapter", "prompt_ids", "prompt", "max_new_tokens", "temperature",
      "top_p", "top_k", "seed", "ignore_eos", "stop_token_ids", "stop",
      "return_last_logits"};
  for (const auto& [key, value] : j.items()) {
    if (!kKnown.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown field '", key, "'"));
    }
  }
  BatchLine out;
  engine::GenerationRequest& r = out.request;
  if (j.contains("id")) {
    const json& id = j["id"];
    if (id.is_string()) {
      out.id = id.get<std::string>();
    } else if (id.is_number_integer()) {
      out.id = std::to_string(id.get<int64_t>());
    } else {
      return FieldError("id", "a string or an integer");
    }
  }
  if (j.contains("adapter") && !j["adapter"].is_null()) {
    if (!j["adapter"].is_string()) return FieldError("adapter", "a string or null");
    r.adapter_id = j["adapter"].get<std::string>();
  }
  const bool has_ids = j.contains("prompt_ids");
  const bool has_text = j.contains("prompt");
  if (has_ids == has_text) {
    return absl::InvalidArgumentError(
        "give exactly one of 'prompt_ids' and 'prompt'");
  }
  if (has_ids) {
    auto ids = IntList(j["prompt_ids"], "prompt_ids");
    if (!ids.ok()) return ids.status();
    r.prompt_ids = *std::move(ids);
  } else {
    if (!j["prompt"].is_string()) return FieldError("prompt", "a string");
    r.prompt_text = j["prompt"].get<std::string>();
  }
  auto get_int = [&](const char* key, auto* dst) -> absl::Status {
    if (!j.contains(key)) return absl::OkStatus();
    if (!j[key].is_number_integer()) return FieldError(key, "an integer");
    *dst = j[key].get<std::remove_pointer_t<decltype(dst)>>();
    return absl::OkStatus();
  };
  auto get_float = [&](const char* key, float* dst) -> absl::Status {
    if (!j.contains(key)) return absl::OkStatus();
    if (!j[key].is_number()) return FieldError(key, "a number");
    *dst = j[key].get<float>();
    return absl::OkStatus();
  };
  auto get_bool = [&](const char* key, bool* dst) -> absl::Status {
    if (!j.contains(key)) return absl::OkStatus();
    if (!j[key].is_boolean()) return FieldError(key, "true or false");
    *dst = j[key].get<bool>();
    return absl::OkStatus();
  };
  for (absl::Status s :
       {get_int("max_new_tokens", &r.stopping.max_new_tokens),
        get_int("top_k", &r.sampling.top_k), get_float("temperature", &r.sampling.temperature),
        get_float("top_p", &r.sampling.top_p), get_bool("ignore_eos", &r.stopping.ignore_eos),
        get_bool("return_last_logits", &r.return_last_logits)}) {
    if (!s.ok()) return s;
  }
  if (j.contains("seed")) {
    // nlohmann parses every non-negative integer as unsigned.
    if (!j["seed"].is_number_unsigned()) {
      return FieldError("seed", "a non-negative integer");
    }
    r.sampling.seed = j["seed"].get<uint64_t>();
  }
  if (j.contains("stop_token_ids")) {
    auto ids = IntList(j["stop_token_ids"], "stop_token_ids");
    if (!ids.ok()) return ids.status();
    r.stopping.stop_token_ids = *std::move(ids);
  }
  if (j.contains("stop")) {
    const json& stop = j["stop"];
    if (stop.is_string()) {
      r.stopping.stop_strings.push_back(stop.get<std::string>());
    } else if (stop.is_array()) {
      for (const json& s : stop) {
        if (!s.is_string()) return FieldError("stop", "a string or an array of strings");
        r.stopping.stop_strings.push_back(s.get<std::string>());
      }
    } else {
      return FieldError("stop", "a string or an array of strings");
    }
  }
  return out;
}

std::string FormatBatchResult(const BatchResult& result) {
  json j;
  j["id"] = result.id;
  if (!result.error.ok()) {
    j["error"] = std::string(result.error.message());
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  j["token_ids"] = result.token_ids;
  j["text"] = result.text;
  j["finish_reason"] = engine::FinishReasonName(result.finish_reason);
  if (!result.last_logits.empty()) j["last_logits"] = result.last_logits;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace loraplex::cli
