// Prometheus metrics of the server: engine activity (as an
// engine::EngineObserver), request outcomes and latencies (recorded by the
// servicers), and engine gauges (refreshed from engine::EngineStats).
//
// Exported families (all registered once, by Create):
//
// clang-format off
// | name                                           | type      | labels              |
// |------------------------------------------------|-----------|---------------------|
// | loraplex_requests_total                        | counter   | api, tenant, rpc, code |
// | loraplex_request_queue_wait_seconds            | histogram |                     |
// | loraplex_request_time_to_first_token_seconds   | histogram |                     |
// | loraplex_request_time_per_output_token_seconds | histogram |                     |
// | loraplex_request_duration_seconds              | histogram |                     |
// | loraplex_prompt_tokens_total                   | counter   | tenant              |
// | loraplex_completion_tokens_total               | counter   | tenant              |
// | loraplex_upload_bytes_total                    | counter   | tenant              |
// | loraplex_engine_steps_total                    | counter   |                     |
// | loraplex_engine_step_duration_seconds          | histogram |                     |
// | loraplex_engine_batch_size                     | histogram |                     |
// | loraplex_engine_batch_distinct_adapters        | histogram |                     |
// | loraplex_engine_prefill_tokens_total           | counter   |                     |
// | loraplex_engine_decode_tokens_total            | counter   |                     |
// | loraplex_adapter_cache_hits_total              | counter   | tier                |
// | loraplex_adapter_cache_misses_total            | counter   |                     |
// | loraplex_adapter_cache_evictions_total         | counter   | tier                |
// | loraplex_adapter_load_seconds                  | histogram | source              |
// | loraplex_adapter_load_failures_total           | counter   | source, code        |
// | loraplex_adapters_resident                     | gauge     | tier                |
// | loraplex_adapters_registered                   | gauge     |                     |
// | loraplex_kv_slots_in_use                       | gauge     |                     |
// | loraplex_kv_slots_capacity                     | gauge     |                     |
// | loraplex_kv_cache_tokens                       | gauge     | state               |
// | loraplex_lora_rank_rows                        | gauge     | state               |
// | loraplex_queued_requests                       | gauge     |                     |
// | loraplex_running_sequences                     | gauge     |                     |
// With --metrics-adapter-labels=N >= 1 (Note [Adapter metric labels] in
// adapter_label_set.h), also, by adapter (at most N + 1 label values):
// | loraplex_adapter_requests_total                | counter   | adapter             |
// | loraplex_adapter_prompt_tokens_total           | counter   | adapter             |
// | loraplex_adapter_completion_tokens_total       | counter   | adapter             |
// | loraplex_adapter_time_to_first_token_seconds   | histogram | adapter             |
// clang-format on
//
// Loads: loraplex_adapter_load_seconds{source="disk"} times each read from
// disk into the host tier, {source="host"} each copy from the host tier
// into a device slot; its _count is the loads by tier they fill.
//
// Labels: api = the door the request came in by, "grpc" or "http" (the
// OpenAI-compatible API); tenant = the authenticated tenant (bounded by the
// key file; kUnauthenticatedTenant for calls that failed authentication);
// rpc = the method name ("Generate", "UploadAdapter", ...; over HTTP
// "Completions", "ChatCompletions", "ListModels", "GetModel"); code = the
// canonical status code name, as gRPC spells it ("OK", "NOT_FOUND", ...;
// an HTTP request is counted by the code its HTTP status was made from);
// tier = "device" or "host"; source = "disk" (read and validated from files)
// or "host" (copied from the host tier to a device slot). Adapters are a
// label only of the opt-in loraplex_adapter_* families above, bounded by
// their rule.
#ifndef LORAPLEX_SERVICE_METRICS_SERVER_METRICS_H_
#define LORAPLEX_SERVICE_METRICS_SERVER_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "engine/generation_types.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "service/metrics/adapter_label_set.h"

namespace loraplex::service {

// The tenant label of requests that never authenticated.
inline constexpr char kUnauthenticatedTenant[] = "unauthenticated";

struct ServerMetricsOptions {
  // --metrics-adapter-labels: adapters with their own label on the
  // loraplex_adapter_* series; 0 = those families are off.
  int32_t adapter_labels = 0;
  // Re-ranking period and clock of Note [Adapter metric labels] (tests
  // shorten or fake them); an empty clock is absl::Now.
  absl::Duration adapter_label_period = absl::Seconds(60);
  std::function<absl::Time()> clock;
};

// Every method is thread-safe and cheap (the EngineObserver ones run on the
// engine loop thread and never block on anything but prometheus-cpp's
// per-family mutex).
class ServerMetrics final : public engine::EngineObserver {
 public:
  // Registers every family on `registry`, which must outlive the result.
  // ALREADY_EXISTS if a family of the same name but another type is
  // registered there already.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      prometheus::Registry& registry,
      const ServerMetricsOptions& options = ServerMetricsOptions());

