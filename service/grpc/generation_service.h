// loraplex.v1.GenerationService over the engine: Generate (unary) and
// GenerateStream (server streaming), with the gRPC callback API. Both
// authenticate the call, resolve the adapter name in the registry under the
// access rules, submit to the engine with the caller's tenant as the fair
// admission key, and cancel the engine request when the client cancels or
// the deadline passes. Requests arrive as raw bytes and are parsed here
// (Note [Raw requests] in raw_messages.h). See generation.proto for the
// contract.
#ifndef LORAPLEX_SERVICE_GRPC_GENERATION_SERVICE_H_
#define LORAPLEX_SERVICE_GRPC_GENERATION_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "proto/loraplex/v1/generation.grpc.pb.h"
#include "service/grpc/servicer_deps.h"

namespace loraplex::service {

// The generated service with both methods taking raw bytes.
using RawGenerationService =
    v1::GenerationService::WithRawCallbackMethod_Generate<
        v1::GenerationService::WithRawCallbackMethod_GenerateStream<
            v1::GenerationService::Service>>;

class GenerationServiceImpl final : public RawGenerationService {
 public:
  // Everything in `deps` must outlive every RPC (the server's Shutdown).
  explicit GenerationServiceImpl(const ServicerDeps& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* GenerateStream(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

 private:
  const ServicerDeps deps_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_GENERATION_SERVICE_H_
