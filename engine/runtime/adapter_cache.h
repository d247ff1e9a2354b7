// Internal (includes LibTorch): the adapter cache behind Engine.
//
// Three tiers: device slots in the LoraBank (LRU, pinned while a running
// sequence uses them), a host-memory LRU of parsed adapters, and the adapter
// directories on disk (read by a background loader thread, never by the
// engine loop). See Notes [Adapter pinning], [Adapter lifetime] and
// [Adapter load retries].
#ifndef LORAPLEX_ENGINE_RUNTIME_ADAPTER_CACHE_H_
#define LORAPLEX_ENGINE_RUNTIME_ADAPTER_CACHE_H_

#include <torch/torch.h>

#include <atomic>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/config/model_config.h"
#include "engine/engine.h"
#include "engine/runtime/adapter_use.h"
#include "engine/runtime/engine_test_hooks.h"
#include "engine/runtime/host_adapter.h"
#include "engine/runtime/lora_bank.h"

namespace loraplex::engine {

// Note [Adapter pinning]
// A running sequence pins its adapter's device slot from admission until it
// finishes; a pinned slot is never evicted or overwritten, so the LoRA rows
// of a step always read the weights they were admitted with. An adapter
// copied to the device needs as many rank rows as its rank (Note [Rank
// rows] in lora_bank.h); eviction frees the least recently used unpinned
// slots until that many rows are free.
//
// Note [Adapter lifetime]
// Each Register creates a registration (id, directory, generation); the
// generation is unique for the life of the cache. Submit takes an
// AdapterUse on the id's current registration, and everything the loop
// does for that request (disk read, host copy, device slot) is keyed by the
// generation, so a request is served with the registration it was submitted
// with even when the id is unregistered, or registered again, before the
// request is admitted. Unregister only hides the registration from new
// requests. It is dropped (host copy and device slot freed, on_released
// run) once no AdapterUse holds it and no read of its directory is in
// flight (a queued read that has not started is cancelled): inline in
// Unregister when that already holds, else on the loop thread (Poll) after
// the last use ends or the read finishes.
//
// Note [Adapter load retries]
// A failed disk load is remembered only for a backoff window: requests for
// that registration fail at once with the same error during the window (no
// disk read), and the first one after it reads the directory again. The
// window starts at first_retry_delay and doubles with each consecutive
// failure up to max_retry_delay (defaults 1 s and 60 s: a transient error
// such as EMFILE heals within about a second of its cause, and a broken
// adapter costs one directory read a minute at most). A success resets it.
// A failed copy into a device slot (a device error) fails only the requests
// that asked for it, leaves the slot empty, and is retried by the next one.
//
// Note [Adapter state]
// The tiers (slots_, host_) belong to the loop thread. So that other threads
// can read where an adapter is (Engine::GetAdapterStates) without waiting
// for the loop, each registration mirrors its tiers, pins and usage under
// mu_; the loop updates the mirror, in short critical sections, whenever it
// changes them (never holding mu_ across a device copy).
//
// Note [Mixed adapter admission]
// A request may use several adapters (Note [Adapter mixing] in
// llama_model.cc); it runs only with all of them pinned. AcquireAll is all
// or nothing: it first looks every adapter up without side effects on the
// device (starting the disk reads of all those only on disk, so they load
// while the request waits), and pins or copies anything only when every
// adapter is in memory and enough rank rows are free or held by unpinned
// slots for the ones not on the device. A request that must wait therefore
// holds no pins and evicts nothing, so it cannot starve others or deadlock
// with another waiting mix (no hold-and-wait). A mix whose ranks add up to
// more rows than the device has could never run: AcquireAll fails it
// (INVALID_ARGUMENT) once every adapter has been read. The engine keeps
// waiting mixes from starving in turn: see Note [Slot waiter] in
// engine_step.cc.

class AdapterCache {
 public:
  struct Options {
    int64_t host_capacity = 64;  // Adapters kept in host memory.
    LoraValidationOptions validation;
    // Backoff after a failed disk load (Note [Adapter load retries]).
    absl::Duration first_retry_delay = absl::Seconds(1);
    absl::Duration max_retry_delay = absl::Seconds(60);
    // Time source for the backoff and AdapterState::last_used; empty =
    // absl::Now. Tests inject one.
    std::function<absl::Time()> clock;
    EngineTestHooks* hooks = nullptr;  // Not owned; null in production.
  };

