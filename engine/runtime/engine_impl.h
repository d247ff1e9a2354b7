// Internal (includes LibTorch): the Engine implementation. One loop thread
// owns the model, the KV cache and the LoRA bank; Submit/Cancel/adapter
// calls hand work to it through a mutex-guarded inbox and never touch the
// device. No lock is held across a forward pass.
#ifndef LORAPLEX_ENGINE_RUNTIME_ENGINE_IMPL_H_
#define LORAPLEX_ENGINE_RUNTIME_ENGINE_IMPL_H_

#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/runtime/adapter_cache.h"
#include "engine/runtime/engine_test_hooks.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/llama_model.h"
#include "engine/runtime/lora_bank.h"
#include "engine/runtime/sequence.h"
#include "engine/runtime/tenant_fair_queue.h"
#include "engine/tokenizer/tokenizer.h"

namespace loraplex::engine {

// Knobs and seams that are not part of the public EngineOptions: tests (and
// only tests) set them through EngineImpl::Create.
struct EngineInternalOptions {
  EngineTestHooks* hooks = nullptr;  // Not owned; must outlive the engine.
  // Replaces the adapter validation derived from EngineOptions (e.g. a test
  // that needs a numerically poisoned adapter to reach the device).
  std::optional<LoraValidationOptions> adapter_validation;
  // Backoff after a failed adapter load (Note [Adapter load retries]); the
  // clock is empty for absl::Now.
  absl::Duration adapter_first_retry_delay = absl::Seconds(1);
  absl::Duration adapter_max_retry_delay = absl::Seconds(60);
  std::function<absl::Time()> adapter_clock;
  // Rank rows of the LoraBank instead of max_resident_adapters x
  // max_lora_rank (a test's budget between two multiples of the rank).
  std::optional<int64_t> adapter_rank_rows;
};

class EngineImpl final : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options, EngineObserver* observer,
      const EngineInternalOptions& internal = {});
  ~EngineImpl() override;

  absl::StatusOr<RequestId> Submit(GenerationRequest request,
                                   GenerationCallback callback) override;
  void Cancel(RequestId id) override;
  absl::Status RegisterAdapter(const std::string& adapter_id,
                               const std::string& adapter_dir) override;
  using Engine::UnregisterAdapter;
  absl::Status UnregisterAdapter(const std::string& adapter_id,
                                 std::function<void()> on_released) override;
  void LoadAdapterAsync(const std::string& adapter_id,
                        std::function<void(absl::Status)> done) override;
  absl::Status LoadAdapter(const std::string& adapter_id) override;
  absl::Status EvictAdapter(const std::string& adapter_id) override;
  std::vector<std::optional<AdapterState>> GetAdapterStates(
      const std::vector<std::string>& adapter_ids) const override;
  absl::StatusOr<LoraAdapterSummary> ValidateAdapter(
      const std::string& adapter_dir) const override;
  absl::StatusOr<std::vector<int32_t>> Tokenize(
      const std::string& text, bool add_special_tokens) const override;
  absl::StatusOr<std::string> Detokenize(
      const std::vector<int32_t>& ids) const override;
  void Shutdown(absl::Duration grace) override;
  EngineStats Stats() const override;
  const ModelInfo& model_info() const override { return info_; }

 private:
  // A LoadAdapter/EvictAdapter call waiting for the loop.
  struct AdapterCommand {
    enum class Kind { kLoad, kEvict };
    Kind kind = Kind::kLoad;
    std::string id;
    std::function<void(absl::Status)> done;  // Runs once, on the loop.
  };

  EngineImpl(const EngineOptions& options, EngineObserver* observer,
             const EngineInternalOptions& internal);

  // RESOURCE_EXHAUSTED when the queue or the tenant's share of it is full,
  // UNAVAILABLE when shutting down.
  absl::Status CheckQueueRoom(const std::string& tenant) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks the adapters a request names and holds their registrations.
  absl::StatusOr<std::vector<SequenceAdapter>> HoldAdapters(
      const GenerationRequest& request) const;
  // Validates and tokenizes on the caller's thread.
  absl::StatusOr<std::unique_ptr<Sequence>> MakeSequence(
      RequestId id, GenerationRequest request,
      GenerationCallback callback) const;
  void QueueAdapterCommand(AdapterCommand::Kind kind, const std::string& id,
                           std::function<void(absl::Status)> done);
  void Wake();
  void LoopMain();
  // One loop iteration; false when the loop should exit. Exceptions that
  // escape it are caught by LoopMain (Note [Loop exception safety]).
  bool RunIteration();
  // Last resort for an exception that escaped an iteration: fails the
  // running requests and pending adapter commands with `error` (and the
  // queued requests too when it happens twice in a row).
  void FailInFlight(const absl::Status& error);
  // Takes what other threads handed in; false when the loop should exit.
  bool TakeInbox(std::vector<std::unique_ptr<Sequence>>& arrivals,
                 std::vector<RequestId>& cancels,
                 std::vector<std::unique_ptr<AdapterCommand>>& commands);
  void ApplyCancels(const std::vector<RequestId>& cancels);
  void CancelEverything();
  void RunAdapterCommands();
  void Admit();
  // Tries to pin every adapter of `seq` (Note [Mixed adapter admission]);
  // reports the cache lookups of its first try.
  AdapterCache::AcquiredAll AcquireAdapters(Sequence& seq);
  void Step();
  void SampleRow(Sequence& seq, const float* logits, int64_t vocab);
  // Emits the final event and releases the sequence's KV slot and adapter.
  void Finish(Sequence& seq, FinishReason reason, absl::Status error,
              GenerationEvent event);
  void ReleaseResources(Sequence& seq);
  void LeaveQueue(const Sequence& seq);
  void PublishStats();
  void PublishKvStats();  // The KV cache part of PublishStats.

  const EngineOptions options_;
  EngineObserver* const observer_;
  EngineTestHooks* const hooks_;
  ModelInfo info_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<int32_t> eos_ids_;

  // Loop-thread state (created in Create, then touched only by the loop).
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<KvCache> kv_cache_;
  std::unique_ptr<LoraBank> lora_bank_;
  std::unique_ptr<AdapterCache> adapters_;
  TenantFairQueue<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  std::vector<std::unique_ptr<AdapterCommand>> pending_commands_;
  // The queued request that alone may claim device slots while it waits
  // for them (Note [Slot waiter] in engine_step.cc).
  std::optional<RequestId> slot_waiter_;
  // Note [KV waiter] in engine_step.cc.
  std::optional<RequestId> kv_waiter_;
  int64_t consecutive_loop_errors_ = 0;

  mutable absl::Mutex mu_;
  absl::CondVar wake_cv_;
  std::vector<std::unique_ptr<Sequence>> inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<RequestId> cancel_inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<AdapterCommand>> command_inbox_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> queued_per_tenant_ ABSL_GUARDED_BY(mu_);
  int64_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool cancel_all_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<RequestId> next_id_{1};
  std::atomic<int64_t> in_flight_{0};  // Submitted and not yet finished.
  // Stats published by the loop.
  std::atomic<int64_t> stat_running_{0};
  std::atomic<int64_t> stat_steps_{0};
  std::atomic<int64_t> stat_tokens_{0};
  std::atomic<int64_t> stat_device_hits_{0};
  std::atomic<int64_t> stat_host_hits_{0};
  std::atomic<int64_t> stat_misses_{0};
  std::atomic<int64_t> stat_kv_in_use_{0};
  std::atomic<int64_t> stat_kv_tokens_in_use_{0};
  std::atomic<int64_t> stat_kv_tokens_reserved_{0};

  std::thread loop_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_ENGINE_IMPL_H_
