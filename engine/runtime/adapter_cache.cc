#include "engine/runtime/adapter_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/lora/lora_adapter.h"

namespace loraplex::engine {

AdapterCache::AdapterCache(const Options& options, const ModelConfig& config,
                           torch::Dtype dtype, LoraBank* bank,
                           EngineObserver* observer,
                           std::function<void()> wake_loop)
    : options_(options),
      config_(config),
      dtype_(dtype),
      bank_(bank),
      observer_(observer),
      wake_loop_(std::move(wake_loop)),
      slots_(options.device_slots) {
  loader_ = std::thread([this] { LoaderMain(); });
}

AdapterCache::~AdapterCache() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  loader_.join();
}

absl::Status AdapterCache::Register(const std::string& id,
                                    const std::string& dir) {
  if (id.empty()) return absl::InvalidArgumentError("adapter id is empty");
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(id);
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("adapter '", id, "' is already registered"));
  }
  it->second.dir = dir;
  it->second.generation = next_generation_++;
  return absl::OkStatus();
}

absl::Status AdapterCache::Unregister(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (entries_.erase(id) == 0) {
    return absl::NotFoundError(
        absl::StrCat("adapter '", id, "' is not registered"));
  }
  return absl::OkStatus();
}

bool AdapterCache::IsRegistered(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  return entries_.count(id) > 0;
}

int64_t AdapterCache::registered_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(entries_.size());
}

int64_t AdapterCache::device_resident() const { return device_resident_; }
int64_t AdapterCache::host_resident() const { return host_resident_; }

int64_t AdapterCache::FindSlot(const std::string& id,
                               uint64_t generation) const {
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].occupied && slots_[s].id == id &&
        slots_[s].generation == generation) {
      return static_cast<int64_t>(s);
    }
  }
  return -1;
}

int64_t AdapterCache::ChooseVictimSlot() const {
  int64_t victim = -1;
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (!slot.occupied) return static_cast<int64_t>(s);
    if (slot.pins > 0) continue;
    if (victim < 0 || slot.last_used < slots_[victim].last_used) {
      victim = static_cast<int64_t>(s);
    }
  }
  return victim;
}

void AdapterCache::TouchHost(const std::string& id) {
  auto it = host_.find(id);
  if (it == host_.end()) return;
  host_lru_.splice(host_lru_.begin(), host_lru_, it->second.lru_pos);
}

AdapterCache::Acquired AdapterCache::Acquire(const std::string& id) {
  return AcquireImpl(id, /*pin=*/true);
}

AdapterCache::Acquired AdapterCache::Warm(const std::string& id) {
  return AcquireImpl(id, /*pin=*/false);
}

AdapterCache::Acquired AdapterCache::AcquireImpl(const std::string& id,
                                                 bool pin) {
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return {Outcome::kFailed, -1,
              absl::NotFoundError(absl::StrCat(
                  "adapter '", id, "' was unregistered (deleted)"))};
    }
    Entry& entry = it->second;
    generation = entry.generation;
    if (!entry.failure.ok()) return {Outcome::kFailed, -1, entry.failure};
    const int64_t slot = FindSlot(id, generation);
    if (slot >= 0) {
      slots_[slot].last_used = ++clock_;
      if (pin) ++slots_[slot].pins;
      TouchHost(id);
      return {Outcome::kDeviceHit, slot, absl::OkStatus()};
    }
    auto host = host_.find(id);
    if (host == host_.end() || host->second.generation != generation) {
      if (!entry.loading) {
        entry.loading = true;
        jobs_.push_back(LoadJob{id, entry.dir, generation});
      }
      return {Outcome::kLoading, -1, absl::OkStatus()};
    }
  }
  // In the host tier: copy into a free or least recently used slot.
  const int64_t slot = ChooseVictimSlot();
  if (slot < 0) return {Outcome::kNoSlot, -1, absl::OkStatus()};
  Slot& target = slots_[slot];
  if (target.occupied) {
    ++device_evictions_;
    if (observer_ != nullptr) observer_->OnAdapterEvicted(/*from_device=*/true);
  } else {
    ++device_resident_;
  }
  const absl::Time start = absl::Now();
  auto host = host_.find(id);
  bank_->Load(slot, *host->second.adapter);
  if (observer_ != nullptr) {
    observer_->OnAdapterLoaded(/*from_disk=*/false, absl::Now() - start);
  }
  TouchHost(id);
  target = Slot{id, generation, pin ? 1 : 0, ++clock_, /*occupied=*/true};
  return {Outcome::kHostHit, slot, absl::OkStatus()};
}