  // `wake_loop` is called (never under the cache's lock) when the loop has
  // work: a load finished, or a registration can be dropped.
  AdapterCache(const Options& options, const ModelConfig& config,
               torch::Dtype dtype, LoraBank* bank, EngineObserver* observer,
               std::function<void()> wake_loop);
  // Joins the loader thread, then runs the on_released callbacks still due.
  // Every AdapterUse must have ended before.
  ~AdapterCache();

  // --- Any thread. ---
  absl::Status Register(const std::string& id, const std::string& dir);
  // See Engine::UnregisterAdapter and Note [Adapter lifetime].
  absl::Status Unregister(const std::string& id,
                          std::function<void()> on_released);
  // Holds the id's current registration for a submitted request; NOT_FOUND
  // when the id is not registered.
  absl::StatusOr<AdapterUse> Hold(const std::string& id);
  bool IsRegistered(const std::string& id) const;
  int64_t registered_count() const;
  // Engine::GetAdapterStates (Note [Adapter state]).
  std::vector<std::optional<AdapterState>> States(
      const std::vector<std::string>& ids) const;

  // --- Engine loop thread only. ---
  enum class Outcome {
    kDeviceHit,  // Already in a slot: pinned.
    kHostHit,    // Copied from the host tier into a slot: pinned.
    kLoading,    // Disk load started or in flight; try again later.
    kNoSlot,     // In host memory but every slot is pinned; try again later.
    kFailed,     // Load failed (or in its backoff window); see status.
  };
  struct Acquired {
    Outcome outcome = Outcome::kFailed;
    int64_t slot = -1;
    absl::Status status;
  };
  // Where a lookup found an adapter (for the hit and miss counts).
  enum class Tier { kDevice, kHost, kDisk };
  struct AcquiredAll {
    // kDeviceHit: all were in slots; kHostHit: some were copied into slots;
    // kLoading, kNoSlot, kFailed: nothing is pinned.
    Outcome outcome = Outcome::kFailed;
    std::vector<int64_t> slots;  // Parallel to `uses`; pinned on a hit.
    std::vector<Tier> found;     // Parallel to `uses` unless kFailed.
    absl::Status status;
  };
  // Pins the slots of every held registration in `uses` (distinct), or of
  // none: Note [Mixed adapter admission]. With `may_claim_slots` false it
  // succeeds only when every adapter is in a slot that is pinned already
  // (Note [Slot waiter] in engine_step.cc) and answers kNoSlot otherwise.
  AcquiredAll AcquireAll(absl::Span<const AdapterUse* const> uses,
                         bool may_claim_slots);
  // Brings the id's current registration into a slot without pinning it
  // (Engine::LoadAdapter). kFailed with NOT_FOUND for an unknown id.
  Acquired Warm(const std::string& id);
  // The tokens of a request that ran, added to its adapters' AdapterState.
  struct RequestTokens {
    int64_t prompt = 0;
    int64_t completion = 0;
  };
  // Unpins `slot`. `ran` is the request's tokens when it ran (null when it
  // is released before it ran, e.g. no KV slot was free after all).
  void Release(int64_t slot, const RequestTokens* ran);
  // Moves finished loads into the host tier and drops released
  // registrations. Call once per loop iteration.
  void Poll();
  // Drops an unpinned adapter from the device and host tiers.
  absl::Status Evict(const std::string& id);

  // Adapters dropped from a device slot (LRU or Evict()) so far.
  int64_t device_evictions() const { return device_evictions_.load(); }

  int64_t device_resident() const;
  int64_t host_resident() const;
  // Rank rows of the LoraBank owned by resident adapters (Note [Rank rows]
  // in lora_bank.h).
  int64_t device_rows_in_use() const { return device_rows_in_use_; }

 private:
  friend class AdapterUse;

