#include "service/grpc/generation_request.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "service/grpc/proto_conversion.h"

namespace loraplex::service {
namespace {

// `adapter` (weight 1) or the entries of `adapters` (unset weight = 1).
absl::StatusOr<std::vector<RequestedAdapter>> RequestedAdapters(
    const v1::GenerateRequest& request) {
  std::vector<RequestedAdapter> requested;
  if (!request.adapter().empty()) {
    if (request.adapters_size() > 0) {
      return absl::InvalidArgumentError(
          "adapter and adapters are mutually exclusive: set one of them");
    }
    requested.push_back(RequestedAdapter{request.adapter(), 1.0f, "adapter"});
  }
  for (int i = 0; i < request.adapters_size(); ++i) {
    const v1::AdapterWeight& entry = request.adapters(i);
    requested.push_back(RequestedAdapter{
        entry.name(), entry.has_weight() ? entry.weight() : 1.0f,
        absl::StrCat("adapters[", i, "]")});
  }
  return requested;
}

}  // namespace

absl::StatusOr<ResolvedGeneration> ResolveGeneration(
    const ServicerDeps& deps, const Principal& caller,
    const v1::GenerateRequest& request) {
  ResolvedGeneration resolved;
  ASSIGN_OR_RETURN(const std::vector<RequestedAdapter> requested,
                   RequestedAdapters(request));
  ASSIGN_OR_RETURN(resolved.adapters,
                   ResolveAdapters(*deps.registry, caller, requested));
  const engine::ModelInfo& info = deps.engine->model_info();
  const ModelLimits limits{static_cast<int32_t>(info.config.vocab_size),
                           info.max_seq_len};
  ASSIGN_OR_RETURN(
      resolved.request,
      ToEngineRequest(request, limits, /*adapter_id=*/"", caller.tenant));
  resolved.adapters.ApplyTo(resolved.request);
  return resolved;
}

absl::StatusOr<engine::RequestId> SubmitGeneration(
    const ServicerDeps& deps, ResolvedGeneration resolved,
    engine::GenerationCallback callback) {
  return SubmitWithAdapters(*deps.engine, deps.metrics,
                            std::move(resolved.request), resolved.adapters,
                            std::move(callback));
}

}  // namespace loraplex::service
