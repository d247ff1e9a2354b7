#include "service/grpc/adapter_service.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "service/auth/names.h"
#include "service/grpc/call_auth.h"
#include "service/grpc/proto_conversion.h"
#include "service/grpc/raw_messages.h"
#include "service/grpc/status_conversion.h"
#include "service/grpc/upload_reactor.h"

namespace loraplex::service {
namespace {

// Sets out[i]'s serving_state from the engine's state of records[i] (one
// engine call, which never waits for a step); none for an adapter the
// engine does not serve.
void SetServingStates(const engine::Engine& engine,
                      const std::vector<const AdapterRecord*>& records,
                      const std::vector<v1::Adapter*>& out) {
  std::vector<std::string> ids;
  ids.reserve(records.size());
  for (const AdapterRecord* record : records) {
    ids.push_back(record->engine_adapter_id());
  }
  const std::vector<std::optional<engine::AdapterState>> states =
      engine.GetAdapterStates(ids);
  for (size_t i = 0; i < states.size() && i < out.size(); ++i) {
    if (states[i].has_value()) {
      ToProtoServingState(*states[i], out[i]->mutable_serving_state());
    }
  }
}

}  // namespace

grpc::ServerReadReactor<grpc::ByteBuffer>* AdapterServiceImpl::UploadAdapter(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  return new UploadAdapterReactor(deps_, context, response);
}

grpc::ServerUnaryReactor* AdapterServiceImpl::GetAdapter(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = AdmitCall(deps_, *context);
  v1::GetAdapterRequest parsed;
  v1::Adapter reply;
  absl::Status status = caller.status();
  if (status.ok()) status = ParseRequest(*request, &parsed);
  if (status.ok()) status = Get(*caller, parsed, &reply);
  FinishUnary(context, reactor, "GetAdapter", caller.ok() ? caller->tenant : "",
              status, reply, response);
  return reactor;
}

grpc::ServerUnaryReactor* AdapterServiceImpl::ListAdapters(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = AdmitCall(deps_, *context);
  v1::ListAdaptersRequest parsed;
  v1::ListAdaptersResponse reply;
  absl::Status status = caller.status();
  if (status.ok()) status = ParseRequest(*request, &parsed);
  if (status.ok()) status = List(*caller, parsed, &reply);
  FinishUnary(context, reactor, "ListAdapters",
              caller.ok() ? caller->tenant : "", status, reply, response);
  return reactor;
}

grpc::ServerUnaryReactor* AdapterServiceImpl::DeleteAdapter(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = AdmitCall(deps_, *context);
  v1::DeleteAdapterRequest parsed;
  absl::Status status = caller.status();
  if (status.ok()) status = ParseRequest(*request, &parsed);
  if (status.ok()) {
    // The registry's file I/O runs off gRPC's threads.
    status = deps_.registry_executor->TrySchedule(
        caller->tenant,
        [this, context, reactor, principal = *caller, parsed, response] {
          v1::DeleteAdapterResponse reply;
          const absl::Status deleted = Delete(principal, parsed, &reply);
          FinishUnary(context, reactor, "DeleteAdapter", principal.tenant,
                      deleted, reply, response);
        });
    if (status.ok()) return reactor;
  }
  FinishUnary(context, reactor, "DeleteAdapter",
              caller.ok() ? caller->tenant : "", status,
              v1::DeleteAdapterResponse(), response);
  return reactor;
}

grpc::ServerUnaryReactor* AdapterServiceImpl::LoadAdapter(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = AdmitCall(deps_, *context);
  v1::LoadAdapterRequest parsed;
  absl::Status status = caller.status();
  if (status.ok()) status = ParseRequest(*request, &parsed);
  absl::StatusOr<AdapterRecord> record =
      status.ok() ? Lookup(*caller, parsed.name(), AdapterAction::kUse)
                  : absl::StatusOr<AdapterRecord>(status);
  const std::string tenant = caller.ok() ? caller->tenant : "";
  if (!record.ok()) {
    FinishUnary(context, reactor, "LoadAdapter", tenant, record.status(),
                v1::LoadAdapterResponse(), response);
    return reactor;
  }
  StartLoad(context, reactor, tenant, *std::move(record), response);
  return reactor;
}

absl::StatusOr<AdapterRecord> AdapterServiceImpl::Lookup(
    const Principal& caller, const std::string& name,
    AdapterAction action) const {
  ASSIGN_OR_RETURN(const AdapterRef ref, ParseAdapterRef(name, caller.tenant));
  ASSIGN_OR_RETURN(AdapterRecord record, deps_.registry->Get(ref));
  RETURN_IF_ERROR(CheckAdapterAccess(caller, action, ref, record.visibility));
  return record;
}

absl::Status AdapterServiceImpl::Get(const Principal& caller,
                                     const v1::GetAdapterRequest& request,
                                     v1::Adapter* response) const {
  ASSIGN_OR_RETURN(const AdapterRecord record,
                   Lookup(caller, request.name(), AdapterAction::kRead));
  ToProtoAdapter(record, response);
  SetServingStates(*deps_.engine, {&record}, {response});
  return absl::OkStatus();
}

absl::Status AdapterServiceImpl::List(
    const Principal& caller, const v1::ListAdaptersRequest& request,
    v1::ListAdaptersResponse* response) const {
  ListQuery query;
  query.viewer = caller;
  query.tenant = request.owner();
  query.page_size = request.page_size();
  query.page_token = request.page_token();
  ASSIGN_OR_RETURN(const AdapterPage page, deps_.registry->List(query));
  std::vector<const AdapterRecord*> records;
  std::vector<v1::Adapter*> adapters;
  for (const AdapterRecord& record : page.records) {
    records.push_back(&record);
    adapters.push_back(response->add_adapters());
    ToProtoAdapter(record, adapters.back());
  }
  SetServingStates(*deps_.engine, records, adapters);
  response->set_next_page_token(page.next_page_token);
  return absl::OkStatus();
}

absl::Status AdapterServiceImpl::Delete(const Principal& caller,
                                        const v1::DeleteAdapterRequest& request,
                                        v1::DeleteAdapterResponse* response) {
  ASSIGN_OR_RETURN(const AdapterRecord found,
                   Lookup(caller, request.name(), AdapterAction::kDelete));
  // Note [Deleting an adapter in use]: gone from the registry at once and
  // for good (new requests answer NOT_FOUND); the engine lets the requests
  // already submitted finish with this version, and says when it will never
  // read the files again; only then are they removed.
  ASSIGN_OR_RETURN(const AdapterRecord deleted,
                   deps_.registry->Delete(found.ref()));
  AdapterRegistry* const registry = deps_.registry;
  BlockingExecutor* const executor = deps_.registry_executor;
  const absl::Status unregistered = deps_.engine->UnregisterAdapter(
      deleted.engine_adapter_id(), [registry, executor, deleted] {
        // On an engine thread, which must not block: the removal is file
        // I/O. Should the queue be full, the next start removes them.
        const absl::Status scheduled = executor->TrySchedule(
            deleted.tenant,
            [registry, deleted] { registry->ReleaseDeletedFiles(deleted); });
        if (!scheduled.ok()) {
          LogWarning("adapter %s: files left for the next start: %s",
                     deleted.ref().ToString(), scheduled.ToString());
        }
      });
  if (!unregistered.ok()) {
    // The engine never had it (it failed to register at start-up).
    LogWarning("adapter %s deleted but not unregistered from the engine: %s",
               deleted.ref().ToString(), unregistered.ToString());
    registry->ReleaseDeletedFiles(deleted);
  }
  ToProtoAdapter(deleted, response->mutable_adapter());
  return absl::OkStatus();
}

void AdapterServiceImpl::StartLoad(grpc::CallbackServerContext* context,
                                   grpc::ServerUnaryReactor* reactor,
                                   std::string tenant, AdapterRecord record,
                                   grpc::ByteBuffer* response) {
  const absl::Time start = absl::Now();
  const std::string adapter_id = record.engine_adapter_id();
  // No thread waits: `done` runs on the engine's loop thread when the
  // adapter is resident, or at once when it cannot be made so (every slot
  // pinned is RESOURCE_EXHAUSTED at once).
  deps_.engine->LoadAdapterAsync(
      adapter_id,
      [this, context, reactor, tenant = std::move(tenant),
       record = std::move(record), response, start](absl::Status loaded) {
        if (absl::IsNotFound(loaded)) {
          loaded = AdapterNotFoundError(record.ref());  // Deleted meanwhile.
        }
        v1::LoadAdapterResponse reply;
        if (loaded.ok()) {
          ToProtoAdapter(record, reply.mutable_adapter());
          SetServingStates(*deps_.engine, {&record}, {reply.mutable_adapter()});
          SetProtoDuration(absl::Now() - start, reply.mutable_load_time());
        }
        FinishUnary(context, reactor, "LoadAdapter", tenant, loaded, reply,
                    response);
      });
}

void AdapterServiceImpl::FinishUnary(grpc::CallbackServerContext* context,
                                     grpc::ServerUnaryReactor* reactor,
                                     const char* rpc, const std::string& tenant,
                                     absl::Status status,
                                     const google::protobuf::Message& reply,
                                     grpc::ByteBuffer* response) {
  if (status.ok()) status = SerializeReply(reply, response);
  deps_.metrics->RecordRequest(ServerMetrics::Api::kGrpc, tenant, rpc,
                               status.code());
  reactor->Finish(ToClientStatus(status, *deps_.scrubber, *context));
}

}  // namespace loraplex::service
