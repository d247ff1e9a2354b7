// Internal to the generation servicer: what the unary and the streaming
// generate reactors share: authentication, submission to the engine,
// delivery of engine events, cancellation, and the one place an RPC is
// finished (and counted in the metrics).
//
// Note [Engine events to reactors]: the engine calls a request's callback on
// its loop thread, which must never block and which may run it at any time,
// even before Submit has returned or after the client has gone. So the
// callback does not hold the reactor: it holds a shared EngineEventRelay,
// and under the relay's mutex hands the event to the reactor if one is still
// attached. The reactor turns it into messages and, under the same mutex,
// starts the next write or Finish. Both only queue work in gRPC's callback
// API, whose reactions (OnWriteDone, OnCancel, OnDone) always run on gRPC's
// threads and never inline in StartWrite/Finish, so holding the mutex across
// those calls cannot deadlock; and a write or Finish started before the
// handler has returned the reactor is kept in gRPC's backlog until it is
// bound. OnDone detaches the reactor under the mutex before deleting it, so
// a late event (the kCancelled that follows a client cancel) is dropped.
#ifndef LORAPLEX_SERVICE_GRPC_GENERATION_REACTOR_H_
#define LORAPLEX_SERVICE_GRPC_GENERATION_REACTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/status_macros.h"
#include "engine/generation_types.h"
#include "proto/loraplex/v1/generation.pb.h"
#include "service/grpc/call_auth.h"
#include "service/grpc/cancellation_status.h"
#include "service/grpc/generation_request.h"
#include "service/grpc/raw_messages.h"
#include "service/grpc/servicer_deps.h"
#include "service/grpc/status_conversion.h"

namespace loraplex::service {

// Receives engine events under the relay's mutex.
class GenerationEventSink {
 public:
  virtual void DeliverLocked(const engine::GenerationEvent& event) = 0;

 protected:
  ~GenerationEventSink() = default;
};

// See Note [Engine events to reactors].
class EngineEventRelay {
 public:
  explicit EngineEventRelay(GenerationEventSink* sink) : sink_(sink) {}

  absl::Mutex* mu() ABSL_LOCK_RETURNED(mu_) { return &mu_; }

  // Engine loop thread: hands `event` to the sink, if still attached.
  void Deliver(const engine::GenerationEvent& event) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (sink_ != nullptr) sink_->DeliverLocked(event);
  }
  // After this returns the sink is never called again.
  void Detach() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    sink_ = nullptr;
  }

 private:
  absl::Mutex mu_;
  GenerationEventSink* sink_ ABSL_GUARDED_BY(mu_);
};

// The status of a request the engine ended with FinishReason::kError.
inline absl::Status EngineFailure(const engine::GenerationEvent& event) {
  if (!event.error.ok()) return event.error;
  return absl::InternalError("the engine failed without saying why");
}

// `Base` is grpc::ServerUnaryReactor or grpc::ServerWriteReactor<ByteBuffer>
// (raw messages: Note [Raw requests] in raw_messages.h).
// Subclasses call Start() at the end of their constructor and implement
// OnEngineEventLocked; the reactor deletes itself in OnDone.
template <class Base>
class GenerationReactor : public Base, private GenerationEventSink {
 public:
  // The client cancelled or the deadline passed: the sequence leaves its
  // batch at the next engine step, and the RPC ends now.
  void OnCancel() override {
    absl::MutexLock lock(mu());
    if (request_id_.has_value()) deps_.engine->Cancel(*request_id_);
    DropUnsentLocked();
    // Whatever outcome was pending, the client no longer receives it.
    if (!finish_called_) final_status_.reset();
    FinishLocked(CancellationStatus(context_->deadline(),
                                    std::chrono::system_clock::now()));
  }

  void OnDone() override {
    relay_->Detach();
    delete this;
  }

 protected:
  GenerationReactor(const ServicerDeps& deps,
                    grpc::CallbackServerContext* context, const char* rpc)
      : deps_(deps),
        context_(context),
        rpc_(rpc),
        relay_(std::make_shared<EngineEventRelay>(
            static_cast<GenerationEventSink*>(this))) {}
  virtual ~GenerationReactor() = default;

