#include "service/frontend/adapter_resolution.h"

#include <cmath>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "service/auth/access.h"

namespace loraplex::service {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", rule));
}

}  // namespace

void ResolvedAdapters::ApplyTo(engine::GenerationRequest& request) const {
  request.adapter_id.clear();
  request.adapters.clear();
  if (engine_adapters.size() == 1 && engine_adapters[0].weight == 1.0f) {
    request.adapter_id = engine_adapters[0].adapter_id;
  } else {
    request.adapters = engine_adapters;
  }
}

std::vector<std::string> ResolvedAdapters::Names() const {
  std::vector<std::string> names;
  names.reserve(refs.size());
  for (const AdapterRef& ref : refs) names.push_back(ref.ToString());
  return names;
}

absl::StatusOr<ResolvedAdapters> ResolveAdapters(
    const AdapterRegistry& registry, const Principal& caller,
    absl::Span<const RequestedAdapter> requested) {
  if (requested.size() > static_cast<size_t>(engine::kMaxMixedAdapters)) {
    return FieldError(requested[engine::kMaxMixedAdapters].field,
                      absl::StrCat("is past the limit: a request mixes at "
                                   "most ",
                                   engine::kMaxMixedAdapters, " adapters (got ",
                                   requested.size(), ")"));
  }
  ResolvedAdapters resolved;
  for (size_t i = 0; i < requested.size(); ++i) {
    const RequestedAdapter& adapter = requested[i];
    if (!std::isfinite(adapter.weight) ||
        std::abs(adapter.weight) > engine::kMaxAdapterWeight) {
      return FieldError(absl::StrCat(adapter.field, ".weight"),
                        absl::StrCat("must be finite and within [-",
                                     engine::kMaxAdapterWeight, ", ",
                                     engine::kMaxAdapterWeight, "] (got ",
                                     adapter.weight, ")"));
    }
    absl::StatusOr<AdapterRef> ref =
        ParseAdapterRef(adapter.name, caller.tenant);
    if (!ref.ok()) {
      return FieldError(adapter.field, ref.status().message());
    }
    for (size_t j = 0; j < i; ++j) {
      if (resolved.refs[j] == *ref) {
        return FieldError(
            adapter.field,
            absl::StrCat("names adapter ", ref->ToString(), ", as ",
                         requested[j].field, " does: each may appear once"));
      }
    }
    resolved.refs.push_back(*std::move(ref));
  }
  for (size_t i = 0; i < resolved.refs.size(); ++i) {
    const AdapterRef& ref = resolved.refs[i];
    ASSIGN_OR_RETURN(const AdapterRecord record, registry.Get(ref));
    RETURN_IF_ERROR(CheckAdapterAccess(caller, AdapterAction::kUse, ref,
                                       record.visibility));
    resolved.engine_adapters.push_back(engine::WeightedAdapter{
        record.engine_adapter_id(), requested[i].weight});
  }
  return resolved;
}

absl::StatusOr<engine::RequestId> SubmitWithAdapters(
    engine::Engine& engine, ServerMetrics* metrics,
    engine::GenerationRequest request, const ResolvedAdapters& adapters,
    engine::GenerationCallback callback) {
  if (metrics != nullptr && metrics->labels_adapters() &&
      !adapters.refs.empty()) {
    callback = [metrics, names = adapters.Names(), inner = std::move(callback)](
                   const engine::GenerationEvent& event) {
      if (event.finished &&
          event.finish_reason != engine::FinishReason::kError &&
          event.finish_reason != engine::FinishReason::kCancelled) {
        metrics->RecordAdapterGeneration(names, event.usage, event.timings);
      }
      inner(event);
    };
  }
  absl::StatusOr<engine::RequestId> id =
      engine.Submit(std::move(request), std::move(callback));
  if (absl::IsNotFound(id.status()) && !adapters.refs.empty()) {
    // Deleted between the registry lookup and the submission: name the one
    // the engine no longer knows.
    std::vector<std::string> ids;
    for (const engine::WeightedAdapter& a : adapters.engine_adapters) {
      ids.push_back(a.adapter_id);
    }
    const std::vector<std::optional<engine::AdapterState>> states =
        engine.GetAdapterStates(ids);
    for (size_t i = 0; i < states.size() && i < adapters.refs.size(); ++i) {
      if (!states[i].has_value()) return AdapterNotFoundError(adapters.refs[i]);
    }
    return AdapterNotFoundError(adapters.refs.front());
  }
  return id;
}

}  // namespace loraplex::service
