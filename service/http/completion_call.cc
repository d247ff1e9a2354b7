#include "service/http/completion_call.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/common/status_macros.h"
#include "service/frontend/adapter_resolution.h"
#include "service/http/engine_event_queue.h"
#include "service/http/http_connection.h"
#include "service/http/json_text.h"
#include "service/http/openai_error.h"
#include "service/http/openai_response.h"

namespace loraplex::service {
namespace {

using Json = nlohmann::ordered_json;

// Exactly this type: httplib compresses any other text/* answer for a
// client that accepts gzip, which would hold streamed events back.
constexpr char kEventStreamType[] = "text/event-stream";
constexpr char kJsonType[] = "application/json";

const char* RpcName(OpenAiEndpoint endpoint) {
  return endpoint == OpenAiEndpoint::kCompletions ? "Completions"
                                                  : "ChatCompletions";
}

uint64_t RandomBits() {
  thread_local std::mt19937_64 bits(std::random_device{}());
  return bits();
}

// "cmpl-<24 hex digits>" / "chatcmpl-...".
std::string ResponseId(OpenAiEndpoint endpoint) {
  return absl::StrFormat(
      "%s-%016x%08x",
      endpoint == OpenAiEndpoint::kCompletions ? "cmpl" : "chatcmpl",
      RandomBits(), RandomBits() & 0xffffffffu);
}

// How the engine ended a request, as the call's outcome.
absl::Status FinalStatus(const engine::GenerationEvent& event) {
  switch (event.finish_reason) {
    case engine::FinishReason::kError:
      return event.error.ok()
                 ? absl::InternalError("the engine failed without saying why")
                 : event.error;
    case engine::FinishReason::kCancelled:
      // Only shutdown cancels a request this call has not cancelled itself.
      return absl::UnavailableError(
          "the request was cancelled: the server is shutting down");
    default:
      break;
  }
  return absl::OkStatus();
}

// The model a request names that is not the base model nor an adapter the
// caller may use: 404, as OpenAI answers an unknown model.
absl::Status UnknownModel(const absl::Status& resolution,
                          const std::string& model) {
  if (!absl::IsNotFound(resolution) && !absl::IsInvalidArgument(resolution)) {
    return resolution;
  }
  // A malformed adapter name says why; a missing one says no more than
  // Note [Not found, not forbidden] allows.
  const std::string why = absl::IsInvalidArgument(resolution)
                              ? absl::StrCat(" (", resolution.message(), ")")
                              : std::string();
  return WithParam(
      absl::NotFoundError(absl::StrCat(
          "the model \"", model,
          "\" does not exist or you do not have access to it", why)),
      "model");
}

// One request, answered on one HTTP worker thread (the handler and then,
// when streamed, the content provider it sets, which httplib runs on the
// same thread); shared with those callbacks. Not thread-safe: only that
// thread uses it.
class CompletionCall : public std::enable_shared_from_this<CompletionCall> {
 public:
  CompletionCall(const OpenAiDeps& deps, OpenAiEndpoint endpoint)
      : deps_(deps), endpoint_(endpoint) {}

  // Authenticates, parses, resolves and submits. On error nothing runs in
  // the engine and the caller answers with Fail.
  absl::Status Start(const httplib::Request& http_request);
  bool streamed() const { return request_.stream; }

  void Fail(const absl::Status& status, httplib::Response& response) {
    SetErrorResponse(status, *deps_.scrubber, response);
    End(status, nullptr);
  }
  // Waits for the whole generation and answers it as one JSON body.
  void AnswerWhole(httplib::Response& response);
  // Streams the generation as Server-Sent Events.
  void AnswerStreamed(httplib::Response& response);