  enum class Visibility {
    kRegistered,    // New requests may use it.
    kUnregistered,  // Hidden; kept while held or read (Note [Adapter
                    // lifetime]).
  };
  enum class DiskLoad {
    kIdle,     // No read pending.
    kQueued,   // A LoadJob waits for the loader thread.
    kReading,  // The loader thread is reading the directory.
  };
  struct Registration {
    std::string id;
    std::string dir;
    Visibility visibility = Visibility::kRegistered;
    int64_t uses = 0;  // Live AdapterUse objects.
    DiskLoad disk_load = DiskLoad::kIdle;
    // Last disk load error (Note [Adapter load retries]); OK after success.
    absl::Status failure;
    int64_t consecutive_failures = 0;
    absl::Time retry_after;
    std::function<void()> on_released;
    // Note [Adapter state]: mirrors of the loop's tiers, and usage.
    bool in_host = false;
    bool on_device = false;
    int64_t pins = 0;
    std::optional<absl::Time> last_used;
    int64_t requests = 0;
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
  };
  struct Slot {
    std::string id;
    uint64_t generation = 0;
    int64_t pins = 0;
    uint64_t last_used = 0;
    bool occupied = false;
  };
  struct LoadJob {
    uint64_t generation = 0;
    std::string dir;
  };
  struct LoadResult {
    uint64_t generation = 0;
    absl::StatusOr<std::shared_ptr<const HostAdapter>> adapter;
    absl::Duration duration;
  };
  struct HostEntry {
    std::string id;
    std::shared_ptr<const HostAdapter> adapter;
    std::list<uint64_t>::iterator lru_pos;
  };

  // Called by ~AdapterUse.
  void EndUse(uint64_t generation);
  // Drops the registration if nothing needs it any more (Note [Adapter
  // lifetime]): queues its generation for the loop to free its copies and
  // moves its on_released into `callbacks`. True when dropped.
  bool DropIfReleasedLocked(uint64_t generation,
                            std::vector<std::function<void()>>& callbacks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Time Now() const;
  absl::Duration RetryDelay(int64_t consecutive_failures) const;

  Acquired WarmImpl(uint64_t generation);
  Acquired CopyToDevice(uint64_t generation, const std::string& id, bool pin);
  // Pins the occupied `slot` for a request.
  void Pin(int64_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rank rows that copies for a request could take: free, or owned by an
  // unpinned slot that is not one of `keep`.
  int64_t ClaimableRows(const std::vector<int64_t>& keep) const;
  int64_t FindSlot(uint64_t generation) const;
  // -1 when every occupied slot is pinned.
  int64_t LeastRecentlyUsedUnpinnedSlot() const;
  int64_t FreeSlotIndex() const;
  // Empties the slot (its rows go back to the bank).
  void FreeSlot(int64_t index);
  // Records (under mu_) whether the generation has a host copy.
  void MirrorHost(uint64_t generation, bool in_host);
  void DropHostCopy(uint64_t generation);
  void InstallHostCopy(uint64_t generation, const std::string& id,
                       std::shared_ptr<const HostAdapter> adapter);
  void LoaderMain();
  void TouchHost(uint64_t generation);

  const Options options_;
  const ModelConfig config_;
  const torch::Dtype dtype_;
  LoraBank* const bank_;
  EngineObserver* const observer_;
  // Read by Engine::Stats() from any thread.
  std::atomic<int64_t> device_evictions_{0};
  const std::function<void()> wake_loop_;

  mutable absl::Mutex mu_;
  // Every live registration, by generation.
  std::map<uint64_t, Registration> registrations_ ABSL_GUARDED_BY(mu_);
  // The registration new requests get, by id.
  std::map<std::string, uint64_t> current_ ABSL_GUARDED_BY(mu_);
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<LoadJob> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<LoadResult> results_ ABSL_GUARDED_BY(mu_);
  // Unregistered generations whose last use ended; Poll tries to drop them.
  std::vector<uint64_t> unused_ ABSL_GUARDED_BY(mu_);
  // Dropped generations whose copies Poll still has to free.
  std::vector<uint64_t> dropped_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loader_;

  // Loop-thread state.
  std::vector<Slot> slots_;
  uint64_t clock_ = 0;
  std::unordered_map<uint64_t, HostEntry> host_;  // By generation.
  std::list<uint64_t> host_lru_;                  // Front = most recently used.
  std::atomic<int64_t> device_resident_{0};
  std::atomic<int64_t> device_rows_in_use_{0};
  std::atomic<int64_t> host_resident_{0};
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_ADAPTER_CACHE_H_
