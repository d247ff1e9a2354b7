#include "service/grpc/proto_conversion.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"

namespace loraplex::service {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", rule));
}

absl::Status CheckTokenId(absl::string_view field, int32_t id,
                          const ModelLimits& limits) {
  if (id < 0 || id >= limits.vocab_size) {
    return FieldError(field, absl::StrCat("holds token id ", id,
                                          ", outside the vocabulary [0, ",
                                          limits.vocab_size, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<engine::SamplingParams> ToSampling(
    const v1::SamplingParams& sampling) {
  engine::SamplingParams out;
  if (!std::isfinite(sampling.temperature()) || sampling.temperature() < 0) {
    return FieldError("sampling.temperature",
                      absl::StrCat("must be finite and >= 0 (got ",
                                   sampling.temperature(), ")"));
  }
  if (sampling.top_k() < 0) {
    return FieldError("sampling.top_k", absl::StrCat("must be >= 0 (got ",
                                                     sampling.top_k(), ")"));
  }
  if (sampling.has_top_p() &&
      !(sampling.top_p() > 0.0f && sampling.top_p() <= 1.0f)) {
    return FieldError("sampling.top_p", absl::StrCat("must be in (0, 1] (got ",
                                                     sampling.top_p(), ")"));
  }
  out.temperature = sampling.temperature();
  out.top_k = sampling.top_k();
  out.top_p = sampling.has_top_p() ? sampling.top_p() : 1.0f;
  out.seed = sampling.seed();
  return out;
}

absl::StatusOr<engine::StoppingParams> ToStopping(
    const v1::StoppingParams& stopping, const ModelLimits& limits) {
  engine::StoppingParams out;
  if (stopping.has_max_new_tokens() && stopping.max_new_tokens() < 1) {
    return FieldError(
        "stopping.max_new_tokens",
        absl::StrCat("must be >= 1 (got ", stopping.max_new_tokens(), ")"));
  }
  out.max_new_tokens = stopping.has_max_new_tokens() ? stopping.max_new_tokens()
                                                     : kDefaultMaxNewTokens;
  if (stopping.stop_strings_size() > kMaxStopStrings) {
    return FieldError("stopping.stop_strings",
                      absl::StrCat("holds ", stopping.stop_strings_size(),
                                   " strings; at most ", kMaxStopStrings));
  }
  for (const std::string& stop : stopping.stop_strings()) {
    if (stop.empty() || stop.size() > kMaxStopStringBytes) {
      return FieldError(
          "stopping.stop_strings",
          absl::StrCat("entries must be 1 to ", kMaxStopStringBytes,
                       " bytes (got ", stop.size(), ")"));
    }
    out.stop_strings.push_back(stop);
  }
  if (stopping.stop_token_ids_size() > kMaxStopTokenIds) {
    return FieldError("stopping.stop_token_ids",
                      absl::StrCat("holds ", stopping.stop_token_ids_size(),
                                   " ids; at most ", kMaxStopTokenIds));
  }
  for (int32_t id : stopping.stop_token_ids()) {
    RETURN_IF_ERROR(CheckTokenId("stopping.stop_token_ids", id, limits));
    out.stop_token_ids.push_back(id);
  }
  out.ignore_eos = stopping.ignore_eos();
  return out;
}

absl::Status SetPrompt(const v1::GenerateRequest& request,
                       const ModelLimits& limits, int32_t max_new_tokens,
                       engine::GenerationRequest* out) {
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText:
      if (request.text().empty())
        return FieldError("text", "must not be empty");
      out->prompt_text = request.text();
      return absl::OkStatus();
    case v1::GenerateRequest::kTokenIds: {
      const auto& ids = request.token_ids().ids();
      if (ids.empty()) {
        return FieldError("token_ids.ids", "must hold at least one id");
      }
      for (int32_t id : ids) {
        RETURN_IF_ERROR(CheckTokenId("token_ids.ids", id, limits));
      }
      const int64_t needed = static_cast<int64_t>(ids.size()) + max_new_tokens;
      if (needed > limits.max_seq_len) {
        return FieldError(
            "token_ids.ids",
            absl::StrCat("has ", ids.size(), " ids; with max_new_tokens ",
                         max_new_tokens, " that needs ", needed,
                         " positions but --max-seq-len is ",
                         limits.max_seq_len));
      }
      out->prompt_ids.assign(ids.begin(), ids.end());
      return absl::OkStatus();
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      break;
  }
  return FieldError("prompt", "is required: set text or token_ids");
}

}  // namespace

absl::StatusOr<engine::GenerationRequest> ToEngineRequest(
    const v1::GenerateRequest& request, const ModelLimits& limits,
    std::string adapter_id, std::string tenant) {
  engine::GenerationRequest out;
  ASSIGN_OR_RETURN(out.sampling, ToSampling(request.sampling()));
  ASSIGN_OR_RETURN(out.stopping, ToStopping(request.stopping(), limits));
  RETURN_IF_ERROR(
      SetPrompt(request, limits, out.stopping.max_new_tokens, &out));
  out.adapter_id = std::move(adapter_id);
  out.tenant = std::move(tenant);
  out.return_logprobs = request.return_logprobs();
  return out;
}

v1::FinishReason ToProtoFinishReason(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case engine::FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
    case engine::FinishReason::kEos:
      return v1::FINISH_REASON_EOS;
    case engine::FinishReason::kCancelled:
      return v1::FINISH_REASON_CANCELLED;
    case engine::FinishReason::kNone:
    case engine::FinishReason::kError:
      break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

void SetProtoDuration(absl::Duration duration,
                      google::protobuf::Duration* out) {
  const int64_t seconds =
      absl::IDivDuration(duration, absl::Seconds(1), &duration);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(duration)));
}

void SetProtoTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {  // Timestamp nanos are always in [0, 1e9).
    rest += 1000000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest));
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) +
         absl::Nanoseconds(duration.nanos());
}

