// The inference engine's public interface: plain C++ types only (no LibTorch,
// no protobuf). One loop thread owns the model and the device; every method
// here is thread-safe and talks to it through queues.
#ifndef LORAPLEX_ENGINE_ENGINE_H_
#define LORAPLEX_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/config/model_config.h"
#include "engine/generation_types.h"
#include "engine/lora/lora_adapter.h"

namespace loraplex::engine {

struct EngineOptions {
  std::string model_dir;        // Hugging Face model directory.
  std::string device = "auto";  // "cpu", "cuda", "cuda:N" or "auto".
  // "float32", "float16", "bfloat16" or "auto" (float32 on CPU, bfloat16 on
  // CUDA).
  std::string dtype = "auto";
  int32_t max_batch_size = 32;  // Sequences decoded together per step.
  // Tokens of KV cache per sequence (prompt + output). 0 = the model's
  // max_position_embeddings, capped at 4096.
  int32_t max_seq_len = 0;
  // KV cache memory, in tokens over all sequences. 0 = max_batch_size x
  // max_seq_len (every sequence can reach max_seq_len at once). A sequence
  // holds memory for the tokens it has and is admitted when the cache can
  // hold its prompt plus max_new_tokens (Note [Paged KV cache] in
  // runtime/kv_cache.h), so a smaller cache serves as many short requests
  // at once. At least max_seq_len.
  int64_t kv_cache_tokens = 0;
  // Prompt tokens processed per step across all sequences; long prompts are
  // prefilled in chunks so running decodes keep moving.
  int32_t max_prefill_tokens = 512;
  // Device memory for adapters (LRU), sized to hold this many adapters of
  // rank max_lora_rank: max_resident_adapters x max_lora_rank rank rows,
  // of which an adapter of rank r takes r (Note [Rank rows] in
  // runtime/lora_bank.h), so more adapters of lower rank fit.
  int32_t max_resident_adapters = 16;
  int32_t max_host_adapters = 64;      // Host-memory LRU tier behind them.
  int32_t max_lora_rank = 64;          // Larger adapters are refused.
  int32_t max_queued_requests = 1024;  // Submit -> RESOURCE_EXHAUSTED beyond.
  int32_t max_queued_per_tenant = 0;   // 0 = no per-tenant bound.
  int32_t num_threads = 0;             // CPU intra-op threads; 0 = all cores.
};

// Observes engine activity for metrics. Called on engine threads; every
// method must be cheap and must not call back into the Engine.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  // One forward step: rows in the batch, distinct adapters among them (base
  // counts as none), prompt and decode tokens processed, wall time.
  virtual void OnStep(int32_t batch_rows, int32_t distinct_adapters,
                      int32_t prefill_tokens, int32_t decode_tokens,
                      absl::Duration duration) {}
  enum class CacheOutcome { kDeviceHit, kHostHit, kMiss };
  // Where a request's first cache lookup found an adapter: once per adapter
  // it uses (a mix of k adapters, k times).
  virtual void OnAdapterLookup(CacheOutcome outcome) {}
  // An adapter was read from disk and validated (kMiss), or copied from the
  // host tier to a device slot.
  virtual void OnAdapterLoaded(bool from_disk, absl::Duration duration) {}
  virtual void OnAdapterEvicted(bool from_device) {}
  // Making an adapter resident failed: reading and validating it from disk
  // (from_disk), or copying it to a device slot. `code` is the error the
  // requests waiting for it got. See Note [Adapter load retries] in
  // engine/runtime/adapter_cache.h: a failed disk load is retried after a
  // backoff, never remembered for good.
  virtual void OnAdapterLoadFailed(bool from_disk, absl::StatusCode code) {}
};

struct EngineStats {
  int64_t queued_requests = 0;
  int64_t running_sequences = 0;
  int64_t kv_slots_in_use = 0;
  int64_t kv_slots_total = 0;
  // KV cache positions: held by running sequences (whole blocks), reserved
  // for what they may still generate (held included), and in all.
  int64_t kv_tokens_in_use = 0;
  int64_t kv_tokens_reserved = 0;
  int64_t kv_tokens_capacity = 0;
  int64_t resident_adapters_device = 0;
  // Rank rows of the device adapter pool: owned by resident adapters, and
  // in all (max_resident_adapters x max_lora_rank).
  int64_t lora_rank_rows_in_use = 0;
  int64_t lora_rank_rows_capacity = 0;
  int64_t resident_adapters_host = 0;
  int64_t registered_adapters = 0;
  int64_t steps = 0;
  int64_t generated_tokens = 0;
  int64_t adapter_device_hits = 0;
  int64_t adapter_host_hits = 0;
  int64_t adapter_misses = 0;
  int64_t adapter_evictions = 0;
};

// Where an adapter's weights are right now (Engine::GetAdapterStates).
enum class AdapterResidency {
  kDisk,    // Only its files: never read, or dropped from both memory tiers.
  kHost,    // Parsed in host memory (the host LRU tier), not in a slot.
  kDevice,  // In a device slot, ready for the next step.
};

