#include "tools/loadgen/load_runner.h"

#include <grpcpp/support/client_callback.h>

#include <deque>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "engine/common/status_macros.h"
#include "proto/loraplex/v1/generation.grpc.pb.h"

namespace loraplex::loadgen {
namespace {

namespace v1 = ::loraplex::v1;

class StreamCall;

// Which calls are in flight; lets the dispatcher wait for room and cancel
// stragglers. Thread-safe: reactors report from gRPC's callback threads.
class CallTracker {
 public:
  void Started(StreamCall* call) {
    absl::MutexLock lock(&mu_);
    live_.insert(call);
  }
  // Called by the call itself, just before it deletes itself.
  void Ended(StreamCall* call) {
    absl::MutexLock lock(&mu_);
    live_.erase(call);
    changed_.SignalAll();
  }
  // Waits until fewer than `limit` calls are in flight; false if `deadline`
  // passed first.
  bool WaitUntilBelow(size_t limit, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    while (live_.size() >= limit) {
      if (changed_.WaitWithDeadline(&mu_, deadline) && live_.size() >= limit) {
        return false;
      }
    }
    return true;
  }
  void CancelAll();

 private:
  absl::Mutex mu_;
  absl::CondVar changed_;
  std::set<StreamCall*> live_ ABSL_GUARDED_BY(mu_);
};

// One GenerateStream call; deletes itself when it ends. Its record is
// written only by gRPC's callbacks for this call, which never overlap.
class StreamCall final
    : public grpc::ClientReadReactor<v1::GenerateStreamResponse> {
 public:
  StreamCall(v1::GenerationService::Stub& stub,
             const tools::ConnectionOptions& connection,
             v1::GenerateRequest request, RequestRecord& record,
             CallTracker& tracker)
      : request_(std::move(request)), record_(record), tracker_(tracker) {
    tools::PrepareContext(connection, &context_, request_.adapter());
    tracker_.Started(this);
    record_.start = Clock::now();
    stub.async()->GenerateStream(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  // Only while the call is in CallTracker's live set (it is not deleted).
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // The stream ended; OnDone follows.
    if (response_.has_chunk() && response_.chunk().token_ids_size() > 0) {
      const Clock::time_point now = Clock::now();
      if (record_.output_tokens == 0) record_.first_token = now;
      record_.last_token = now;
      record_.output_tokens += response_.chunk().token_ids_size();
    } else if (response_.has_finished()) {
      record_.finished = true;
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    record_.end = Clock::now();
    record_.code = static_cast<absl::StatusCode>(status.error_code());
    record_.error_message = status.error_message();
    tracker_.Ended(this);
    delete this;
  }

 private:
  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateStreamResponse response_;
  RequestRecord& record_;
  CallTracker& tracker_;
};

void CallTracker::CancelAll() {
  absl::MutexLock lock(&mu_);
  for (StreamCall* call : live_) call->Cancel();
}

// Draws each request's adapter, lengths and prompt, in order, from one seed.
class RequestMaker {
 public:
  RequestMaker(const LoadOptions& options, AdapterPicker picker)
      : options_(options), picker_(std::move(picker)), rng_(options.seed) {}

  v1::GenerateRequest Next(RequestRecord& record) {
    v1::GenerateRequest request;
    const bool base = options_.adapters.empty() ||
                      std::bernoulli_distribution(options_.base_fraction)(rng_);
    record.adapter_index = base ? -1 : static_cast<int32_t>(picker_.Pick(rng_));
    if (!base) request.set_adapter(options_.adapters[record.adapter_index]);
    if (options_.prompt_text.empty()) {
      record.prompt_tokens = options_.prompt_tokens.Sample(rng_);
      for (int32_t id :
           RandomPromptIds(record.prompt_tokens, options_.vocab_size,
                           options_.first_prompt_id, rng_)) {
        request.mutable_token_ids()->add_ids(id);
      }
    } else {
      request.set_text(options_.prompt_text);
    }
    record.max_new_tokens = options_.output_tokens.Sample(rng_);
    request.mutable_stopping()->set_max_new_tokens(record.max_new_tokens);
    request.mutable_stopping()->set_ignore_eos(options_.ignore_eos);
    return request;
  }

 private:
  const LoadOptions& options_;
  AdapterPicker picker_;
  std::mt19937_64 rng_;
};

}  // namespace

absl::Status ValidateLoadOptions(const LoadOptions& o) {
  if ((o.rate > 0) == (o.concurrency > 0)) {
    return absl::InvalidArgumentError(
        "give exactly one of --rate R (open loop) and --concurrency C "
        "(closed loop)");
  }
  if (o.rate < 0 || o.concurrency < 0) {
    return absl::InvalidArgumentError("--rate and --concurrency must be > 0");
  }
  if (o.duration <= absl::ZeroDuration() && o.max_requests <= 0) {
    return absl::InvalidArgumentError(
        "give --duration SECONDS or --requests N (or both)");
  }
  if (o.base_fraction < 0 || o.base_fraction > 1) {
    return absl::InvalidArgumentError("--base-fraction must be in [0, 1]");
  }
  if (o.prompt_text.empty() &&
      (o.vocab_size <= o.first_prompt_id || o.first_prompt_id < 0)) {
    return absl::InvalidArgumentError(
        "prompt ids need 0 <= --first-prompt-id < the vocabulary size");
  }
  if (o.max_in_flight < 1) {
    return absl::InvalidArgumentError("--max-in-flight must be >= 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RequestRecord>> RunLoad(
    const LoadOptions& options, const tools::ConnectionOptions& connection,
    std::shared_ptr<grpc::Channel> channel) {
  RETURN_IF_ERROR(ValidateLoadOptions(options));
  ASSIGN_OR_RETURN(
      AdapterPicker picker,
      AdapterPicker::Create(std::max<size_t>(1, options.adapters.size()),
                            options.alpha));
  std::unique_ptr<v1::GenerationService::Stub> stub =
      v1::GenerationService::NewStub(channel);
  RequestMaker maker(options, std::move(picker));
  std::mt19937_64 arrival_rng(options.seed ^ 0x9e3779b97f4a7c15ULL);
  PoissonArrivals arrivals(options.rate > 0 ? options.rate : 1.0);
  CallTracker tracker;
  std::deque<RequestRecord> records;  // Stable addresses for the reactors.

  const absl::Time start = absl::Now();
  const absl::Time stop_sending = options.duration > absl::ZeroDuration()
                                      ? start + options.duration
                                      : absl::InfiniteFuture();
  absl::Time next_arrival = start;
  const size_t limit = options.rate > 0
                           ? static_cast<size_t>(options.max_in_flight)
                           : static_cast<size_t>(options.concurrency);
  for (int64_t sent = 0;
       options.max_requests <= 0 || sent < options.max_requests; ++sent) {
    if (options.rate > 0) {
      if (next_arrival >= stop_sending) break;
      absl::SleepFor(next_arrival - absl::Now());
      next_arrival += arrivals.NextGap(arrival_rng);
    }
    if (!tracker.WaitUntilBelow(limit, stop_sending)) break;
    if (absl::Now() >= stop_sending) break;
    RequestRecord& record = records.emplace_back();
    v1::GenerateRequest request = maker.Next(record);
    new StreamCall(*stub, connection, std::move(request), record, tracker);
  }
  if (!tracker.WaitUntilBelow(1, absl::Now() + options.drain_timeout)) {
    tracker.CancelAll();
    tracker.WaitUntilBelow(1, absl::InfiniteFuture());
  }
  return std::vector<RequestRecord>(records.begin(), records.end());
}

}  // namespace loraplex::loadgen
