// loraplex.v1.AdapterService over the registry and the engine, with the
// gRPC callback API: UploadAdapter (client streaming, upload_reactor.h) and
// the unary Get/List/Delete/LoadAdapter (DefaultReactor). Requests arrive as
// raw bytes and are parsed here (Note [Raw requests] in raw_messages.h).
// Every call is authenticated; access follows service/auth/access.h (an
// adapter the caller may not see is NOT_FOUND). See adapters.proto for the
// contract.
//
// Threads (Note [No RPC kind starves another] in blocking_executor.h):
// Get and List answer on gRPC's thread (memory only); LoadAdapter holds no
// thread while the engine works (Engine::LoadAdapterAsync); Delete's file
// I/O runs on the registry executor, upload commits on the upload executor.
#ifndef LORAPLEX_SERVICE_GRPC_ADAPTER_SERVICE_H_
#define LORAPLEX_SERVICE_GRPC_ADAPTER_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "service/auth/access.h"
#include "service/auth/principal.h"
#include "service/grpc/servicer_deps.h"
#include "service/registry/adapter_record.h"

namespace loraplex::service {

// The generated service with every method taking raw bytes.
using RawAdapterService =
    v1::AdapterService::WithRawCallbackMethod_UploadAdapter<
        v1::AdapterService::WithRawCallbackMethod_GetAdapter<
            v1::AdapterService::WithRawCallbackMethod_ListAdapters<
                v1::AdapterService::WithRawCallbackMethod_DeleteAdapter<
                    v1::AdapterService::WithRawCallbackMethod_LoadAdapter<
                        v1::AdapterService::Service>>>>>;

class AdapterServiceImpl final : public RawAdapterService {
 public:
  // Everything in `deps` must outlive every RPC (the server's Shutdown).
  explicit AdapterServiceImpl(const ServicerDeps& deps) : deps_(deps) {}

  grpc::ServerReadReactor<grpc::ByteBuffer>* UploadAdapter(
      grpc::CallbackServerContext* context,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetAdapter(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListAdapters(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteAdapter(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* LoadAdapter(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;

 private:
  // The record `name` refers to, if `caller` may do `action` to it.
  absl::StatusOr<AdapterRecord> Lookup(const Principal& caller,
                                       const std::string& name,
                                       AdapterAction action) const;

  absl::Status Get(const Principal& caller,
                   const v1::GetAdapterRequest& request,
                   v1::Adapter* response) const;
  absl::Status List(const Principal& caller,
                    const v1::ListAdaptersRequest& request,
                    v1::ListAdaptersResponse* response) const;
  // On the registry executor. Note [Deleting an adapter in use].
  absl::Status Delete(const Principal& caller,
                      const v1::DeleteAdapterRequest& request,
                      v1::DeleteAdapterResponse* response);
  // Starts the engine's load; `reactor` finishes when it is done.
  void StartLoad(grpc::CallbackServerContext* context,
                 grpc::ServerUnaryReactor* reactor, std::string tenant,
                 AdapterRecord record, grpc::ByteBuffer* response);

  // Records the outcome and finishes `reactor` with `status`; on OK,
  // `reply` is serialized into `response` first.
  void FinishUnary(grpc::CallbackServerContext* context,
                   grpc::ServerUnaryReactor* reactor, const char* rpc,
                   const std::string& tenant, absl::Status status,
                   const google::protobuf::Message& reply,
                   grpc::ByteBuffer* response);

  const ServicerDeps deps_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_ADAPTER_SERVICE_H_