namespace {

void SetUsageAndTimings(const engine::GenerationEvent& event, v1::Usage* usage,
                        v1::Timings* timings) {
  usage->set_prompt_tokens(event.usage.prompt_tokens);
  usage->set_completion_tokens(event.usage.completion_tokens);
  SetProtoDuration(event.timings.queue, timings->mutable_queue());
  SetProtoDuration(event.timings.first_token, timings->mutable_first_token());
  SetProtoDuration(event.timings.total, timings->mutable_total());
}

}  // namespace

void AppendEventToResponse(const engine::GenerationEvent& event,
                           v1::GenerateResponse* response) {
  response->mutable_text()->append(event.text);
  response->mutable_token_ids()->Add(event.token_ids.begin(),
                                     event.token_ids.end());
  response->mutable_logprobs()->Add(event.logprobs.begin(),
                                    event.logprobs.end());
  if (!event.finished) return;
  response->set_finish_reason(ToProtoFinishReason(event.finish_reason));
  SetUsageAndTimings(event, response->mutable_usage(),
                     response->mutable_timings());
}

bool EventToStreamChunk(const engine::GenerationEvent& event,
                        v1::GenerateStreamResponse* out) {
  if (event.text.empty() && event.token_ids.empty()) return false;
  v1::GenerateChunk* chunk = out->mutable_chunk();
  chunk->set_text(event.text);
  chunk->mutable_token_ids()->Add(event.token_ids.begin(),
                                  event.token_ids.end());
  chunk->mutable_logprobs()->Add(event.logprobs.begin(), event.logprobs.end());
  return true;
}

void EventToStreamFinished(const engine::GenerationEvent& event,
                           v1::GenerateStreamResponse* out) {
  v1::GenerateFinished* finished = out->mutable_finished();
  finished->set_finish_reason(ToProtoFinishReason(event.finish_reason));
  SetUsageAndTimings(event, finished->mutable_usage(),
                     finished->mutable_timings());
}

v1::Visibility ToProtoVisibility(Visibility visibility) {
  return visibility == Visibility::kPublic ? v1::VISIBILITY_PUBLIC
                                           : v1::VISIBILITY_PRIVATE;
}

absl::StatusOr<Visibility> FromProtoVisibility(int visibility) {
  switch (visibility) {
    case v1::VISIBILITY_UNSPECIFIED:
    case v1::VISIBILITY_PRIVATE:
      return Visibility::kPrivate;
    case v1::VISIBILITY_PUBLIC:
      return Visibility::kPublic;
    default:
      break;
  }
  return FieldError("header.visibility",
                    absl::StrCat("has unknown value ", visibility));
}

