#include "service/grpc/generation_service.h"

#include <deque>
#include <utility>

#include "service/grpc/generation_reactor.h"
#include "service/grpc/proto_conversion.h"

namespace loraplex::service {
namespace {

// Generate: collects every event into the response and answers once. (Not
// the DefaultReactor: it must hear OnCancel to cancel the engine request.)
class GenerateUnaryReactor final
    : public GenerationReactor<grpc::ServerUnaryReactor> {
 public:
  GenerateUnaryReactor(const ServicerDeps& deps,
                       grpc::CallbackServerContext* context,
                       const grpc::ByteBuffer& request,
                       grpc::ByteBuffer* response)
      : GenerationReactor(deps, context, "Generate"), response_(response) {
    Start(request);
  }

 private:
  void OnEngineEventLocked(const engine::GenerationEvent& event) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    if (event.finished && event.finish_reason == engine::FinishReason::kError) {
      FinishLocked(EngineFailure(event));
      return;
    }
    AppendEventToResponse(event, &reply_);
    if (event.finished) {
      RecordGenerationLocked(event);
      FinishLocked(absl::OkStatus());
    }
  }

  absl::Status SerializeReplyLocked() override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    return SerializeReply(reply_, response_);
  }

  v1::GenerateResponse reply_ ABSL_GUARDED_BY(mu());
  grpc::ByteBuffer* const response_;  // gRPC's; written under mu().
};

// GenerateStream: one chunk per event with output, then `finished`. Events
// are queued and written one at a time (gRPC allows one write in flight).
class GenerateStreamReactor final
    : public GenerationReactor<grpc::ServerWriteReactor<grpc::ByteBuffer>> {
 public:
  GenerateStreamReactor(const ServicerDeps& deps,
                        grpc::CallbackServerContext* context,
                        const grpc::ByteBuffer& request)
      : GenerationReactor(deps, context, "GenerateStream") {
    Start(request);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(mu());
    write_in_flight_ = false;
    if (!ok) {  // The stream broke: nobody will read the rest.
      CancelEngineRequestLocked();
      pending_.clear();
      FinishLocked(absl::CancelledError("the stream to the client broke"));
      return;
    }
    WriteNextLocked();
  }

 private:
  void OnEngineEventLocked(const engine::GenerationEvent& event) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    v1::GenerateStreamResponse chunk;
    if (EventToStreamChunk(event, &chunk)) pending_.push_back(std::move(chunk));
    if (event.finished) {
      if (event.finish_reason == engine::FinishReason::kError) {
        // Chunks already queued still go out; no `finished` message.
        FinishLocked(EngineFailure(event));
      } else {
        v1::GenerateStreamResponse finished;
        EventToStreamFinished(event, &finished);
        pending_.push_back(std::move(finished));
        RecordGenerationLocked(event);
        FinishLocked(absl::OkStatus());
      }
    }
    WriteNextLocked();
  }

  bool HasUnsentLocked() const override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    return write_in_flight_ || !pending_.empty();
  }
  void DropUnsentLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    pending_.clear();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu()) {
    if (write_in_flight_) return;
    if (pending_.empty()) {
      MaybeFinishLocked();
      return;
    }
    absl::Status serialized = SerializeReply(pending_.front(), &in_flight_);
    pending_.pop_front();
    if (!serialized.ok()) {
      CancelEngineRequestLocked();
      pending_.clear();
      FinishLocked(std::move(serialized));
      return;
    }
    write_in_flight_ = true;
    StartWrite(&in_flight_);
  }

  std::deque<v1::GenerateStreamResponse> pending_ ABSL_GUARDED_BY(mu());
  // The message being written; gRPC reads it until OnWriteDone.
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu());
  bool write_in_flight_ ABSL_GUARDED_BY(mu()) = false;
};

}  // namespace

grpc::ServerUnaryReactor* GenerationServiceImpl::Generate(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return new GenerateUnaryReactor(deps_, context, *request, response);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>*
GenerationServiceImpl::GenerateStream(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request) {
  return new GenerateStreamReactor(deps_, context, *request);
}

}  // namespace loraplex::service
