// Turns an authenticated GenerateRequest into an engine submission: the
// adapter or mix of adapters it names -> registry records (with the access
// and mix rules) -> engine adapter ids (service/frontend/
// adapter_resolution.h, shared with the HTTP API), then the field checks
// and mapping of proto_conversion.h.
#ifndef LORAPLEX_SERVICE_GRPC_GENERATION_REQUEST_H_
#define LORAPLEX_SERVICE_GRPC_GENERATION_REQUEST_H_

#include "absl/status/statusor.h"
#include "engine/generation_types.h"
#include "proto/loraplex/v1/generation.pb.h"
#include "service/auth/principal.h"
#include "service/frontend/adapter_resolution.h"
#include "service/grpc/servicer_deps.h"

namespace loraplex::service {

struct ResolvedGeneration {
  engine::GenerationRequest request;  // With the adapters applied.
  ResolvedAdapters adapters;          // Empty for the base model.
};

// INVALID_ARGUMENT (a field; `adapter` and `adapters` both set; the mix
// rules of GenerateRequest.adapters), NOT_FOUND (an adapter is missing or
// `caller` may not use it; see service/auth/access.h).
absl::StatusOr<ResolvedGeneration> ResolveGeneration(
    const ServicerDeps& deps, const Principal& caller,
    const v1::GenerateRequest& request);

// SubmitWithAdapters (service/frontend/adapter_resolution.h): Engine::Submit
// with its NOT_FOUND for an adapter deleted since it was resolved reported
// as the API's "adapter not found". On success `callback` receives the
// request's events (see Engine::Submit).
absl::StatusOr<engine::RequestId> SubmitGeneration(
    const ServicerDeps& deps, ResolvedGeneration resolved,
    engine::GenerationCallback callback);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_GENERATION_REQUEST_H_
