// loraplex.v1.GenerationService over the engine: Generate (unary) and
// GenerateStream (server streaming), with the gRPC callback API. Both
// authenticate the call, resolve the adapter name in the registry under the
// access rules, submit to the engine with the caller's tenant as the fair
// admission key, and cancel the engine request when the client cancels or
// the deadline passes. See generation.proto for the contract.
#ifndef LORAPLEX_SERVICE_GRPC_GENERATION_SERVICE_H_
#define LORAPLEX_SERVICE_GRPC_GENERATION_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "proto/loraplex/v1/generation.grpc.pb.h"
#include "service/grpc/servicer_deps.h"

namespace loraplex::service {

class GenerationServiceImpl final
    : public v1::GenerationService::CallbackService {
 public:
  // Everything in `deps` must outlive every RPC (the server's Shutdown).
  explicit GenerationServiceImpl(const ServicerDeps& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateStreamResponse>* GenerateStream(
      grpc::CallbackServerContext* context,
      const v1::GenerateRequest* request) override;

 private:
  const ServicerDeps deps_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_GENERATION_SERVICE_H_
