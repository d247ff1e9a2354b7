#include "service/http/openai_request.h"

#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/bounded_json.h"
#include "engine/common/status_macros.h"
#include "service/http/openai_error.h"

namespace loraplex::service {
namespace {

using Json = nlohmann::ordered_json;

// Every field of OpenAI's two request bodies (and the extensions below),
// for telling an unknown field from a known one.
const std::set<std::string>& CommonFields() {
  static const auto* fields = new std::set<std::string>{
      "model", "max_tokens", "temperature", "top_p", "stop", "seed", "stream",
      "stream_options", "n", "presence_penalty", "frequency_penalty",
      "logit_bias", "user", "logprobs",
      // Extensions (as vLLM's): sampling and stopping the engine has.
      "top_k", "ignore_eos",
      // Extension: a mix of adapters (ReadAdapters).
      "adapters"};
  return *fields;
}
const std::set<std::string>& CompletionFields() {
  static const auto* fields =
      new std::set<std::string>{"prompt", "best_of", "echo", "suffix"};
  return *fields;
}
const std::set<std::string>& ChatFields() {
  static const auto* fields = new std::set<std::string>{
      "messages", "max_completion_tokens", "top_logprobs", "tools",
      "tool_choice", "parallel_tool_calls", "response_format", "store",
      "metadata", "service_tier", "modalities", "reasoning_effort", "audio",
      "prediction", "web_search_options", "functions", "function_call",
      // Extensions (as vLLM's): the chat template's inputs.
      "chat_template_kwargs", "add_generation_prompt"};
  return *fields;
}
// Chat fields the server refuses whatever their value (null aside).
const std::set<std::string>& RefusedChatFields() {
  static const auto* fields = new std::set<std::string>{
      "reasoning_effort",   "audio",     "prediction",
      "web_search_options", "functions", "function_call"};
  return *fields;
}

// A field's value; nullptr when absent or null (OpenAI treats both alike).
const Json* Find(const Json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<int64_t> ReadInt(const std::string& field, const Json& value,
                                int64_t minimum, int64_t maximum) {
  int64_t number = 0;
  if (value.is_number_unsigned()) {
    const uint64_t unsigned_number = value.get<uint64_t>();
    if (maximum < 0 || unsigned_number > static_cast<uint64_t>(maximum)) {
      return FieldError(field, absl::StrCat(field, " must be in [", minimum,
                                            ", ", maximum, "]"));
    }
    number = static_cast<int64_t>(unsigned_number);
  } else if (value.is_number_integer()) {
    number = value.get<int64_t>();
  } else {
    return FieldError(field, absl::StrCat(field, " must be an integer"));
  }
  if (number < minimum || number > maximum) {
    return FieldError(field, absl::StrCat(field, " must be in [", minimum, ", ",
                                          maximum, "] (got ", number, ")"));
  }
  return number;
}

absl::StatusOr<double> ReadNumber(const std::string& field, const Json& value,
                                  double minimum, double maximum) {
  if (!value.is_number()) {
    return FieldError(field, absl::StrCat(field, " must be a number"));
  }
  const double number = value.get<double>();
  if (!std::isfinite(number) || number < minimum || number > maximum) {
    return FieldError(field, absl::StrCat(field, " must be in [", minimum, ", ",
                                          maximum, "] (got ", number, ")"));
  }
  return number;
}

absl::StatusOr<bool> ReadBool(const std::string& field, const Json& value) {
  if (!value.is_boolean()) {
    return FieldError(field, absl::StrCat(field, " must be true or false"));
  }
  return value.get<bool>();
}

absl::StatusOr<std::string> ReadString(const std::string& field,
                                       const Json& value) {
  if (!value.is_string()) {
    return FieldError(field, absl::StrCat(field, " must be a string"));
  }
  return value.get<std::string>();
}

// A field that must keep its default (the only value the server honours).
absl::Status RequireDefault(const Json& body, const char* name,
                            const Json& default_value, absl::string_view why) {
  const Json* value = Find(body, name);
  if (value == nullptr || *value == default_value) return absl::OkStatus();
  return UnsupportedField(
      name, absl::StrCat(name, " is not supported with a value other than ",
                         default_value.dump(), ": ", why));
}

absl::Status CheckFieldNames(OpenAiEndpoint endpoint, const Json& body) {
  const std::set<std::string>& own = endpoint == OpenAiEndpoint::kCompletions
                                         ? CompletionFields()
                                         : ChatFields();
  for (const auto& [name, value] : body.items()) {
    if (CommonFields().count(name) == 0 && own.count(name) == 0) {
      return UnsupportedField(
          name, absl::StrCat("unrecognized request argument \"", name, "\""));
    }
    if (endpoint == OpenAiEndpoint::kChatCompletions && !value.is_null() &&
        RefusedChatFields().count(name) > 0) {
      return UnsupportedField(name, absl::StrCat(name, " is not supported"));
    }
  }
  return absl::OkStatus();
}

// The fields both endpoints share that must keep OpenAI's defaults.
absl::Status CheckUnsupportedCommon(const Json& body) {
  RETURN_IF_ERROR(RequireDefault(body, "n", 1,
                                 "one choice per request; send several "
                                 "requests instead"));
  RETURN_IF_ERROR(RequireDefault(body, "presence_penalty", 0,
                                 "the engine has no penalties"));
  RETURN_IF_ERROR(RequireDefault(body, "frequency_penalty", 0,
                                 "the engine has no penalties"));
  const Json* logit_bias = Find(body, "logit_bias");
  if (logit_bias != nullptr &&
      !(logit_bias->is_object() && logit_bias->empty())) {
    return UnsupportedField("logit_bias",
                            "logit_bias is not supported by the engine");
  }
  if (const Json* user = Find(body, "user"); user != nullptr) {
    RETURN_IF_ERROR(ReadString("user", *user).status());
  }
  return absl::OkStatus();
}

absl::Status ReadSampling(const Json& body, OpenAiRequest& out) {
  out.sampling.temperature = 1.0f;  // OpenAI's default.
  if (const Json* value = Find(body, "temperature")) {
    ASSIGN_OR_RETURN(const double temperature,
                     ReadNumber("temperature", *value, 0.0, 2.0));
    out.sampling.temperature = static_cast<float>(temperature);
  }
  if (const Json* value = Find(body, "top_p")) {
    ASSIGN_OR_RETURN(const double top_p, ReadNumber("top_p", *value, 0.0, 1.0));
    if (top_p <= 0.0) {
      return FieldError("top_p", "top_p must be greater than 0");
    }
    out.sampling.top_p = static_cast<float>(top_p);
  }
  if (const Json* value = Find(body, "top_k")) {
    // -1 is vLLM's spelling of "no limit".
    ASSIGN_OR_RETURN(
        const int64_t top_k,
        ReadInt("top_k", *value, -1, std::numeric_limits<int32_t>::max()));
    out.sampling.top_k = top_k < 0 ? 0 : static_cast<int32_t>(top_k);
  }
  if (const Json* value = Find(body, "seed")) {
    ASSIGN_OR_RETURN(
        const int64_t seed,
        ReadInt("seed", *value, std::numeric_limits<int64_t>::min(),
                std::numeric_limits<int64_t>::max()));
    out.sampling.seed = static_cast<uint64_t>(seed);
    out.seed_given = true;
  }
  return absl::OkStatus();
}

absl::Status ReadStop(const Json& body, OpenAiRequest& out) {
  const Json* stop = Find(body, "stop");
  if (stop == nullptr) return absl::OkStatus();
  std::vector<std::string> strings;
  if (stop->is_string()) {
    strings.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    if (stop->size() > static_cast<size_t>(kMaxStopStrings)) {
      return FieldError("stop",
                        absl::StrCat("stop holds ", stop->size(),
                                     " strings; at most ", kMaxStopStrings));
    }
    for (const Json& entry : *stop) {
      ASSIGN_OR_RETURN(std::string text, ReadString("stop", entry));
      strings.push_back(std::move(text));
    }
  } else {
    return FieldError("stop", "stop must be a string or a list of strings");
  }
  for (const std::string& text : strings) {
    if (text.empty() || text.size() > kMaxStopStringBytes) {
      return FieldError("stop", absl::StrCat("stop strings must be 1 to ",
                                             kMaxStopStringBytes,
                                             " bytes (got ", text.size(), ")"));
    }
  }
  out.stopping.stop_strings = std::move(strings);
  return absl::OkStatus();
}

absl::Status ReadStreaming(const Json& body, OpenAiRequest& out) {
  if (const Json* value = Find(body, "stream")) {
    ASSIGN_OR_RETURN(out.stream, ReadBool("stream", *value));
  }
  const Json* options = Find(body, "stream_options");
  if (options == nullptr) return absl::OkStatus();
  if (!out.stream) {
    return FieldError("stream_options",
                      "stream_options is only allowed when stream is true");
  }
  if (!options->is_object()) {
    return FieldError("stream_options", "stream_options must be an object");
  }
  for (const auto& [name, value] : options->items()) {
    const std::string field = absl::StrCat("stream_options.", name);
    if (name == "include_usage") {
      if (!value.is_null()) {
        ASSIGN_OR_RETURN(out.include_usage, ReadBool(field, value));
      }
    } else if (name == "include_obfuscation") {
      // Padding against side channels of TLS record sizes: moot without TLS
      // here; it never changes the result.
      if (!value.is_null()) RETURN_IF_ERROR(ReadBool(field, value).status());
    } else {
      return UnsupportedField(
          field, absl::StrCat("unrecognized request argument \"", field, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadMaxTokens(const Json& body, const ModelLimits& limits,
                           OpenAiRequest& out) {
  const int64_t most = std::numeric_limits<int32_t>::max();
  std::optional<int64_t> max_tokens;
  if (const Json* value = Find(body, "max_tokens")) {
    ASSIGN_OR_RETURN(max_tokens, ReadInt("max_tokens", *value, 1, most));
  }
  if (const Json* value = Find(body, "max_completion_tokens")) {
    ASSIGN_OR_RETURN(const int64_t max_completion_tokens,
                     ReadInt("max_completion_tokens", *value, 1, most));
    if (max_tokens.has_value() && *max_tokens != max_completion_tokens) {
      return FieldError("max_completion_tokens",
                        "max_tokens and max_completion_tokens disagree; set "
                        "one of them");
    }
    max_tokens = max_completion_tokens;
  }
  if (max_tokens.has_value()) {
    out.stopping.max_new_tokens = static_cast<int32_t>(*max_tokens);
  } else {
    out.stopping.max_new_tokens = out.endpoint == OpenAiEndpoint::kCompletions
                                      ? kCompletionsDefaultMaxTokens
                                      : std::max(1, limits.max_seq_len);
  }
  if (const Json* value = Find(body, "ignore_eos")) {
    ASSIGN_OR_RETURN(out.stopping.ignore_eos, ReadBool("ignore_eos", *value));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> ReadTokenIds(const Json& ids,
                                                  const ModelLimits& limits) {
  std::vector<int32_t> out;
  out.reserve(ids.size());
  for (const Json& id : ids) {
    ASSIGN_OR_RETURN(const int64_t value,
                     ReadInt("prompt", id, 0, limits.vocab_size - 1));
    out.push_back(static_cast<int32_t>(value));
  }
  return out;
}

// prompt: a string, a token id list, or a list of one of either.
absl::Status ReadPrompt(const Json& body, const ModelLimits& limits,
                        OpenAiRequest& out) {
  const Json* prompt = Find(body, "prompt");
  if (prompt == nullptr) return FieldError("prompt", "prompt is required");
  const Json* single = prompt;
  if (prompt->is_array() && !prompt->empty() &&
      ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    if (prompt->size() != 1) {
      return UnsupportedField("prompt",
                              "several prompts in one request are not "
                              "supported; send one request per prompt");
    }
    single = &(*prompt)[0];
  }
  if (single->is_string()) {
    out.prompt_text = single->get<std::string>();
    if (out.prompt_text.empty()) {
      return FieldError("prompt", "prompt must not be empty");
    }
    return absl::OkStatus();
  }
  if (single->is_array()) {
    if (single->empty()) {
      return FieldError("prompt", "prompt must hold at least one token id");
    }
    ASSIGN_OR_RETURN(out.prompt_ids, ReadTokenIds(*single, limits));
    return absl::OkStatus();
  }
  return FieldError("prompt",
                    "prompt must be a string, a list of token ids, or a list "
                    "of one of either");
}

absl::Status ReadCompletionFields(const Json& body, const ModelLimits& limits,
                                  OpenAiRequest& out) {
  RETURN_IF_ERROR(ReadPrompt(body, limits, out));
  RETURN_IF_ERROR(
      RequireDefault(body, "best_of", 1, "one candidate per request"));
  RETURN_IF_ERROR(
      RequireDefault(body, "echo", false, "the prompt is not returned"));
  const Json* suffix = Find(body, "suffix");
  if (suffix != nullptr && !(suffix->is_string() && suffix->empty())) {
    return UnsupportedField("suffix", "suffix (insertion) is not supported");
  }
  if (const Json* value = Find(body, "logprobs")) {
    ASSIGN_OR_RETURN(const int64_t alternatives,
                     ReadInt("logprobs", *value, 0, 5));
    if (alternatives > 0) {
      return UnsupportedField(
          "logprobs",
          "only logprobs=0 is supported: the engine reports the sampled "
          "token's log-probability, not the most likely alternatives");
    }
    out.logprobs = true;
  }
  return absl::OkStatus();
}

// One message's "content" as the template gets it: a string (or null for
// an assistant message with tool calls); text parts are joined.
absl::StatusOr<Json> ReadContent(const std::string& field,
                                 const Json& content) {
  if (content.is_null() || content.is_string()) return content;
  if (!content.is_array()) {
    return FieldError(field, absl::StrCat(field,
                                          " must be a string or a list of "
                                          "content parts"));
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string part_field = absl::StrCat(field, "[", i, "]");
    const Json& part = content[i];
    if (!part.is_object() || !part.contains("type")) {
      return FieldError(
          part_field,
          absl::StrCat(part_field, " must be an object with a \"type\""));
    }
    if (part["type"] != "text") {
      return UnsupportedField(
          part_field,
          absl::StrCat(part_field, " has type ", part["type"].dump(),
                       "; only \"text\" parts are supported"));
    }
    const auto text_it = part.find("text");
    if (text_it == part.end() || !text_it->is_string()) {
      return FieldError(part_field,
                        absl::StrCat(part_field, ".text must be a string"));
    }
    if (i > 0) text += "\n";
    text += text_it->get<std::string>();
  }
  return Json(std::move(text));
}

absl::Status ReadMessages(const Json& body, OpenAiRequest& out) {
  const Json* messages = Find(body, "messages");
  if (messages == nullptr) {
    return FieldError("messages", "messages is required");
  }
  if (!messages->is_array() || messages->empty()) {
    return FieldError("messages", "messages must be a non-empty list");
  }
  out.messages = Json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    const std::string field = absl::StrCat("messages[", i, "]");
    Json message = (*messages)[i];
    if (!message.is_object()) {
      return FieldError(field, absl::StrCat(field, " must be an object"));
    }
    const auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
      return FieldError(absl::StrCat(field, ".role"),
                        absl::StrCat(field, ".role must be a string"));
    }
    const auto content = message.find("content");
    if (content != message.end()) {
      ASSIGN_OR_RETURN(*content,
                       ReadContent(absl::StrCat(field, ".content"), *content));
    }
    out.messages.push_back(std::move(message));
  }
  return absl::OkStatus();
}

absl::Status ReadTools(const Json& body, OpenAiRequest& out) {
  const Json* tools = Find(body, "tools");
  if (tools != nullptr) {
    if (!tools->is_array()) {
      return FieldError("tools", "tools must be a list");
    }
    for (size_t i = 0; i < tools->size(); ++i) {
      const Json& tool = (*tools)[i];
      if (!tool.is_object() || !tool.contains("function") ||
          tool.value("type", "") != "function") {
        const std::string field = absl::StrCat("tools[", i, "]");
        return FieldError(field, absl::StrCat(field,
                                              " must be {\"type\": "
                                              "\"function\", \"function\": "
                                              "{...}}"));
      }
    }
    if (!tools->empty()) out.tools = *tools;
  }
  const Json* choice = Find(body, "tool_choice");
  if (choice != nullptr && *choice != "auto" &&
      !(*choice == "none" && out.tools.is_null())) {
    return UnsupportedField("tool_choice",
                            "only tool_choice \"auto\" is supported: the "
                            "model decides, through its chat template");
  }
  return RequireDefault(body, "parallel_tool_calls", true,
                        "the model decides, through its chat template");
}

absl::Status ReadChatFields(const Json& body, OpenAiRequest& out) {
  RETURN_IF_ERROR(ReadMessages(body, out));
  RETURN_IF_ERROR(ReadTools(body, out));
  bool logprobs = false;
  if (const Json* value = Find(body, "logprobs")) {
    ASSIGN_OR_RETURN(logprobs, ReadBool("logprobs", *value));
  }
  if (const Json* value = Find(body, "top_logprobs")) {
    ASSIGN_OR_RETURN(const int64_t alternatives,
                     ReadInt("top_logprobs", *value, 0, 20));
    if (alternatives > 0) {
      return UnsupportedField(
          "top_logprobs",
          "only top_logprobs=0 is supported: the engine reports the sampled "
          "token's log-probability, not the most likely alternatives");
    }
  }
  out.logprobs = logprobs;
  const Json* format = Find(body, "response_format");
  if (format != nullptr && *format != Json{{"type", "text"}}) {
    return UnsupportedField("response_format",
                            "only response_format {\"type\": \"text\"} is "
                            "supported (no JSON mode)");
  }
  const Json* modalities = Find(body, "modalities");
  if (modalities != nullptr && *modalities != Json::array({"text"})) {
    return UnsupportedField("modalities",
                            "only modalities [\"text\"] are supported");
  }
  // Accepted, and moot for the result: nothing is stored, no tiers.
  if (const Json* value = Find(body, "store")) {
    RETURN_IF_ERROR(ReadBool("store", *value).status());
  }
  if (const Json* value = Find(body, "metadata");
      value && !value->is_object()) {
    return FieldError("metadata", "metadata must be an object");
  }
  if (const Json* value = Find(body, "service_tier")) {
    RETURN_IF_ERROR(ReadString("service_tier", *value).status());
  }
  if (const Json* value = Find(body, "chat_template_kwargs")) {
    if (!value->is_object()) {
      return FieldError("chat_template_kwargs",
                        "chat_template_kwargs must be an object");
    }
    out.chat_template_kwargs = *value;
  }
  if (const Json* value = Find(body, "add_generation_prompt")) {
    ASSIGN_OR_RETURN(out.add_generation_prompt,
                     ReadBool("add_generation_prompt", *value));
  }
  return absl::OkStatus();
}

// "adapters": [{"name": "<adapter>", "weight": <number>}, ...]. Types
// only: the count, the weight range and the names are checked where the
// adapters are resolved, as for gRPC.
absl::Status ReadAdapters(const Json& body, OpenAiRequest& out) {
  const Json* value = Find(body, "adapters");
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_array() || value->empty()) {
    return FieldError("adapters",
                      "adapters must be a non-empty list of "
                      "{\"name\", \"weight\"} objects");
  }
  for (size_t i = 0; i < value->size(); ++i) {
    const std::string field = absl::StrCat("adapters[", i, "]");
    const Json& entry = (*value)[i];
    if (!entry.is_object()) {
      return FieldError(field, absl::StrCat(field, " must be an object"));
    }
    OpenAiMixedAdapter adapter;
    for (const auto& [key, item] : entry.items()) {
      if (key == "name") {
        ASSIGN_OR_RETURN(adapter.name, ReadString(field + ".name", item));
      } else if (key == "weight") {
        // Finite and within float; the mix rules bound it further.
        ASSIGN_OR_RETURN(const double weight,
                         ReadNumber(field + ".weight", item, -1e30, 1e30));
        adapter.weight = static_cast<float>(weight);
      } else {
        return FieldError(
            field, absl::StrCat(field, " has an unknown field \"", key, "\""));
      }
    }
    if (adapter.name.empty()) {
      return FieldError(field + ".name", field + ".name is required");
    }
    out.adapters.push_back(std::move(adapter));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(OpenAiEndpoint endpoint,
                                                 std::string_view body,
                                                 const ModelLimits& limits) {
  absl::StatusOr<Json> parsed = engine::ParseBoundedJson<Json>(
      body, "request body",
      engine::JsonLimits{kMaxOpenAiBodyBytes, /*max_depth=*/64});
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return absl::InvalidArgumentError("the request body must be a JSON object");
  }
  const Json& json = *parsed;
  OpenAiRequest out;
  out.endpoint = endpoint;
  RETURN_IF_ERROR(CheckFieldNames(endpoint, json));
  const Json* model = Find(json, "model");
  if (model == nullptr) return FieldError("model", "model is required");
  ASSIGN_OR_RETURN(out.model, ReadString("model", *model));
  if (out.model.empty()) return FieldError("model", "model must not be empty");
  RETURN_IF_ERROR(CheckUnsupportedCommon(json));
  RETURN_IF_ERROR(ReadAdapters(json, out));
  RETURN_IF_ERROR(ReadSampling(json, out));
  RETURN_IF_ERROR(ReadStop(json, out));
  RETURN_IF_ERROR(ReadStreaming(json, out));
  RETURN_IF_ERROR(ReadMaxTokens(json, limits, out));
  if (endpoint == OpenAiEndpoint::kCompletions) {
    RETURN_IF_ERROR(ReadCompletionFields(json, limits, out));
  } else {
    RETURN_IF_ERROR(ReadChatFields(json, out));
  }
  return out;
}

}  // namespace loraplex::service
