// Internal (includes LibTorch): the adapter cache behind Engine.
//
// Three tiers: device slots in the LoraBank (LRU, pinned while a running
// sequence uses them), a host-memory LRU of parsed adapters, and the adapter
// directories on disk (read by a background loader thread, never by the
// engine loop). See Note [Adapter pinning].
#ifndef LORAPLEX_ENGINE_RUNTIME_ADAPTER_CACHE_H_
#define LORAPLEX_ENGINE_RUNTIME_ADAPTER_CACHE_H_

#include <torch/torch.h>

#include <atomic>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/config/model_config.h"
#include "engine/engine.h"
#include "engine/runtime/host_adapter.h"
#include "engine/runtime/lora_bank.h"

namespace loraplex::engine {

// Note [Adapter pinning]
// A running sequence pins its adapter's device slot from admission until it
// finishes; a pinned slot is never evicted or overwritten, so the LoRA rows
// of a step always read the weights they were admitted with. Eviction picks
// the least recently used unpinned slot. Unregistering an adapter only hides
// it from new requests: its slot is freed when its last pin is released.

class AdapterCache {
 public:
  struct Options {
    int64_t device_slots = 16;
    int64_t host_capacity = 64;  // Adapters kept in host memory.
    LoraValidationOptions validation;
  };

  // `wake_loop` is called from the loader thread when a load finishes.
  AdapterCache(const Options& options, const ModelConfig& config,
               torch::Dtype dtype, LoraBank* bank, EngineObserver* observer,
               std::function<void()> wake_loop);
  ~AdapterCache();  // Joins the loader thread.

  // --- Any thread. ---
  absl::Status Register(const std::string& id, const std::string& dir);
  absl::Status Unregister(const std::string& id);
  bool IsRegistered(const std::string& id) const;
  int64_t registered_count() const;

  // --- Engine loop thread only. ---
  enum class Outcome {
    kDeviceHit,  // Already in a slot: pinned.
    kHostHit,    // Copied from the host tier into a slot: pinned.
    kLoading,    // Disk load started or in flight; try again later.
    kNoSlot,     // In host memory but every slot is pinned; try again later.
    kFailed,     // Load failed or adapter unregistered; see status.
  };
  struct Acquired {
    Outcome outcome = Outcome::kFailed;
    int64_t slot = -1;
    absl::Status status;
  };
  // Pins the adapter's slot on kDeviceHit/kHostHit.
  Acquired Acquire(const std::string& id);
  // Brings the adapter into a slot without pinning it (Engine::LoadAdapter).
  Acquired Warm(const std::string& id);
  void Release(int64_t slot);
  // Moves finished loads into the host tier. Call once per loop iteration.
  void Poll();
  // Drops an unpinned adapter from the device and host tiers.
  absl::Status Evict(const std::string& id);

  // Adapters dropped from a device slot (LRU or Evict()) so far.
  int64_t device_evictions() const { return device_evictions_.load(); }

  int64_t device_resident() const;
  int64_t host_resident() const;

 private:
  struct Entry {
    std::string dir;
    uint64_t generation = 0;  // Distinguishes re-registrations of an id.
    bool loading = false;
    absl::Status failure;  // Sticky load error for this generation.
  };
  struct Slot {
    std::string id;
    uint64_t generation = 0;
    int64_t pins = 0;
    uint64_t last_used = 0;
    bool occupied = false;
  };
  struct LoadJob {
    std::string id;
    std::string dir;
    uint64_t generation = 0;
  };
  struct LoadResult {
    std::string id;
    uint64_t generation = 0;
    absl::StatusOr<std::shared_ptr<const HostAdapter>> adapter;
    absl::Duration duration;
  };

  Acquired AcquireImpl(const std::string& id, bool pin);
  int64_t FindSlot(const std::string& id, uint64_t generation) const;
  int64_t ChooseVictimSlot() const;
  void LoaderMain();
  void TouchHost(const std::string& id);

  const Options options_;
  const ModelConfig config_;
  const torch::Dtype dtype_;
  LoraBank* const bank_;
  EngineObserver* const observer_;
  // Read by Engine::Stats() from any thread.
  std::atomic<int64_t> device_evictions_{0};
  const std::function<void()> wake_loop_;

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<LoadJob> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<LoadResult> results_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loader_;

  // Loop-thread state.
  std::vector<Slot> slots_;
  uint64_t clock_ = 0;
  struct HostEntry {
    uint64_t generation;
    std::shared_ptr<const HostAdapter> adapter;
    std::list<std::string>::iterator lru_pos;
  };
  std::unordered_map<std::string, HostEntry> host_;
  std::list<std::string> host_lru_;  // Front = most recently used.
  std::atomic<int64_t> device_resident_{0};
  std::atomic<int64_t> host_resident_{0};
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_ADAPTER_CACHE_H_
