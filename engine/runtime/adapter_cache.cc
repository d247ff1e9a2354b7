#include "engine/runtime/adapter_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/common/logging.h"
#include "engine/lora/lora_adapter.h"
#include "engine/runtime/torch_utils.h"

namespace loraplex::engine {

AdapterUse& AdapterUse::operator=(AdapterUse&& other) noexcept {
  if (this != &other) {
    Reset();
    cache_ = other.cache_;
    generation_ = other.generation_;
    other.cache_ = nullptr;
  }
  return *this;
}

AdapterUse::~AdapterUse() { Reset(); }

void AdapterUse::Reset() {
  if (cache_ != nullptr) cache_->EndUse(generation_);
  cache_ = nullptr;
}

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
      slots_(bank->num_slots()) {
  loader_ = std::thread([this] { LoaderMain(); });
}

AdapterCache::~AdapterCache() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  loader_.join();
  // The engine is going away: it will never read these directories again.
  std::vector<std::function<void()>> callbacks;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [generation, registration] : registrations_) {
      if (registration.visibility == Visibility::kUnregistered &&
          registration.on_released) {
        callbacks.push_back(std::move(registration.on_released));
      }
    }
  }
  for (auto& callback : callbacks) callback();
}

absl::Time AdapterCache::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

absl::Duration AdapterCache::RetryDelay(int64_t consecutive_failures) const {
  absl::Duration delay = options_.first_retry_delay;
  for (int64_t i = 1;
       i < consecutive_failures && delay < options_.max_retry_delay; ++i) {
    delay *= 2;
  }
  return std::min(delay, options_.max_retry_delay);
}

absl::Status AdapterCache::Register(const std::string& id,
                                    const std::string& dir) {
  if (id.empty()) return absl::InvalidArgumentError("adapter id is empty");
  absl::MutexLock lock(&mu_);
  const uint64_t generation = next_generation_;
  auto [it, inserted] = current_.try_emplace(id, generation);
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("adapter '", id, "' is already registered"));
  }
  ++next_generation_;
  Registration& registration = registrations_[generation];
  registration.id = id;
  registration.dir = dir;
  return absl::OkStatus();
}

absl::Status AdapterCache::Unregister(const std::string& id,
                                      std::function<void()> on_released) {
  std::vector<std::function<void()>> callbacks;
  bool dropped = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = current_.find(id);
    if (it == current_.end()) {
      return absl::NotFoundError(
          absl::StrCat("adapter '", id, "' is not registered"));
    }
    const uint64_t generation = it->second;
    current_.erase(it);
    Registration& registration = registrations_.at(generation);
    registration.visibility = Visibility::kUnregistered;
    registration.on_released = std::move(on_released);
    dropped = DropIfReleasedLocked(generation, callbacks);
  }
  if (dropped) wake_loop_();                    // Frees its copies.
  for (auto& callback : callbacks) callback();  // Inline: nothing used it.
  return absl::OkStatus();
}

absl::StatusOr<AdapterUse> AdapterCache::Hold(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = current_.find(id);
  if (it == current_.end()) {
    return absl::NotFoundError(
        absl::StrCat("adapter '", id, "' is not registered"));
  }
  ++registrations_.at(it->second).uses;
  return AdapterUse(this, it->second);
}

void AdapterCache::EndUse(uint64_t generation) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = registrations_.find(generation);
    if (it == registrations_.end()) return;
    Registration& registration = it->second;
    if (--registration.uses == 0 &&
        registration.visibility == Visibility::kUnregistered) {
      // Dropped by the loop, so that on_released runs on an engine thread
      // even when the last use ends on a Submit caller's thread.
      unused_.push_back(generation);
      wake = true;
    }
  }
  if (wake) wake_loop_();
}

bool AdapterCache::DropIfReleasedLocked(
    uint64_t generation, std::vector<std::function<void()>>& callbacks) {
  auto it = registrations_.find(generation);
  if (it == registrations_.end()) return false;
  Registration& registration = it->second;
  if (registration.visibility != Visibility::kUnregistered ||
      registration.uses > 0 || registration.disk_load == DiskLoad::kReading) {
    return false;
  }
  if (registration.disk_load == DiskLoad::kQueued) {
    jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(),
                               [generation](const LoadJob& job) {
                                 return job.generation == generation;
                               }),
                jobs_.end());
  }
  if (registration.on_released) {
    callbacks.push_back(std::move(registration.on_released));
  }
  registrations_.erase(it);
  dropped_.push_back(generation);
  return true;
}

