// Internal to the adapter servicer: the reactor of one UploadAdapter call.
// It feeds the client's header and chunks into a StagedUpload of the
// registry as they arrive (one read in flight at a time), and when the
// client closes its side commits on the BlockingExecutor (verify sha256,
// validate against the base model, fsync, rename), registers the new
// adapter with the engine and answers with the stored Adapter. Any error,
// or a client that cancels or drops the stream, ends the call and destroys
// the StagedUpload, which discards everything received (all or nothing).
#ifndef LORAPLEX_SERVICE_GRPC_UPLOAD_REACTOR_H_
#define LORAPLEX_SERVICE_GRPC_UPLOAD_REACTOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "proto/loraplex/v1/adapters.pb.h"
#include "service/auth/principal.h"
#include "service/grpc/servicer_deps.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

class UploadAdapterReactor final
    : public grpc::ServerReadReactor<v1::UploadAdapterRequest> {
 public:
  // Authenticates and starts reading; deletes itself in OnDone.
  UploadAdapterReactor(const ServicerDeps& deps,
                       grpc::CallbackServerContext* context,
                       v1::Adapter* response);

  void OnReadDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Reactions run one at a time (a single read is in flight), and Commit
  // runs only after the last read; so the members below need no lock,
  // except `cancelled_`, which OnCancel may set at any time.
  absl::Status HandleMessage(const v1::UploadAdapterRequest& message);
  absl::Status HandleHeader(const v1::UploadHeader& header);
  absl::Status HandleChunk(const v1::FileChunk& chunk);
  // On the BlockingExecutor: commit, register with the engine, End.
  void Commit();
  absl::Status CommitAndRegister();
  // Ends the call (exactly once): discards an uncommitted upload, records
  // the metrics, Finish.
  void End(absl::Status status);

  const ServicerDeps deps_;
  grpc::CallbackServerContext* const context_;
  v1::Adapter* const response_;
  Principal caller_;
  bool authenticated_ = false;
  std::unique_ptr<StagedUpload> staged_;
  v1::UploadAdapterRequest message_;  // Target of the read in flight.
  uint64_t bytes_received_ = 0;
  std::atomic<bool> cancelled_{false};
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_UPLOAD_REACTOR_H_