  // Parses, authenticates, resolves and submits `raw_request`; on error the
  // RPC ends with it at once.
  void Start(const grpc::ByteBuffer& raw_request) {
    absl::Status status = ParseAndSubmit(raw_request);
    if (!status.ok()) {
      absl::MutexLock lock(mu());
      FinishLocked(std::move(status));
    }
  }

  // One engine event for a call that has not ended yet.
  virtual void OnEngineEventLocked(const engine::GenerationEvent& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) = 0;
  // Whether messages are still queued or being written (Finish waits).
  virtual bool HasUnsentLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    return false;
  }
  // Forgets queued messages (the call was cancelled).
  virtual void DropUnsentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {}
  // Just before an OK Finish: writes the unary reply.
  virtual absl::Status SerializeReplyLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    return absl::OkStatus();
  }

  // Ends the RPC with `status` (the first status given wins) once nothing
  // is left to send.
  void FinishLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    if (!final_status_.has_value()) final_status_ = std::move(status);
    MaybeFinishLocked();
  }
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    if (finish_called_ || !final_status_.has_value() || HasUnsentLocked()) {
      return;
    }
    finish_called_ = true;
    if (final_status_->ok()) {
      absl::Status serialized = SerializeReplyLocked();
      if (!serialized.ok()) final_status_ = std::move(serialized);
    }
    deps_.metrics->RecordRequest(ServerMetrics::Api::kGrpc, tenant_, rpc_,
                                 final_status_->code());
    Base::Finish(ToClientStatus(*final_status_, *deps_.scrubber, *context_));
  }
  bool ending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    return final_status_.has_value();
  }
  void RecordGenerationLocked(const engine::GenerationEvent& final_event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    deps_.metrics->RecordGeneration(tenant_, final_event.usage,
                                    final_event.timings);
  }
  // The engine request, when one was submitted (for a broken stream).
  void CancelEngineRequestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    if (request_id_.has_value()) deps_.engine->Cancel(*request_id_);
  }

  absl::Mutex* mu() const ABSL_LOCK_RETURNED(relay_->mu()) {
    return relay_->mu();
  }

 private:
  void DeliverLocked(const engine::GenerationEvent& event) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    if (ending()) return;  // Cancelled or failed: late events are moot.
    OnEngineEventLocked(event);
  }

  absl::Status ParseAndSubmit(const grpc::ByteBuffer& raw_request) {
    ASSIGN_OR_RETURN(Principal caller, AdmitCall(deps_, *context_));
    {
      absl::MutexLock lock(mu());
      tenant_ = caller.tenant;
    }
    v1::GenerateRequest request;
    RETURN_IF_ERROR(ParseRequest(raw_request, &request));
    ASSIGN_OR_RETURN(ResolvedGeneration resolved,
                     ResolveGeneration(deps_, caller, request));
    std::shared_ptr<EngineEventRelay> relay = relay_;
    ASSIGN_OR_RETURN(
        const engine::RequestId id,
        SubmitGeneration(deps_, std::move(resolved),
                         [relay](const engine::GenerationEvent& event) {
                           relay->Deliver(event);
                         }));
    absl::MutexLock lock(mu());
    request_id_ = id;
    return absl::OkStatus();
  }

  const ServicerDeps deps_;
  grpc::CallbackServerContext* const context_;
  const char* const rpc_;  // Metrics label.
  const std::shared_ptr<EngineEventRelay> relay_;
  std::string tenant_ ABSL_GUARDED_BY(mu());  // Empty until authenticated.
  std::optional<engine::RequestId> request_id_ ABSL_GUARDED_BY(mu());
  std::optional<absl::Status> final_status_ ABSL_GUARDED_BY(mu());
  bool finish_called_ ABSL_GUARDED_BY(mu()) = false;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_GENERATION_REACTOR_H_
