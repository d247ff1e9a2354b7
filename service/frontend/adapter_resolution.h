// The adapters one generate request uses, for every API (gRPC, HTTP): the
// (name, weight) pairs a client sent -> registry records under the access
// rules -> engine adapter ids, with the mix rules of generation.proto's
// GenerateRequest.adapters; and the engine submission that reports an
// adapter deleted meanwhile in the API's words and feeds the per-adapter
// metrics. Protocol-neutral: no gRPC, no HTTP.
#ifndef LORAPLEX_SERVICE_FRONTEND_ADAPTER_RESOLUTION_H_
#define LORAPLEX_SERVICE_FRONTEND_ADAPTER_RESOLUTION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "engine/generation_types.h"
#include "service/auth/names.h"
#include "service/auth/principal.h"
#include "service/metrics/server_metrics.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

// One adapter a generate request names, as an API received it.
struct RequestedAdapter {
  std::string name;     // "<name>" or "<owner>/<name>".
  float weight = 1.0f;  // Its weight in a mix.
  // The request field it came from, named in error messages ("adapter",
  // "adapters[1]", the HTTP API's "model", ...).
  std::string field;
};

// The adapters of one request, resolved.
struct ResolvedAdapters {
  std::vector<AdapterRef> refs;  // In request order; empty = the base model.
  std::vector<engine::WeightedAdapter> engine_adapters;  // Parallel to refs.

  // Sets `request`'s adapter_id (one adapter at weight 1: the plain path,
  // bit for bit) or its adapters (a mix); neither for the base model.
  void ApplyTo(engine::GenerationRequest& request) const;
  // "<owner>/<name>" of each, the adapter label of the metrics.
  std::vector<std::string> Names() const;
};

// Resolves `requested` for `caller`. INVALID_ARGUMENT (the message names
// the entry's field) for more than engine::kMaxMixedAdapters entries, a
// weight that is not finite or beyond engine::kMaxAdapterWeight, an invalid
// name, or the same adapter named twice (also as "<name>" and
// "<owner>/<name>"); NOT_FOUND when one is missing or `caller` may not use
// it (service/auth/access.h). Every entry is checked before any is looked
// up. Thread-safe (the registry's lookups are in memory).
absl::StatusOr<ResolvedAdapters> ResolveAdapters(
    const AdapterRegistry& registry, const Principal& caller,
    absl::Span<const RequestedAdapter> requested);

// engine.Submit(request, callback) for a request to which `adapters` was
// applied. NOT_FOUND for one of them (deleted since it was resolved) is
// reported as the API's "adapter not found" for that adapter. When
// `metrics` labels series by adapter (Note [Adapter metric labels] in
// server_metrics.h), each successful final event is also recorded for the
// request's adapters. On success `callback` receives the request's events
// (see Engine::Submit); on error it is never called.
absl::StatusOr<engine::RequestId> SubmitWithAdapters(
    engine::Engine& engine, ServerMetrics* metrics,
    engine::GenerationRequest request, const ResolvedAdapters& adapters,
    engine::GenerationCallback callback);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_FRONTEND_ADAPTER_RESOLUTION_H_