// An adapter registration's residency and use since it was registered.
struct AdapterState {
  AdapterResidency residency = AdapterResidency::kDisk;
  // Running requests holding its device slot now; the slot is pinned (never
  // evicted) while this is above 0.
  int64_t running_requests = 0;
  // When a request last started or stopped using it; unset = never.
  std::optional<absl::Time> last_used;
  // Requests that ran with it (a mix counts for each of its adapters) and
  // their tokens, counted when each request finishes.
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// What the engine runs on, for start-up logs and the API.
struct ModelInfo {
  ModelConfig config;
  std::string device;  // "cpu" / "cuda:0"
  std::string dtype;   // "float32" / ...
  int32_t max_seq_len = 0;
  bool has_tokenizer = false;
};

class Engine {
 public:
  // Loads the model (and its tokenizer when the directory has one) onto the
  // device and starts the loop thread.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options, EngineObserver* observer = nullptr);

  // Cancels everything still running and joins the loop.
  virtual ~Engine() = default;

  // Queues a request. On success the callback receives events until one has
  // finished=true; on error it is never called. Errors: INVALID_ARGUMENT
  // (empty/over-long prompt, bad sampling values, out-of-vocabulary ids, no
  // tokenizer for a text prompt; both adapter_id and adapters set; a mix of
  // more than kMaxMixedAdapters, a repeated adapter, a weight that is not
  // finite or beyond kMaxAdapterWeight),
  // NOT_FOUND (an unregistered adapter id),
  // RESOURCE_EXHAUSTED (the queue or the tenant's share of it is full:
  // checked before the prompt is tokenized, and again after), UNAVAILABLE
  // (shutting down). A request that fails later finishes with kError and
  // one of: the adapter's load error (INVALID_ARGUMENT, NOT_FOUND, ...),
  // INVALID_ARGUMENT (its adapters' ranks add up to more than
  // max_resident_adapters x max_lora_rank, so they could never be resident
  // together), FAILED_PRECONDITION (the model's outputs for it are not finite,
  // e.g. its adapter's weights overflow; other requests are unaffected),
  // INTERNAL (a device or engine error while it was in the batch).
  virtual absl::StatusOr<RequestId> Submit(GenerationRequest request,
                                           GenerationCallback callback) = 0;
  // The request leaves its batch at the next step boundary and finishes with
  // kCancelled; unknown or finished ids are ignored.
  virtual void Cancel(RequestId id) = 0;

  // Makes an adapter directory available under `adapter_id` (cheap: nothing
  // is read until a request uses it or LoadAdapter is called). ALREADY_EXISTS
  // if the id is taken.
  virtual absl::Status RegisterAdapter(const std::string& adapter_id,
                                       const std::string& adapter_dir) = 0;
  // Forgets the id for new requests (NOT_FOUND from then on; the id may be
  // registered again at once). Requests already submitted with it, queued
  // or running, finish with this version. `on_released` (may be empty) runs
  // exactly once, on an engine thread (or inline, before this returns, when
  // nothing uses the adapter), when no submitted request uses the adapter
  // any more and the engine will never read its directory again; until then
  // the adapter directory must stay readable. It must not block or call back
  // into the Engine. NOT_FOUND if the id is unknown (then `on_released` is
  // not called).
  virtual absl::Status UnregisterAdapter(const std::string& adapter_id,
                                         std::function<void()> on_released) = 0;
  // The same without a callback.
  absl::Status UnregisterAdapter(const std::string& adapter_id) {
    return UnregisterAdapter(adapter_id, nullptr);
  }
  // Like LoadAdapter, without blocking the caller: `done` runs exactly once
  // with the result: on the engine loop thread, or on the calling thread for
  // errors found before queueing (unknown id, shutting down). `done` must not
  // block or call back into the Engine. Errors: NOT_FOUND (unknown id),
  // INVALID_ARGUMENT (the files do not load), RESOURCE_EXHAUSTED (every
  // device slot is pinned by running requests: answered at once, never
  // parked), UNAVAILABLE (shutting down); a disk read in flight is waited
  // for (it is bounded).
  virtual void LoadAdapterAsync(const std::string& adapter_id,
                                std::function<void(absl::Status)> done) = 0;
  // LoadAdapterAsync, blocking until `done` would run. Must not be called on
  // the engine loop thread (from a GenerationCallback).
  virtual absl::Status LoadAdapter(const std::string& adapter_id) = 0;
  // Drops the adapter from the device (and host) cache if it is not in use.
  virtual absl::Status EvictAdapter(const std::string& adapter_id) = 0;

  // For each id: the state of its current registration, or nullopt when
  // it is not registered. Thread-safe; takes only a mutex that the loop
  // holds for bookkeeping, never across a step or a copy.
  virtual std::vector<std::optional<AdapterState>> GetAdapterStates(
      const std::vector<std::string>& adapter_ids) const = 0;

  // Validates an adapter directory against this engine's base model and
  // limits without registering it. INVALID_ARGUMENT with the reason.
  virtual absl::StatusOr<LoraAdapterSummary> ValidateAdapter(
      const std::string& adapter_dir) const = 0;

  // Tokenizer access (FAILED_PRECONDITION when the model has none).
  virtual absl::StatusOr<std::vector<int32_t>> Tokenize(
      const std::string& text, bool add_special_tokens) const = 0;
  virtual absl::StatusOr<std::string> Detokenize(
      const std::vector<int32_t>& ids) const = 0;

  // Stops accepting requests, lets running and queued ones finish for up to
  // `grace`, then cancels the rest. Returns when nothing is in flight.
  virtual void Shutdown(absl::Duration grace) = 0;

  virtual EngineStats Stats() const = 0;
  virtual const ModelInfo& model_info() const = 0;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_ENGINE_H_
