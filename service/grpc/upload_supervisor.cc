#include "service/grpc/upload_supervisor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace loraplex::service {

struct UploadLease::State {
  State(std::string tenant_in, UploadDeadlineSink* sink_in, absl::Time now)
      : tenant(std::move(tenant_in)),
        started(now),
        last_activity_nanos(absl::ToUnixNanos(now)),
        sink(sink_in) {}

  const std::string tenant;
  const absl::Time started;
  std::atomic<int64_t> last_activity_nanos;
  std::atomic<bool> deadlines_apply{true};
  absl::Mutex mu;
  UploadDeadlineSink* sink ABSL_GUARDED_BY(mu);
};

UploadLease::~UploadLease() {
  Detach();
  supervisor_->Release(state_);
}

absl::Mutex* UploadLease::mu() const { return &state_->mu; }

void UploadLease::Touch() {
  state_->last_activity_nanos.store(absl::ToUnixNanos(absl::Now()),
                                    std::memory_order_relaxed);
}

void UploadLease::StopDeadlines() { state_->deadlines_apply.store(false); }

void UploadLease::Detach() {
  absl::MutexLock lock(&state_->mu);
  state_->sink = nullptr;
}

namespace {

// Deadlines are checked a few times per shortest timeout: late by at most
// a tenth of it (and by at most a second).
absl::Duration TickFor(const UploadLimits& limits) {
  const absl::Duration shortest =
      std::min(limits.idle_timeout, limits.total_timeout);
  return std::clamp(shortest / 10, absl::Milliseconds(10), absl::Seconds(1));
}

}  // namespace

UploadSupervisor::UploadSupervisor(const UploadLimits& limits)
    : limits_(limits), tick_(TickFor(limits)) {
  deadline_thread_ = std::thread([this] { DeadlineThreadMain(); });
}

UploadSupervisor::~UploadSupervisor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  deadline_thread_.join();
}

absl::StatusOr<std::unique_ptr<UploadLease>> UploadSupervisor::Admit(
    const std::string& tenant, UploadDeadlineSink* sink) {
  absl::MutexLock lock(&mu_);
  const int32_t total = static_cast<int32_t>(leases_.size());
  if (total >= limits_.max_concurrent) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server has ", total,
        " uploads in progress, its limit (--max-concurrent-uploads)"));
  }
  int32_t& mine = per_tenant_[tenant];
  if (mine >= limits_.max_per_tenant) {
    return absl::ResourceExhaustedError(
        absl::StrCat("tenant \"", tenant, "\" has ", mine,
                     " uploads in progress, the limit per tenant "
                     "(--max-uploads-per-tenant)"));
  }
  ++mine;
  auto state = std::make_shared<UploadLease::State>(tenant, sink, absl::Now());
  leases_.push_back(state);
  return std::unique_ptr<UploadLease>(new UploadLease(this, std::move(state)));
}

int32_t UploadSupervisor::active() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int32_t>(leases_.size());
}

void UploadSupervisor::Release(
    const std::shared_ptr<UploadLease::State>& state) {
  absl::MutexLock lock(&mu_);
  leases_.erase(std::find(leases_.begin(), leases_.end(), state));
  auto it = per_tenant_.find(state->tenant);
  if (--it->second == 0) per_tenant_.erase(it);
}

std::vector<std::pair<std::shared_ptr<UploadLease::State>, absl::Status>>
UploadSupervisor::CollectExpiredLocked(absl::Time now) {
  std::vector<std::pair<std::shared_ptr<UploadLease::State>, absl::Status>>
      expired;
  for (const std::shared_ptr<UploadLease::State>& state : leases_) {
    if (!state->deadlines_apply.load()) continue;
    const absl::Time last = absl::FromUnixNanos(
        state->last_activity_nanos.load(std::memory_order_relaxed));
    if (now - state->started >= limits_.total_timeout) {
      expired.emplace_back(
          state, absl::DeadlineExceededError(absl::StrCat(
                     "the upload took longer than the server's limit of ",
                     absl::FormatDuration(limits_.total_timeout),
                     " (--upload-timeout)")));
    } else if (now - last >= limits_.idle_timeout) {
      expired.emplace_back(
          state, absl::DeadlineExceededError(absl::StrCat(
                     "no upload message came for ",
                     absl::FormatDuration(limits_.idle_timeout),
                     ", the server's limit (--upload-idle-timeout)")));
    }
  }
  return expired;
}

void UploadSupervisor::DeadlineThreadMain() {
  while (true) {
    std::vector<std::pair<std::shared_ptr<UploadLease::State>, absl::Status>>
        expired;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), tick_);
      if (stopping_) return;
      expired = CollectExpiredLocked(absl::Now());
    }
    // Outside mu_: the sink may end its call, whose lease then releases.
    for (auto& [state, status] : expired) {
      absl::MutexLock lock(&state->mu);
      if (state->sink != nullptr && state->deadlines_apply.load()) {
        state->deadlines_apply.store(false);
        state->sink->OnDeadlineLocked(status);
      }
    }
  }
}

}  // namespace loraplex::service
