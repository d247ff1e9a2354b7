// The one place where the public API's messages (loraplex.v1) and the
// engine's and registry's plain C++ types meet. Pure functions: no gRPC
// calls, no engine calls. Request checks here implement the rules the
// proto comments document (field by field, INVALID_ARGUMENT naming the
// field); checks that need the model (vocabulary, sequence length) take its
// limits as arguments.
#ifndef LORAPLEX_SERVICE_GRPC_PROTO_CONVERSION_H_
#define LORAPLEX_SERVICE_GRPC_PROTO_CONVERSION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/generation_types.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/loraplex/v1/adapters.pb.h"
#include "proto/loraplex/v1/generation.pb.h"
#include "service/auth/access.h"
#include "service/auth/principal.h"
#include "service/frontend/request_limits.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

// Checks `request` (everything but `adapter` and `adapters`, which the
// caller resolves)
// and builds the engine request; `adapter_id` is the engine id the adapter
// resolved to ("" = base model) and `tenant` the caller's tenant, the key of
// fair admission. INVALID_ARGUMENT naming the field.
absl::StatusOr<engine::GenerationRequest> ToEngineRequest(
    const v1::GenerateRequest& request, const ModelLimits& limits,
    std::string adapter_id, std::string tenant);

// LENGTH/STOP/EOS/CANCELLED; kNone and kError (which never reach a
// response) map to UNSPECIFIED.
v1::FinishReason ToProtoFinishReason(engine::FinishReason reason);

void SetProtoDuration(absl::Duration duration, google::protobuf::Duration* out);
void SetProtoTimestamp(absl::Time time, google::protobuf::Timestamp* out);
absl::Duration FromProtoDuration(const google::protobuf::Duration& duration);

// Unary Generate: appends the event's text, ids and logprobs; the final
// event also sets finish reason, usage and timings.
void AppendEventToResponse(const engine::GenerationEvent& event,
                           v1::GenerateResponse* response);
// GenerateStream: the chunk for `event`'s text/ids/logprobs; false (and
// `out` untouched) when the event carries none.
bool EventToStreamChunk(const engine::GenerationEvent& event,
                        v1::GenerateStreamResponse* out);
// GenerateStream: the `finished` message of the final event.
void EventToStreamFinished(const engine::GenerationEvent& event,
                           v1::GenerateStreamResponse* out);

v1::Visibility ToProtoVisibility(Visibility visibility);
// UNSPECIFIED is PRIVATE (adapters.proto); values outside the enum are
// INVALID_ARGUMENT.
absl::StatusOr<Visibility> FromProtoVisibility(int visibility);

void ToProtoAdapter(const AdapterRecord& record, v1::Adapter* out);
// Adapter.serving_state from the engine's state of the adapter.
void ToProtoServingState(const engine::AdapterState& state,
                         v1::AdapterServingState* out);

// The registry's UploadSpec for an upload header sent by `caller`: an empty
// owner is the caller's tenant. Checks only what the proto adds (the
// visibility enum); names, files and sizes are checked by the registry.
absl::StatusOr<UploadSpec> ToUploadSpec(const v1::UploadHeader& header,
                                        const Principal& caller);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_PROTO_CONVERSION_H_