bool AdapterCache::IsRegistered(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  return current_.count(id) > 0;
}

int64_t AdapterCache::registered_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(current_.size());
}

std::vector<std::optional<AdapterState>> AdapterCache::States(
    const std::vector<std::string>& ids) const {
  std::vector<std::optional<AdapterState>> states;
  states.reserve(ids.size());
  absl::MutexLock lock(&mu_);
  for (const std::string& id : ids) {
    auto it = current_.find(id);
    if (it == current_.end()) {
      states.emplace_back();
      continue;
    }
    const Registration& registration = registrations_.at(it->second);
    AdapterState state;
    if (registration.on_device) {
      state.residency = AdapterResidency::kDevice;
    } else if (registration.in_host) {
      state.residency = AdapterResidency::kHost;
    }
    state.running_requests = registration.pins;
    state.last_used = registration.last_used;
    state.requests = registration.requests;
    state.prompt_tokens = registration.prompt_tokens;
    state.completion_tokens = registration.completion_tokens;
    states.push_back(state);
  }
  return states;
}

int64_t AdapterCache::device_resident() const { return device_resident_; }
int64_t AdapterCache::host_resident() const { return host_resident_; }

int64_t AdapterCache::FindSlot(uint64_t generation) const {
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].occupied && slots_[s].generation == generation) {
      return static_cast<int64_t>(s);
    }
  }
  return -1;
}

int64_t AdapterCache::ClaimableRows(const std::vector<int64_t>& keep) const {
  int64_t claimable = bank_->free_rows();
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (!slot.occupied || slot.pins > 0) continue;
    const bool kept = std::find(keep.begin(), keep.end(),
                                static_cast<int64_t>(s)) != keep.end();
    if (!kept) claimable += bank_->slot_rank(static_cast<int64_t>(s));
  }
  return claimable;
}

int64_t AdapterCache::LeastRecentlyUsedUnpinnedSlot() const {
  int64_t victim = -1;
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (!slot.occupied || slot.pins > 0) continue;
    if (victim < 0 || slot.last_used < slots_[victim].last_used) {
      victim = static_cast<int64_t>(s);
    }
  }
  return victim;
}

int64_t AdapterCache::FreeSlotIndex() const {
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (!slots_[s].occupied) return static_cast<int64_t>(s);
  }
  return -1;
}

void AdapterCache::FreeSlot(int64_t index) {
  Slot& slot = slots_[index];
  if (!slot.occupied) return;
  {
    absl::MutexLock lock(&mu_);
    auto it = registrations_.find(slot.generation);
    if (it != registrations_.end()) it->second.on_device = false;
  }
  bank_->Clear(index);
  slot = Slot{};
  --device_resident_;
  device_rows_in_use_ = bank_->capacity_rows() - bank_->free_rows();
}

void AdapterCache::TouchHost(uint64_t generation) {
  auto it = host_.find(generation);
  if (it == host_.end()) return;
  host_lru_.splice(host_lru_.begin(), host_lru_, it->second.lru_pos);
}

void AdapterCache::MirrorHost(uint64_t generation, bool in_host) {
  absl::MutexLock lock(&mu_);
  auto it = registrations_.find(generation);
  if (it != registrations_.end()) it->second.in_host = in_host;
}

void AdapterCache::DropHostCopy(uint64_t generation) {
  auto it = host_.find(generation);
  if (it == host_.end()) return;
  host_lru_.erase(it->second.lru_pos);
  host_.erase(it);
  MirrorHost(generation, /*in_host=*/false);
}

void AdapterCache::InstallHostCopy(uint64_t generation, const std::string& id,
                                   std::shared_ptr<const HostAdapter> adapter) {
  DropHostCopy(generation);
  host_lru_.push_front(generation);
  host_[generation] = HostEntry{id, std::move(adapter), host_lru_.begin()};
  MirrorHost(generation, /*in_host=*/true);
  while (static_cast<int64_t>(host_.size()) > options_.host_capacity) {
    DropHostCopy(host_lru_.back());
    if (observer_ != nullptr)
      observer_->OnAdapterEvicted(/*from_device=*/false);
  }
}