namespace {

void ToProtoFiles(const std::vector<AdapterFileRecord>& files,
                  google::protobuf::RepeatedPtrField<v1::AdapterFile>* out) {
  for (const AdapterFileRecord& file : files) {
    v1::AdapterFile* proto_file = out->Add();
    proto_file->set_filename(file.filename);
    proto_file->set_sha256(file.sha256);
    proto_file->set_size_bytes(file.size_bytes);
  }
}

void ToProtoCompressionRequest(const CompressionRequest& request,
                               v1::UploadCompression* out) {
  switch (request.target) {
    case CompressionRequest::Target::kNone:
      break;
    case CompressionRequest::Target::kToMaxLoraRank:
      out->set_to_max_lora_rank(true);
      break;
    case CompressionRequest::Target::kRank:
      out->set_rank(static_cast<int32_t>(request.rank));
      break;
    case CompressionRequest::Target::kEnergy:
      out->set_energy(request.energy);
      break;
  }
}

absl::StatusOr<CompressionRequest> FromProtoCompression(
    const v1::UploadHeader& header) {
  CompressionRequest request;
  if (!header.has_compression()) return request;
  const v1::UploadCompression& compression = header.compression();
  switch (compression.target_case()) {
    case v1::UploadCompression::kToMaxLoraRank:
      if (!compression.to_max_lora_rank()) {
        return absl::InvalidArgumentError(
            "compression.to_max_lora_rank must be true when set");
      }
      request.target = CompressionRequest::Target::kToMaxLoraRank;
      break;
    case v1::UploadCompression::kRank:
      request.target = CompressionRequest::Target::kRank;
      request.rank = compression.rank();
      break;
    case v1::UploadCompression::kEnergy:
      request.target = CompressionRequest::Target::kEnergy;
      request.energy = compression.energy();
      break;
    case v1::UploadCompression::TARGET_NOT_SET:
      return absl::InvalidArgumentError(
          "compression is set but names no target: set to_max_lora_rank, "
          "rank or energy");
  }
  return request;
}

}  // namespace

void ToProtoAdapter(const AdapterRecord& record, v1::Adapter* out) {
  out->set_name(record.name);
  out->set_owner(record.tenant);
  out->set_description(record.description);
  out->set_visibility(ToProtoVisibility(record.visibility));
  out->set_version(record.version);
  out->set_rank(static_cast<int32_t>(record.summary.max_rank));
  out->set_lora_alpha(record.summary.lora_alpha);
  out->set_use_rslora(record.summary.use_rslora);
  for (const std::string& target : record.summary.targets) {
    out->add_target_modules(target);
  }
  out->set_num_modules(static_cast<int32_t>(record.summary.num_modules));
  out->set_size_bytes(record.size_bytes());
  ToProtoFiles(record.files, out->mutable_files());
  SetProtoTimestamp(record.created_at, out->mutable_create_time());
  if (record.compression.has_value()) {
    const StoredCompression& stored = *record.compression;
    v1::AdapterCompression* compression = out->mutable_compression();
    compression->set_compressed(stored.compressed);
    compression->set_original_rank(static_cast<int32_t>(stored.original_rank));
    compression->set_stored_rank(static_cast<int32_t>(stored.stored_rank));
    compression->set_retained_energy(stored.retained_energy);
    ToProtoCompressionRequest(stored.request, compression->mutable_request());
    ToProtoFiles(stored.uploaded_files, compression->mutable_uploaded_files());
  }
}

void ToProtoServingState(const engine::AdapterState& state,
                         v1::AdapterServingState* out) {
  switch (state.residency) {
    case engine::AdapterResidency::kDisk:
      out->set_residency(v1::ADAPTER_RESIDENCY_DISK);
      break;
    case engine::AdapterResidency::kHost:
      out->set_residency(v1::ADAPTER_RESIDENCY_HOST);
      break;
    case engine::AdapterResidency::kDevice:
      out->set_residency(v1::ADAPTER_RESIDENCY_DEVICE);
      break;
  }
  out->set_running_requests(static_cast<int32_t>(state.running_requests));
  out->set_pinned(state.running_requests > 0);
  if (state.last_used.has_value()) {
    SetProtoTimestamp(*state.last_used, out->mutable_last_use_time());
  }
  out->set_requests(static_cast<uint64_t>(state.requests));
  out->set_prompt_tokens(static_cast<uint64_t>(state.prompt_tokens));
  out->set_completion_tokens(static_cast<uint64_t>(state.completion_tokens));
}

absl::StatusOr<UploadSpec> ToUploadSpec(const v1::UploadHeader& header,
                                        const Principal& caller) {
  UploadSpec spec;
  spec.tenant = header.owner().empty() ? caller.tenant : header.owner();
  spec.name = header.name();
  spec.description = header.description();
  ASSIGN_OR_RETURN(spec.visibility, FromProtoVisibility(header.visibility()));
  for (const v1::AdapterFile& file : header.files()) {
    spec.files.push_back(
        AdapterFileRecord{file.filename(), file.sha256(), file.size_bytes()});
  }
  ASSIGN_OR_RETURN(spec.compression, FromProtoCompression(header));
  return spec;
}

}  // namespace loraplex::service