  // engine::EngineObserver.
  void OnStep(int32_t batch_rows, int32_t distinct_adapters,
              int32_t prefill_tokens, int32_t decode_tokens,
              absl::Duration duration) override;
  void OnAdapterLookup(CacheOutcome outcome) override;
  void OnAdapterLoaded(bool from_disk, absl::Duration duration) override;
  void OnAdapterEvicted(bool from_device) override;
  void OnAdapterLoadFailed(bool from_disk, absl::StatusCode code) override;

  // The API a request came in by (the `api` label).
  enum class Api { kGrpc, kHttp };
  // One finished request (any outcome). An empty tenant counts as
  // kUnauthenticatedTenant.
  void RecordRequest(Api api, absl::string_view tenant, absl::string_view rpc,
                     absl::StatusCode code);
  // One completed generation (from its final engine event): token counts by
  // tenant and the latency histograms. Time to first token is observed when
  // at least one token was generated; time per output token,
  // (total - first_token) / (completion_tokens - 1), when two or more were.
  void RecordGeneration(absl::string_view tenant,
                        const engine::GenerationUsage& usage,
                        const engine::GenerationTimings& timings);
  // Whether the loraplex_adapter_* families are on.
  bool labels_adapters() const { return adapter_labels_ != nullptr; }
  // One generation that finished well (not with an error, not cancelled)
  // using `adapters` ("<owner>/<name>"; a mix counts for each): requests,
  // tokens and time to first token by adapter label. No-op when off. Takes
  // a mutex of its own for a few map operations (engine loop thread).
  void RecordAdapterGeneration(absl::Span<const std::string> adapters,
                               const engine::GenerationUsage& usage,
                               const engine::GenerationTimings& timings);
  // Adapter file bytes received by an upload (successful or not).
  void RecordUploadBytes(absl::string_view tenant, uint64_t bytes);
  // Sets the gauges; call before each scrape (MetricsExposer's
  // before_scrape) or periodically.
  void UpdateEngineStats(const engine::EngineStats& stats);

 private:
  ServerMetrics(prometheus::Registry& registry,
                const ServerMetricsOptions& options);
  // Drops every series of `adapter` from the loraplex_adapter_* families.
  void RemoveAdapterSeriesLocked(const std::string& adapter)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(adapter_mu_);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& prompt_tokens_;
  prometheus::Family<prometheus::Counter>& completion_tokens_;
  prometheus::Family<prometheus::Counter>& upload_bytes_;
  prometheus::Histogram& queue_wait_;
  prometheus::Histogram& time_to_first_token_;
  prometheus::Histogram& time_per_output_token_;
  prometheus::Histogram& request_duration_;

  prometheus::Counter& steps_;
  prometheus::Histogram& step_duration_;
  prometheus::Histogram& batch_size_;
  prometheus::Histogram& batch_distinct_adapters_;
  prometheus::Counter& prefill_tokens_;
  prometheus::Counter& decode_tokens_;
  prometheus::Counter& cache_device_hits_;
  prometheus::Counter& cache_host_hits_;
  prometheus::Counter& cache_misses_;
  prometheus::Counter& device_evictions_;
  prometheus::Counter& host_evictions_;
  prometheus::Histogram& load_from_disk_;
  prometheus::Histogram& load_from_host_;
  prometheus::Family<prometheus::Counter>& load_failures_;

  prometheus::Gauge& resident_device_;
  prometheus::Gauge& resident_host_;
  prometheus::Gauge& registered_adapters_;
  prometheus::Gauge& kv_slots_in_use_;
  prometheus::Gauge& kv_slots_capacity_;
  prometheus::Gauge& kv_tokens_in_use_;
  prometheus::Gauge& kv_tokens_reserved_;
  prometheus::Gauge& kv_tokens_capacity_;
  prometheus::Gauge& lora_rows_in_use_;
  prometheus::Gauge& lora_rows_capacity_;
  prometheus::Gauge& queued_requests_;
  prometheus::Gauge& running_sequences_;

  // Note [Adapter metric labels]: null when off. A series is only touched
  // under adapter_mu_, so none is used while it is being removed.
  absl::Mutex adapter_mu_;
  std::unique_ptr<AdapterLabelSet> adapter_labels_
      ABSL_PT_GUARDED_BY(adapter_mu_);
  prometheus::Family<prometheus::Counter>* adapter_requests_ = nullptr;
  prometheus::Family<prometheus::Counter>* adapter_prompt_tokens_ = nullptr;
  prometheus::Family<prometheus::Counter>* adapter_completion_tokens_ = nullptr;
  prometheus::Family<prometheus::Histogram>* adapter_first_token_ = nullptr;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_METRICS_SERVER_METRICS_H_
