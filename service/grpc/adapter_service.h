// loraplex.v1.AdapterService over the registry and the engine, with the
// gRPC callback API: UploadAdapter (client streaming, upload_reactor.h) and
// the unary Get/List/Delete/LoadAdapter (DefaultReactor). Every call is
// authenticated; access follows service/auth/access.h (an adapter the
// caller may not see is NOT_FOUND). See adapters.proto for the contract.
#ifndef LORAPLEX_SERVICE_GRPC_ADAPTER_SERVICE_H_
#define LORAPLEX_SERVICE_GRPC_ADAPTER_SERVICE_H_

#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "service/auth/access.h"
#include "service/auth/principal.h"
#include "service/grpc/servicer_deps.h"
#include "service/registry/adapter_record.h"

namespace loraplex::service {

class AdapterServiceImpl final : public v1::AdapterService::CallbackService {
 public:
  // Everything in `deps` must outlive every RPC (the server's Shutdown).
  explicit AdapterServiceImpl(const ServicerDeps& deps) : deps_(deps) {}

  grpc::ServerReadReactor<v1::UploadAdapterRequest>* UploadAdapter(
      grpc::CallbackServerContext* context, v1::Adapter* response) override;
  grpc::ServerUnaryReactor* GetAdapter(grpc::CallbackServerContext* context,
                                       const v1::GetAdapterRequest* request,
                                       v1::Adapter* response) override;
  grpc::ServerUnaryReactor* ListAdapters(
      grpc::CallbackServerContext* context,
      const v1::ListAdaptersRequest* request,
      v1::ListAdaptersResponse* response) override;
  grpc::ServerUnaryReactor* DeleteAdapter(
      grpc::CallbackServerContext* context,
      const v1::DeleteAdapterRequest* request,
      v1::DeleteAdapterResponse* response) override;
  grpc::ServerUnaryReactor* LoadAdapter(grpc::CallbackServerContext* context,
                                        const v1::LoadAdapterRequest* request,
                                        v1::LoadAdapterResponse* response)
      override;

 private:
  // The record `name` refers to, if `caller` may do `action` to it.
  absl::StatusOr<AdapterRecord> Lookup(const Principal& caller,
                                       const std::string& name,
                                       AdapterAction action) const;

  absl::Status Get(const Principal& caller, const v1::GetAdapterRequest& request,
                   v1::Adapter* response) const;
  absl::Status List(const Principal& caller,
                    const v1::ListAdaptersRequest& request,
                    v1::ListAdaptersResponse* response) const;
  absl::Status Delete(const Principal& caller,
                      const v1::DeleteAdapterRequest& request,
                      v1::DeleteAdapterResponse* response);
  // Blocks until the adapter is resident: runs on the BlockingExecutor.
  absl::Status Load(const AdapterRecord& record,
                    v1::LoadAdapterResponse* response);

  // Records the outcome and finishes `reactor` with `status`.
  void FinishUnary(grpc::ServerUnaryReactor* reactor, const char* rpc,
                   const std::string& tenant, const absl::Status& status);

  const ServicerDeps deps_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_ADAPTER_SERVICE_H_
