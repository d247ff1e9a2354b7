#include "service/grpc/adapter_service.h"

#include <utility>

#include "absl/time/clock.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "service/auth/names.h"
#include "service/grpc/call_auth.h"
#include "service/grpc/proto_conversion.h"
#include "service/grpc/status_conversion.h"
#include "service/grpc/upload_reactor.h"

namespace loraplex::service {

grpc::ServerReadReactor<v1::UploadAdapterRequest>*
AdapterServiceImpl::UploadAdapter(grpc::CallbackServerContext* context,
                                  v1::Adapter* response) {
  return new UploadAdapterReactor(deps_, context, response);
}

grpc::ServerUnaryReactor* AdapterServiceImpl::GetAdapter(
    grpc::CallbackServerContext* context, const v1::GetAdapterRequest* request,
    v1::Adapter* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = AuthenticateCall(*deps_.api_keys, *context);
  const absl::Status status =
      caller.ok() ? Get(*caller, *request, response) : caller.status();
  FinishUnary(reactor, "GetAdapter", caller.ok() ? caller->tenant : "",
              status);
  return reactor;
}

grpc::ServerUnaryReactor* AdapterServiceImpl::ListAdapters(
    grpc::CallbackServerContext* context,
    const v1::ListAdaptersRequest* request,
    v1::ListAdaptersResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = AuthenticateCall(*deps_.api_keys, *context);
  const absl::Status status =
      caller.ok() ? List(*caller, *request, response) : caller.status();
  FinishUnary(reactor, "ListAdapters", caller.ok() ? caller->tenant : "",
              status);
  return reactor;
}

grpc::ServerUnaryReactor* AdapterServiceImpl::DeleteAdapter(
    grpc::CallbackServerContext* context,
    const v1::DeleteAdapterRequest* request,
    v1::DeleteAdapterResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = AuthenticateCall(*deps_.api_keys, *context);
  const absl::Status status =
      caller.ok() ? Delete(*caller, *request, response) : caller.status();
  FinishUnary(reactor, "DeleteAdapter", caller.ok() ? caller->tenant : "",
              status);
  return reactor;
}

grpc::ServerUnaryReactor* AdapterServiceImpl::LoadAdapter(
    grpc::CallbackServerContext* context, const v1::LoadAdapterRequest* request,
    v1::LoadAdapterResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = AuthenticateCall(*deps_.api_keys, *context);
  absl::StatusOr<AdapterRecord> record =
      caller.ok() ? Lookup(*caller, request->name(), AdapterAction::kUse)
                  : caller.status();
  const std::string tenant = caller.ok() ? caller->tenant : "";
  if (!record.ok()) {
    FinishUnary(reactor, "LoadAdapter", tenant, record.status());
    return reactor;
  }
  // The device copy may take a while: wait for it off gRPC's threads.
  deps_.executor->Schedule(
      [this, reactor, tenant, record = *std::move(record), response] {
        FinishUnary(reactor, "LoadAdapter", tenant, Load(record, response));
      });
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
  return absl::OkStatus();
}

absl::Status AdapterServiceImpl::List(const Principal& caller,
                                      const v1::ListAdaptersRequest& request,
                                      v1::ListAdaptersResponse* response) const {
  ListQuery query;
  query.viewer = caller;
  query.tenant = request.owner();
  query.page_size = request.page_size();
  query.page_token = request.page_token();
  ASSIGN_OR_RETURN(const AdapterPage page, deps_.registry->List(query));
  for (const AdapterRecord& record : page.records) {
    ToProtoAdapter(record, response->add_adapters());
  }
  response->set_next_page_token(page.next_page_token);
  return absl::OkStatus();
}

absl::Status AdapterServiceImpl::Delete(const Principal& caller,
                                        const v1::DeleteAdapterRequest& request,
                                        v1::DeleteAdapterResponse* response) {
  ASSIGN_OR_RETURN(const AdapterRecord found,
                   Lookup(caller, request.name(), AdapterAction::kDelete));
  // Unpublish first: new requests answer NOT_FOUND from here on. The engine
  // then lets running requests finish before it frees the adapter.
  ASSIGN_OR_RETURN(const AdapterRecord deleted,
                   deps_.registry->Delete(found.ref()));
  const absl::Status unregistered =
      deps_.engine->UnregisterAdapter(deleted.engine_adapter_id());
  if (!unregistered.ok()) {
    LogWarning("adapter %s deleted but not unregistered from the engine: %s",
               deleted.ref().ToString(), unregistered.ToString());
  }
  ToProtoAdapter(deleted, response->mutable_adapter());
  return absl::OkStatus();
}

absl::Status AdapterServiceImpl::Load(const AdapterRecord& record,
                                      v1::LoadAdapterResponse* response) {
  const absl::Time start = absl::Now();
  const absl::Status loaded =
      deps_.engine->LoadAdapter(record.engine_adapter_id());
  if (absl::IsNotFound(loaded)) {
    return AdapterNotFoundError(record.ref());  // Deleted meanwhile.
  }
  RETURN_IF_ERROR(loaded);
  ToProtoAdapter(record, response->mutable_adapter());
  SetProtoDuration(absl::Now() - start, response->mutable_load_time());
  return absl::OkStatus();
}

void AdapterServiceImpl::FinishUnary(grpc::ServerUnaryReactor* reactor,
                                     const char* rpc, const std::string& tenant,
                                     const absl::Status& status) {
  deps_.metrics->RecordRequest(tenant, rpc, status.code());
  reactor->Finish(ToGrpcStatus(status));
}

}  // namespace loraplex::service