void AdapterCache::Release(int64_t slot) {
  Slot& s = slots_[slot];
  if (--s.pins > 0) return;
  // Free the slot now if its adapter was unregistered (Note [Adapter pinning]).
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(s.id);
  if (it == entries_.end() || it->second.generation != s.generation) {
    s = Slot{};
    --device_resident_;
  }
}

void AdapterCache::Poll() {
  std::vector<LoadResult> results;
  std::vector<std::string> stale_host;
  {
    absl::MutexLock lock(&mu_);
    results.swap(results_);
    for (LoadResult& result : results) {
      auto it = entries_.find(result.id);
      if (it == entries_.end() || it->second.generation != result.generation) {
        result.adapter = absl::CancelledError("unregistered during load");
        continue;
      }
      it->second.loading = false;
      if (!result.adapter.ok()) it->second.failure = result.adapter.status();
    }
    // Host copies of unregistered adapters are dropped here, on the loop.
    for (const auto& [id, host] : host_) {
      auto it = entries_.find(id);
      if (it == entries_.end() || it->second.generation != host.generation) {
        stale_host.push_back(id);
      }
    }
    // Unpinned slots of unregistered adapters are freed.
    for (Slot& slot : slots_) {
      if (!slot.occupied || slot.pins > 0) continue;
      auto it = entries_.find(slot.id);
      if (it == entries_.end() || it->second.generation != slot.generation) {
        slot = Slot{};
        --device_resident_;
      }
    }
  }
  for (const std::string& id : stale_host) {
    host_lru_.erase(host_[id].lru_pos);
    host_.erase(id);
  }
  for (LoadResult& result : results) {
    if (!result.adapter.ok()) continue;
    if (observer_ != nullptr) {
      observer_->OnAdapterLoaded(/*from_disk=*/true, result.duration);
    }
    auto existing = host_.find(result.id);
    if (existing != host_.end()) {
      host_lru_.erase(existing->second.lru_pos);
      host_.erase(existing);
    }
    host_lru_.push_front(result.id);
    host_[result.id] = HostEntry{result.generation, *std::move(result.adapter),
                                 host_lru_.begin()};
    while (static_cast<int64_t>(host_.size()) > options_.host_capacity) {
      const std::string victim = host_lru_.back();
      host_lru_.pop_back();
      host_.erase(victim);
      if (observer_ != nullptr)
        observer_->OnAdapterEvicted(/*from_device=*/false);
    }
  }
  host_resident_ = static_cast<int64_t>(host_.size());
}

absl::Status AdapterCache::Evict(const std::string& id) {
  for (Slot& slot : slots_) {
    if (!slot.occupied || slot.id != id) continue;
    if (slot.pins > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("adapter '", id, "' is in use by running requests"));
    }
    slot = Slot{};
    --device_resident_;
    ++device_evictions_;
    if (observer_ != nullptr) observer_->OnAdapterEvicted(/*from_device=*/true);
  }
  auto host = host_.find(id);
  if (host != host_.end()) {
    host_lru_.erase(host->second.lru_pos);
    host_.erase(host);
    host_resident_ = static_cast<int64_t>(host_.size());
  }
  return absl::OkStatus();
}

void AdapterCache::LoaderMain() {
  while (true) {
    LoadJob job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](AdapterCache* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->jobs_.empty();
          },
          this));
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    const absl::Time start = absl::Now();
    LoadResult result{job.id, job.generation, absl::UnknownError("unset"),
                      absl::ZeroDuration()};
    auto files = LoraAdapterFiles::Open(job.dir, config_, options_.validation);
    if (files.ok()) {
      result.adapter = HostAdapter::FromFiles(**files, dtype_);
    } else {
      result.adapter = files.status();
    }
    result.duration = absl::Now() - start;
    {
      absl::MutexLock lock(&mu_);
      results_.push_back(std::move(result));
    }
    wake_loop_();
  }
}

}  // namespace loraplex::engine
