// Bounds what uploads in progress may hold: how many run at once (over the
// server and per tenant) and how long one may sit idle or run in total.
//
// Note [Upload limits]: an UploadAdapter call takes a slot when it starts
// (after authentication, before its first message) and gives it back when
// it ends; beyond --max-concurrent-uploads (server) or
// --max-uploads-per-tenant (per calling tenant) it ends at once with
// RESOURCE_EXHAUSTED and a retry hint. While it receives, it ends with
// DEADLINE_EXCEEDED when no message came for --upload-idle-timeout or when
// it has been receiving for --upload-timeout; once the client has sent
// everything (commit), no deadline applies. An upload holds no file
// descriptor between chunks (Note [Staged files hold no descriptor] in
// service/registry), so idle uploads cost a slot and a little memory only.
#ifndef LORAPLEX_SERVICE_GRPC_UPLOAD_SUPERVISOR_H_
#define LORAPLEX_SERVICE_GRPC_UPLOAD_SUPERVISOR_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace loraplex::service {

struct UploadLimits {
  int32_t max_concurrent = 32;  // --max-concurrent-uploads (>= 1).
  int32_t max_per_tenant = 4;   // --max-uploads-per-tenant (>= 1).
  // --upload-idle-timeout: longest wait for the next message.
  absl::Duration idle_timeout = absl::Seconds(60);
  // --upload-timeout: longest time from the start to the last message.
  absl::Duration total_timeout = absl::Minutes(15);
};

// What an upload's deadline ends: the upload's reactor. Called under the
// UploadLease's mutex (which the reactor uses as its own), on the
// supervisor's thread; must not block.
class UploadDeadlineSink {
 public:
  virtual void OnDeadlineLocked(absl::Status status) = 0;

 protected:
  ~UploadDeadlineSink() = default;
};

class UploadSupervisor;

// One admitted upload's slot. Destroying it gives the slot back; after
// Detach() the sink is never called again.
class UploadLease {
 public:
  ~UploadLease();
  UploadLease(const UploadLease&) = delete;
  UploadLease& operator=(const UploadLease&) = delete;

  // The mutex deadlines are delivered under; the reactor guards its state
  // with it (see UploadDeadlineSink).
  absl::Mutex* mu() const;
  // A message arrived: the idle deadline starts again. Lock-free.
  void Touch();
  // Deadlines stop applying (the upload is committing or ended).
  void StopDeadlines();
  // After this returns the sink is never called again. Takes mu().
  void Detach();

 private:
  friend class UploadSupervisor;
  struct State;
  UploadLease(UploadSupervisor* supervisor, std::shared_ptr<State> state)
      : supervisor_(supervisor), state_(std::move(state)) {}

  UploadSupervisor* const supervisor_;
  const std::shared_ptr<State> state_;
};

class UploadSupervisor {
 public:
  // Starts the deadline thread.
  explicit UploadSupervisor(const UploadLimits& limits);
  // Every lease must be gone. Joins the thread.
  ~UploadSupervisor();

  UploadSupervisor(const UploadSupervisor&) = delete;
  UploadSupervisor& operator=(const UploadSupervisor&) = delete;

  // Admits an upload by `tenant` (the caller) whose deadlines end `sink`.
  // RESOURCE_EXHAUSTED naming the limit when the server or the tenant is at
  // its limit. Thread-safe.
  absl::StatusOr<std::unique_ptr<UploadLease>> Admit(const std::string& tenant,
                                                     UploadDeadlineSink* sink)
      ABSL_LOCKS_EXCLUDED(mu_);

  int32_t active() const ABSL_LOCKS_EXCLUDED(mu_);
  const UploadLimits& limits() const { return limits_; }

 private:
  friend class UploadLease;
  void Release(const std::shared_ptr<UploadLease::State>& state)
      ABSL_LOCKS_EXCLUDED(mu_);
  void DeadlineThreadMain() ABSL_LOCKS_EXCLUDED(mu_);
  // The leases past a deadline now, with the status to end each with.
  std::vector<std::pair<std::shared_ptr<UploadLease::State>, absl::Status>>
  CollectExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const UploadLimits limits_;
  const absl::Duration tick_;  // How often deadlines are checked.
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<UploadLease::State>> leases_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int32_t> per_tenant_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread deadline_thread_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_UPLOAD_SUPERVISOR_H_