void AdapterCache::Pin(int64_t slot) {
  Slot& target = slots_[slot];
  ++target.pins;
  target.last_used = ++clock_;
  TouchHost(target.generation);
  Registration& registration = registrations_.at(target.generation);
  ++registration.pins;
  registration.last_used = Now();
}

AdapterCache::AcquiredAll AdapterCache::AcquireAll(
    absl::Span<const AdapterUse* const> uses, bool may_claim_slots) {
  const size_t n = uses.size();
  AcquiredAll result;
  result.slots.assign(n, -1);
  result.found.assign(n, Tier::kDisk);
  std::vector<std::string> ids(n);
  int64_t needed = 0;       // Adapters to copy into slots.
  int64_t needed_rows = 0;  // Rank rows those take.
  int64_t total_rows = 0;   // Rank rows of all of them.
  {
    absl::MutexLock lock(&mu_);
    // Look every adapter up; start the disk reads of all that need one.
    bool loading = false;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t generation = uses[i]->generation();
      auto it = registrations_.find(generation);
      if (it == registrations_.end()) {
        result.found.clear();
        result.status =
            absl::NotFoundError("the adapter was unregistered (deleted)");
        return result;
      }
      Registration& registration = it->second;
      ids[i] = registration.id;
      result.slots[i] = FindSlot(generation);
      auto host = host_.find(generation);
      if (result.slots[i] >= 0) {
        result.found[i] = Tier::kDevice;
        total_rows += bank_->slot_rank(result.slots[i]);
      } else if (host != host_.end()) {
        result.found[i] = Tier::kHost;
        const int64_t rows = LoraBank::RowsFor(*host->second.adapter);
        ++needed;
        needed_rows += rows;
        total_rows += rows;
      } else if (registration.disk_load != DiskLoad::kIdle) {
        loading = true;
      } else if (!registration.failure.ok() &&
                 Now() < registration.retry_after) {
        result.found.clear();
        result.status = registration.failure;
        return result;
      } else {
        registration.disk_load = DiskLoad::kQueued;
        jobs_.push_back(LoadJob{generation, registration.dir});
        loading = true;
      }
    }
    if (loading) {
      result.outcome = Outcome::kLoading;
      return result;
    }
    // Note [Mixed adapter admission]: a mix whose ranks add up to more
    // rank rows than the device has could never run.
    if (total_rows > bank_->capacity_rows()) {
      result.found.clear();
      result.status = absl::InvalidArgumentError(absl::StrCat(
          "the request's adapters have ranks adding up to ", total_rows,
          " but the device's adapter memory holds ", bank_->capacity_rows(),
          " rank rows (--max-resident-adapters x --max-lora-rank)"));
      return result;
    }
    // Every adapter is in memory: take the slots only if all fit now.
    bool fits = true;
    if (!may_claim_slots) {
      for (size_t i = 0; i < n && fits; ++i) {
        fits = result.slots[i] >= 0 && slots_[result.slots[i]].pins > 0;
      }
    } else {
      fits = ClaimableRows(result.slots) >= needed_rows;
    }
    if (!fits) {
      result.outcome = Outcome::kNoSlot;
      return result;
    }
    // Pinned first, so that no copy below picks them as its victim.
    for (int64_t slot : result.slots) {
      if (slot >= 0) Pin(slot);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (result.found[i] != Tier::kHost) continue;
    Acquired copied = CopyToDevice(uses[i]->generation(), ids[i], /*pin=*/true);
    if (copied.outcome != Outcome::kHostHit) {
      // A device error (or, not expected, no slot after all): unpin what
      // this request took; it fails or waits holding nothing.
      for (int64_t& slot : result.slots) {
        if (slot >= 0) Release(slot, /*ran=*/nullptr);
        slot = -1;
      }
      result.outcome = copied.outcome;
      result.status = copied.status;
      return result;
    }
    result.slots[i] = copied.slot;
  }
  result.outcome = needed > 0 ? Outcome::kHostHit : Outcome::kDeviceHit;
  return result;
}