 private:
  absl::StatusOr<std::string> RenderChat() const;
  std::vector<TokenLogprob> Logprobs(
      const engine::GenerationEvent& event) const;
  // Blocks until engine events may be waiting (OK), or the client left
  // (CANCELLED) or the server stops (UNAVAILABLE): the engine request is
  // then cancelled.
  absl::Status WaitForEvents();
  void CancelEngineRequest();
  // The content provider: writes events until the generation ends or the
  // client leaves (false).
  bool StreamEvents(httplib::DataSink& sink);
  // Writes one `data: ...` event in a write window of its own; false when
  // the client is gone or did not take it in time (the engine request is
  // then cancelled and the call ended).
  bool Send(httplib::DataSink& sink, const std::string& data);
  // Counts the call in the metrics (once) with `status`; a completed
  // generation's `final_event` also feeds the token and latency metrics.
  void End(const absl::Status& status,
           const engine::GenerationEvent* final_event);

  const OpenAiDeps& deps_;
  const OpenAiEndpoint endpoint_;
  std::string tenant_;  // Empty until authenticated.
  OpenAiRequest request_;
  ResponseHeader header_;
  std::shared_ptr<EngineEventQueue> queue_;
  std::optional<engine::RequestId> request_id_;  // Once submitted.
  bool engine_finished_ = false;                 // The final event arrived.
  bool ended_ = false;                           // Counted in the metrics.
  size_t text_offset_ = 0;  // Bytes of text streamed so far.
  bool role_sent_ = false;  // A chat stream's first chunk.
};

absl::Status CompletionCall::Start(const httplib::Request& http_request) {
  ASSIGN_OR_RETURN(const Principal caller,
                   AuthenticateHttpRequest(*deps_.api_keys, http_request));
  tenant_ = caller.tenant;
  const engine::ModelInfo& info = deps_.engine->model_info();
  const ModelLimits limits{static_cast<int32_t>(info.config.vocab_size),
                           info.max_seq_len};
  ASSIGN_OR_RETURN(request_,
                   ParseOpenAiRequest(endpoint_, http_request.body, limits));

  engine::GenerationRequest engine_request;
  ResolvedAdapters adapters;
  if (!request_.adapters.empty()) {
    // A mix is base + its adapters' updates: `model` names that base.
    if (request_.model != deps_.base_model_id) {
      return WithParam(absl::InvalidArgumentError(absl::StrCat(
                           "with adapters, model must be the base model \"",
                           deps_.base_model_id, "\"")),
                       "model");
    }
    std::vector<RequestedAdapter> requested;
    for (size_t i = 0; i < request_.adapters.size(); ++i) {
      requested.push_back({request_.adapters[i].name,
                           request_.adapters[i].weight,
                           absl::StrCat("adapters[", i, "]")});
    }
    absl::StatusOr<ResolvedAdapters> resolved =
        ResolveAdapters(*deps_.registry, caller, requested);
    if (!resolved.ok()) return WithParam(resolved.status(), "adapters");
    adapters = *std::move(resolved);
    adapters.ApplyTo(engine_request);
  } else if (request_.model != deps_.base_model_id) {
    const RequestedAdapter requested{request_.model, 1.0f, "model"};
    absl::StatusOr<ResolvedAdapters> resolved =
        ResolveAdapters(*deps_.registry, caller, {&requested, 1});
    if (!resolved.ok()) return UnknownModel(resolved.status(), request_.model);
    adapters = *std::move(resolved);
    adapters.ApplyTo(engine_request);
  }
  if (endpoint_ == OpenAiEndpoint::kChatCompletions) {
    ASSIGN_OR_RETURN(engine_request.prompt_text, RenderChat());
    // The rendered text holds the template's special tokens already.
    engine_request.add_special_tokens = false;
  } else {
    engine_request.prompt_text = request_.prompt_text;
    engine_request.prompt_ids = request_.prompt_ids;
  }
  engine_request.sampling = request_.sampling;
  if (!request_.seed_given) engine_request.sampling.seed = RandomBits();
  engine_request.stopping = request_.stopping;
  engine_request.tenant = caller.tenant;
  engine_request.return_logprobs = request_.logprobs;

  ASSIGN_OR_RETURN(queue_, EngineEventQueue::Create());
  ASSIGN_OR_RETURN(request_id_,
                   SubmitWithAdapters(*deps_.engine, deps_.metrics,
                                      std::move(engine_request), adapters,
                                      queue_->Callback()));
  header_ = ResponseHeader{endpoint_, ResponseId(endpoint_),
                           absl::ToUnixSeconds(absl::Now()), request_.model};
  return absl::OkStatus();
}

absl::StatusOr<std::string> CompletionCall::RenderChat() const {
  if (deps_.chat_template == nullptr) {
    return FieldError("messages",
                      "the model has no chat template (tokenizer_config.json "
                      "chat_template or chat_template.jinja); the server can "
                      "be given one with --chat-template FILE");
  }
  if (!request_.tools.is_null() && !deps_.chat_template->reads_tools()) {
    return UnsupportedField("tools",
                            "the model's chat template does not use tools");
  }
  chat::ChatTemplateInputs inputs;
  inputs.messages = request_.messages;
  inputs.tools = request_.tools;
  inputs.add_generation_prompt = request_.add_generation_prompt;
  inputs.extra_kwargs = request_.chat_template_kwargs;
  return deps_.chat_template->Render(inputs);
}

std::vector<TokenLogprob> CompletionCall::Logprobs(
    const engine::GenerationEvent& event) const {
  std::vector<TokenLogprob> out;
  for (size_t i = 0; i < event.token_ids.size(); ++i) {
    absl::StatusOr<std::string> text =
        deps_.engine->Detokenize({event.token_ids[i]});
    out.push_back(
        TokenLogprob{text.ok() ? *std::move(text) : std::string(),
                     i < event.logprobs.size() ? event.logprobs[i] : 0.0f});
  }
  return out;
}

void CompletionCall::CancelEngineRequest() {
  if (request_id_.has_value() && !engine_finished_) {
    deps_.engine->Cancel(*request_id_);
  }
}

absl::Status CompletionCall::WaitForEvents() {
  HttpConnection* connection = HttpConnection::Current();
  HttpConnection::Wake wake = HttpConnection::Wake::kServerStopping;
  if (connection != nullptr)
    wake = connection->WaitForEvent(queue_->event_fd());
  switch (wake) {
    case HttpConnection::Wake::kEvent:
      return absl::OkStatus();
    case HttpConnection::Wake::kClientGone:
      CancelEngineRequest();
      return absl::CancelledError("the client closed the connection");
    case HttpConnection::Wake::kServerStopping:
      break;
  }
  CancelEngineRequest();
  return absl::UnavailableError("the server is shutting down");
}

void CompletionCall::AnswerWhole(httplib::Response& response) {
  CompletionResult result;
  result.with_logprobs = request_.logprobs;
  while (true) {
    for (const engine::GenerationEvent& event : queue_->Take()) {
      result.text += event.text;
      if (request_.logprobs) {
        for (TokenLogprob& token : Logprobs(event)) {
          result.logprobs.push_back(std::move(token));
        }
      }
      if (!event.finished) continue;
      engine_finished_ = true;
      const absl::Status status = FinalStatus(event);
      if (!status.ok()) {
        Fail(status, response);
        return;
      }
      result.finish_reason = event.finish_reason;
      result.usage = event.usage;
      response.set_content(JsonText(CompletionAnswer(header_, result)),
                           kJsonType);
      End(status, &event);
      return;
    }
    const absl::Status waited = WaitForEvents();
    if (!waited.ok()) {
      Fail(waited, response);
      return;
    }
  }
}

void CompletionCall::AnswerStreamed(httplib::Response& response) {
  response.set_header("Cache-Control", "no-cache");
  std::shared_ptr<CompletionCall> self = shared_from_this();
  response.set_chunked_content_provider(
      kEventStreamType,
      [self](size_t /*offset*/, httplib::DataSink& sink) {
        return self->StreamEvents(sink);
      },
      [self](bool /*success*/) {
        // The answer is over (or its headers could not be sent).
        self->CancelEngineRequest();
        self->End(absl::CancelledError("the answer could not be sent"),
                  nullptr);
      });
}

bool CompletionCall::Send(httplib::DataSink& sink, const std::string& data) {
  HttpConnection* connection = HttpConnection::Current();
  if (connection != nullptr) connection->RestartWriteDeadline();
  const std::string event = absl::StrCat("data: ", data, "\n\n");
  if (sink.write(event.data(), event.size())) return true;
  CancelEngineRequest();
  End(absl::CancelledError("the client left or did not read the answer in "
                           "time"),
      nullptr);
  return false;
}

bool CompletionCall::StreamEvents(httplib::DataSink& sink) {
  const bool usage = request_.include_usage;
  if (endpoint_ == OpenAiEndpoint::kChatCompletions && !role_sent_) {
    role_sent_ = true;
    if (!Send(sink, JsonText(RoleChunk(header_, usage)))) return false;
  }
  while (true) {
    for (const engine::GenerationEvent& event : queue_->Take()) {
      if (!event.text.empty() || !event.token_ids.empty()) {
        const std::vector<TokenLogprob> logprobs =
            request_.logprobs ? Logprobs(event) : std::vector<TokenLogprob>();
        if (!Send(sink,
                  JsonText(TextChunk(header_, event.text,
                                     request_.logprobs ? &logprobs : nullptr,
                                     text_offset_, usage)))) {
          return false;
        }
        text_offset_ += event.text.size();
      }
      if (!event.finished) continue;
      engine_finished_ = true;
      const absl::Status status = FinalStatus(event);
      if (status.ok()) {
        if (!Send(sink,
                  JsonText(FinishChunk(header_, event.finish_reason, usage))) ||
            (usage &&
             !Send(sink, JsonText(UsageChunk(header_, event.usage))))) {
          return false;
        }
      } else if (!Send(sink, absl::StrCat(
                                 "{\"error\":",
                                 OpenAiErrorObjectJson(status, *deps_.scrubber),
                                 "}"))) {
        return false;
      }
      if (!Send(sink, "[DONE]")) return false;
      End(status, status.ok() ? &event : nullptr);
      sink.done();
      return true;
    }
    const absl::Status waited = WaitForEvents();
    if (!waited.ok()) {
      End(waited, nullptr);
      return false;
    }
  }
}

void CompletionCall::End(const absl::Status& status,
                         const engine::GenerationEvent* final_event) {
  if (ended_) return;
  ended_ = true;
  deps_.metrics->RecordRequest(ServerMetrics::Api::kHttp, tenant_,
                               RpcName(endpoint_), status.code());
  if (status.ok() && final_event != nullptr) {
    deps_.metrics->RecordGeneration(tenant_, final_event->usage,
                                    final_event->timings);
  }
}

}  // namespace

void SetErrorResponse(const absl::Status& status, const ErrorScrubber& scrubber,
                      httplib::Response& response) {
  const HttpErrorResponse error = ToHttpError(status, scrubber);
  response.status = error.status;
  if (error.retry_after_seconds.has_value()) {
    response.set_header("Retry-After",
                        absl::StrCat(*error.retry_after_seconds));
  }
  if (error.retry_after_ms.has_value()) {
    response.set_header("retry-after-ms", absl::StrCat(*error.retry_after_ms));
  }
  response.set_content(error.body, kJsonType);
}

absl::StatusOr<Principal> AuthenticateHttpRequest(
    const ApiKeyStore& keys, const httplib::Request& request) {
  if (keys.open()) return keys.Authenticate(std::nullopt);
  const size_t count = request.get_header_value_count("Authorization");
  if (count == 0) {
    return absl::UnauthenticatedError(
        "missing API key: send the header \"Authorization: Bearer <key>\"");
  }
  if (count > 1) {
    return absl::UnauthenticatedError(
        "the request carries more than one Authorization header");
  }
  const std::string authorization = request.get_header_value("Authorization");
  return keys.Authenticate(authorization);
}

void ServeCompletion(const OpenAiDeps& deps, OpenAiEndpoint endpoint,
                     const httplib::Request& request,
                     httplib::Response& response) {
  auto call = std::make_shared<CompletionCall>(deps, endpoint);
  const absl::Status started = call->Start(request);
  if (!started.ok()) {
    call->Fail(started, response);
  } else if (call->streamed()) {
    call->AnswerStreamed(response);
  } else {
    call->AnswerWhole(response);
  }
}

}  // namespace loraplex::service
