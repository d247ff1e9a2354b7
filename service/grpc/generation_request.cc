#include "service/grpc/generation_request.h"

#include <string>
#include <utility>

#include "engine/common/status_macros.h"
#include "service/auth/access.h"
#include "service/grpc/proto_conversion.h"

namespace loraplex::service {

absl::StatusOr<ResolvedGeneration> ResolveGeneration(
    const ServicerDeps& deps, const Principal& caller,
    const v1::GenerateRequest& request) {
  ResolvedGeneration resolved;
  std::string adapter_id;
  if (!request.adapter().empty()) {
    ASSIGN_OR_RETURN(AdapterRef ref,
                     ParseAdapterRef(request.adapter(), caller.tenant));
    ASSIGN_OR_RETURN(AdapterRecord record, deps.registry->Get(ref));
    RETURN_IF_ERROR(CheckAdapterAccess(caller, AdapterAction::kUse, ref,
                                       record.visibility));
    adapter_id = record.engine_adapter_id();
    resolved.adapter = std::move(ref);
  }
  const engine::ModelInfo& info = deps.engine->model_info();
  const ModelLimits limits{static_cast<int32_t>(info.config.vocab_size),
                           info.max_seq_len};
  ASSIGN_OR_RETURN(
      resolved.request,
      ToEngineRequest(request, limits, std::move(adapter_id), caller.tenant));
  return resolved;
}

absl::StatusOr<engine::RequestId> SubmitGeneration(
    const ServicerDeps& deps, ResolvedGeneration resolved,
    engine::GenerationCallback callback) {
  absl::StatusOr<engine::RequestId> id =
      deps.engine->Submit(std::move(resolved.request), std::move(callback));
  if (absl::IsNotFound(id.status()) && resolved.adapter.has_value()) {
    // Deleted between the registry lookup and the submission.
    return AdapterNotFoundError(*resolved.adapter);
  }
  return id;
}

}  // namespace loraplex::service