AdapterCache::Acquired AdapterCache::Warm(const std::string& id) {
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = current_.find(id);
    if (it == current_.end()) {
      return {Outcome::kFailed, -1,
              absl::NotFoundError(
                  absl::StrCat("adapter '", id, "' is not registered"))};
    }
    generation = it->second;
  }
  return WarmImpl(generation);
}

AdapterCache::Acquired AdapterCache::WarmImpl(uint64_t generation) {
  std::string id;
  {
    absl::MutexLock lock(&mu_);
    auto it = registrations_.find(generation);
    if (it == registrations_.end()) {
      return {Outcome::kFailed, -1,
              absl::NotFoundError("the adapter was unregistered (deleted)")};
    }
    Registration& registration = it->second;
    id = registration.id;
    const int64_t slot = FindSlot(generation);
    if (slot >= 0) {
      slots_[slot].last_used = ++clock_;
      TouchHost(generation);
      return {Outcome::kDeviceHit, slot, absl::OkStatus()};
    }
    if (host_.count(generation) == 0) {
      if (registration.disk_load != DiskLoad::kIdle) {
        return {Outcome::kLoading, -1, absl::OkStatus()};
      }
      if (!registration.failure.ok() && Now() < registration.retry_after) {
        return {Outcome::kFailed, -1, registration.failure};
      }
      registration.disk_load = DiskLoad::kQueued;
      jobs_.push_back(LoadJob{generation, registration.dir});
      return {Outcome::kLoading, -1, absl::OkStatus()};
    }
  }
  return CopyToDevice(generation, id, /*pin=*/false);
}

AdapterCache::Acquired AdapterCache::CopyToDevice(uint64_t generation,
                                                  const std::string& id,
                                                  bool pin) {
  // In the host tier: evict least recently used adapters until its rank
  // rows are free (Note [Rank rows] in lora_bank.h), then copy it into a
  // free slot.
  const HostAdapter& adapter = *host_.at(generation).adapter;
  const int64_t rows = LoraBank::RowsFor(adapter);
  if (ClaimableRows(/*keep=*/{}) < rows) {
    return {Outcome::kNoSlot, -1, absl::OkStatus()};
  }
  while (rows > bank_->free_rows()) {
    FreeSlot(LeastRecentlyUsedUnpinnedSlot());
    ++device_evictions_;
    if (observer_ != nullptr) observer_->OnAdapterEvicted(/*from_device=*/true);
  }
  const int64_t slot = FreeSlotIndex();  // One exists: every slot has rows.
  Slot& target = slots_[slot];
  const absl::Time start = absl::Now();
  try {
    ReachHook(options_.hooks, EngineHookPoint::kAdapterDeviceCopy);
    bank_->Load(slot, adapter);
  } catch (const std::exception& e) {
    // The slot stays free (Load emptied it); its rows are rewritten whole
    // by the next Load that takes them.
    const absl::Status error =
        TorchErrorToStatus(e, "copying the adapter to the device");
    LogError("adapter '%s': %s", id, error.ToString());
    if (observer_ != nullptr) {
      observer_->OnAdapterLoadFailed(/*from_disk=*/false, error.code());
    }
    return {Outcome::kFailed, -1, error};
  }
  if (observer_ != nullptr) {
    observer_->OnAdapterLoaded(/*from_disk=*/false, absl::Now() - start);
  }
  TouchHost(generation);
  target = Slot{id, generation, pin ? 1 : 0, ++clock_, /*occupied=*/true};
  ++device_resident_;
  device_rows_in_use_ = bank_->capacity_rows() - bank_->free_rows();
  {
    // Warm's registration may have been dropped meanwhile (Poll then frees
    // the slot); a request's is held.
    absl::MutexLock lock(&mu_);
    auto it = registrations_.find(generation);
    if (it != registrations_.end()) {
      it->second.on_device = true;
      if (pin) {
        ++it->second.pins;
        it->second.last_used = Now();
      }
    }
  }
  return {Outcome::kHostHit, slot, absl::OkStatus()};
}

void AdapterCache::Release(int64_t slot, const RequestTokens* ran) {
  Slot& target = slots_[slot];
  --target.pins;
  absl::MutexLock lock(&mu_);
  // A pinned slot's registration is held by its request (Note [Adapter
  // lifetime]), so it is found.
  auto it = registrations_.find(target.generation);
  if (it == registrations_.end()) return;
  Registration& registration = it->second;
  --registration.pins;
  if (ran != nullptr) {
    registration.last_used = Now();
    ++registration.requests;
    registration.prompt_tokens += ran->prompt;
    registration.completion_tokens += ran->completion;
  }
}

