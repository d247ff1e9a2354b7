// Internal to the adapter servicer: the reactor of one UploadAdapter call.
// It takes an upload slot (Note [Upload limits] in upload_supervisor.h),
// feeds the client's header and chunks into a StagedUpload of the registry
// as they arrive (one read in flight at a time; raw messages, Note [Raw
// requests]), and when the client closes its side commits on the upload
// executor (verify sha256, validate against the base model, fsync, rename),
// registers the new adapter with the engine and answers with the stored
// Adapter. Any error, a deadline, or a client that cancels or drops the
// stream ends the call, and the StagedUpload is destroyed, which discards
// everything received (all or nothing). A repeated upload of a stored
// adapter answers with it (Note [Idempotent upload] in adapter_registry.h).
#ifndef LORAPLEX_SERVICE_GRPC_UPLOAD_REACTOR_H_
#define LORAPLEX_SERVICE_GRPC_UPLOAD_REACTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "proto/loraplex/v1/adapters.pb.h"
#include "service/auth/principal.h"
#include "service/grpc/servicer_deps.h"
#include "service/grpc/upload_supervisor.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

class UploadAdapterReactor final
    : public grpc::ServerReadReactor<grpc::ByteBuffer>,
      private UploadDeadlineSink {
 public:
  // Authenticates, takes an upload slot and starts reading; deletes itself
  // in OnDone.
  UploadAdapterReactor(const ServicerDeps& deps,
                       grpc::CallbackServerContext* context,
                       grpc::ByteBuffer* response);

  void OnReadDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  enum class Phase {
    kReceiving,   // Reading the header and chunks.
    kCommitting,  // Every byte came; the commit runs on the executor.
    kEnded,       // Finish was called.
  };

  // What a Finish may outlive: once Finish is called, OnDone may run on
  // another thread and delete the reactor, so a thread that may call
  // Finish under the mutex first takes its own reference to this state
  // (`keep_alive`); the lock's unlock then touches only the state.
  struct CallState {
    absl::Mutex mu;
    Phase phase ABSL_GUARDED_BY(mu) = Phase::kReceiving;
  };

  // A deadline of the upload passed (supervisor thread, lease mutex held:
  // OnDone waits for it in the lease's Detach).
  void OnDeadlineLocked(absl::Status status) override;

  // Reactions run one at a time (a single read is in flight) and the commit
  // runs only after the last read, so `staged_`, `caller_` and the message
  // buffers need no lock; the phase does, because a deadline may end the
  // call from another thread.
  absl::Status HandleMessage();
  absl::Status HandleHeader(const v1::UploadHeader& header);
  absl::Status HandleChunk(const v1::FileChunk& chunk);
  // The client sent everything: commit on the upload executor.
  void StartCommitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_->mu);
  // On the upload executor: commit, register with the engine, end.
  void Commit();
  absl::Status CommitAndRegister();
  // Ends the call (once): records the metrics, Finish. The StagedUpload is
  // destroyed (discarding an uncommitted upload) in OnDone, once no
  // reaction can touch it any more.
  // The caller must not touch the reactor afterwards.
  void EndLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_->mu);

  const ServicerDeps deps_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;
  Principal caller_;
  bool authenticated_ = false;
  std::unique_ptr<UploadLease> lease_;  // Set while admitted.
  std::unique_ptr<StagedUpload> staged_;
  grpc::ByteBuffer request_;  // Target of the read in flight.
  v1::UploadAdapterRequest message_;
  v1::Adapter reply_;
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<bool> cancelled_{false};
  const std::shared_ptr<CallState> call_ = std::make_shared<CallState>();
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_UPLOAD_REACTOR_H_