void AdapterCache::Poll() {
  std::vector<LoadResult> results;
  std::vector<uint64_t> dropped;
  std::vector<std::function<void()>> callbacks;
  std::vector<std::string> installed_ids;
  {
    absl::MutexLock lock(&mu_);
    results.swap(results_);
    const absl::Time now = results.empty() ? absl::Time() : Now();
    for (LoadResult& result : results) {
      // A read in flight keeps its registration (Note [Adapter lifetime]).
      auto it = registrations_.find(result.generation);
      if (it == registrations_.end()) {  // Not expected; nothing to install.
        result.adapter = absl::CancelledError("released during the load");
        installed_ids.emplace_back();
        continue;
      }
      Registration& registration = it->second;
      registration.disk_load = DiskLoad::kIdle;
      installed_ids.push_back(registration.id);
      if (result.adapter.ok()) {
        registration.failure = absl::OkStatus();
        registration.consecutive_failures = 0;
      } else {
        registration.failure = result.adapter.status();
        ++registration.consecutive_failures;
        registration.retry_after =
            now + RetryDelay(registration.consecutive_failures);
      }
      if (DropIfReleasedLocked(result.generation, callbacks)) {
        result.adapter = absl::CancelledError("released during the load");
      }
    }
    for (uint64_t generation : unused_) {
      DropIfReleasedLocked(generation, callbacks);
    }
    unused_.clear();
    dropped.swap(dropped_);
  }
  for (uint64_t generation : dropped) {
    for (size_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].occupied && slots_[s].generation == generation) {
        FreeSlot(static_cast<int64_t>(s));
      }
    }
    DropHostCopy(generation);
  }
  for (size_t i = 0; i < results.size(); ++i) {
    LoadResult& result = results[i];
    if (absl::IsCancelled(result.adapter.status())) continue;
    if (!result.adapter.ok()) {
      LogWarning("adapter '%s' failed to load: %s", installed_ids[i],
                 result.adapter.status().ToString());
      if (observer_ != nullptr) {
        observer_->OnAdapterLoadFailed(/*from_disk=*/true,
                                       result.adapter.status().code());
      }
      continue;
    }
    if (observer_ != nullptr) {
      observer_->OnAdapterLoaded(/*from_disk=*/true, result.duration);
    }
    InstallHostCopy(result.generation, installed_ids[i],
                    *std::move(result.adapter));
  }
  host_resident_ = static_cast<int64_t>(host_.size());
  for (auto& callback : callbacks) callback();
}

absl::Status AdapterCache::Evict(const std::string& id) {
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (!slot.occupied || slot.id != id) continue;
    if (slot.pins > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("adapter '", id, "' is in use by running requests"));
    }
    FreeSlot(static_cast<int64_t>(s));
    ++device_evictions_;
    if (observer_ != nullptr) observer_->OnAdapterEvicted(/*from_device=*/true);
  }
  for (auto it = host_.begin(); it != host_.end();) {
    if (it->second.id == id) {
      host_lru_.erase(it->second.lru_pos);
      MirrorHost(it->first, /*in_host=*/false);
      it = host_.erase(it);
    } else {
      ++it;
    }
  }
  host_resident_ = static_cast<int64_t>(host_.size());
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
      // Jobs of dropped registrations are removed with them.
      auto it = registrations_.find(job.generation);
      if (it == registrations_.end()) continue;
      it->second.disk_load = DiskLoad::kReading;
    }
    const absl::Time start = absl::Now();
    LoadResult result{job.generation, absl::UnknownError("unset"),
                      absl::ZeroDuration()};
    try {
      auto files =
          LoraAdapterFiles::Open(job.dir, config_, options_.validation);
      if (files.ok()) {
        result.adapter = HostAdapter::FromFiles(**files, dtype_);
      } else {
        result.adapter = files.status();
      }
    } catch (const std::exception& e) {
      // E.g. std::bad_alloc: this thread must not die with the process.
      result.adapter = absl::InternalError(
          absl::StrCat("reading the adapter failed: ", e.what()));
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
