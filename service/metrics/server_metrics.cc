#include "service/metrics/server_metrics.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace loraplex::service {
namespace {

using prometheus::Histogram;
using Buckets = Histogram::BucketBoundaries;

// Seconds. Queue waits are short until the server saturates; time to first
// token includes prefill (and adapter loads); per-token times are tens of
// milliseconds on a GPU and more on a CPU; whole requests run seconds to
// minutes.
const Buckets& QueueWaitBuckets() {
  static const Buckets buckets = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                  0.05,  0.1,    0.25,  0.5,  1,
                                  2.5,   5,      10,    30,   60};
  return buckets;
}
const Buckets& TimeToFirstTokenBuckets() {
  static const Buckets buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                  1,     2.5,  5,     10,   30,  60};
  return buckets;
}
const Buckets& TimePerOutputTokenBuckets() {
  static const Buckets buckets = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.035,
                                  0.05,  0.075,  0.1,   0.25, 0.5,  1};
  return buckets;
}
const Buckets& RequestDurationBuckets() {
  static const Buckets buckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                  5,    10,   30,  60,   120, 300, 600};
  return buckets;
}
const Buckets& StepDurationBuckets() {
  static const Buckets buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                  0.05,   0.1,   0.25,   0.5,   1,    2.5};
  return buckets;
}
const Buckets& AdapterLoadBuckets() {
  static const Buckets buckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                  0.5,   1,     2.5,  5,     10,   30};
  return buckets;
}
// Counts: rows per step and distinct adapters per step.
const Buckets& BatchSizeBuckets() {
  static const Buckets buckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  return buckets;
}
const Buckets& DistinctAdapterBuckets() {
  static const Buckets buckets = {0, 1, 2, 4, 8, 16, 32, 64, 128};
  return buckets;
}

prometheus::Family<prometheus::Counter>& CounterFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Counter& AddCounter(prometheus::Registry& registry,
                                const std::string& name,
                                const std::string& help,
                                const prometheus::Labels& labels = {}) {
  return CounterFamily(registry, name, help).Add(labels);
}

prometheus::Gauge& AddGauge(prometheus::Registry& registry,
                            const std::string& name, const std::string& help,
                            const prometheus::Labels& labels = {}) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add(
      labels);
}

Histogram& AddHistogram(prometheus::Registry& registry, const std::string& name,
                        const std::string& help, const Buckets& buckets,
                        const prometheus::Labels& labels = {}) {
  return prometheus::BuildHistogram()
      .Name(name)
      .Help(help)
      .Register(registry)
      .Add(labels, buckets);
}

std::string TenantLabel(absl::string_view tenant) {
  return tenant.empty() ? kUnauthenticatedTenant : std::string(tenant);
}

constexpr char kCacheHitsHelp[] =
    "Adapter cache lookups that found the adapter, by tier (device slot or "
    "host memory).";
constexpr char kEvictionsHelp[] =
    "Adapters evicted from a cache tier (device slot or host memory).";
constexpr char kLoadHelp[] =
    "Time to make an adapter resident: read and validated from disk, or "
    "copied from host memory to a device slot.";
constexpr char kResidentHelp[] =
    "Adapters resident in each cache tier (device slots, host memory).";
constexpr char kLoraRowsHelp[] =
    "Rank rows of the device adapter pool: owned by resident adapters "
    "(in_use; an adapter of rank r owns r) and in all (capacity).";
constexpr char kKvTokensHelp[] =
    "KV cache positions: held by running sequences (in_use, whole blocks), "
    "reserved for what they may generate (reserved, in_use included), and "
    "in all (capacity).";

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    prometheus::Registry& registry, const ServerMetricsOptions& options) {
  if (options.adapter_labels < 0) {
    return absl::InvalidArgumentError(
        "the number of adapter labels must be >= 0");
  }
  // prometheus-cpp reports name clashes and invalid names by throwing.
  try {
    return std::unique_ptr<ServerMetrics>(new ServerMetrics(registry, options));
  } catch (const std::invalid_argument& e) {
    return absl::AlreadyExistsError(
        absl::StrCat("cannot register the server metrics: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("cannot register the server metrics: ", e.what()));
  }
}

ServerMetrics::ServerMetrics(prometheus::Registry& registry,
                             const ServerMetricsOptions& options)
    : requests_(CounterFamily(registry, "loraplex_requests_total",
                              "Finished requests by API (grpc, http), "
                              "tenant, method and status code.")),
      prompt_tokens_(CounterFamily(registry, "loraplex_prompt_tokens_total",
                                   "Prompt tokens of completed generations, "
                                   "by tenant.")),
      completion_tokens_(CounterFamily(
          registry, "loraplex_completion_tokens_total",
          "Generated tokens of completed generations, by tenant.")),
      upload_bytes_(CounterFamily(registry, "loraplex_upload_bytes_total",
                                  "Adapter file bytes received by uploads, "
                                  "by tenant.")),
      queue_wait_(
          AddHistogram(registry, "loraplex_request_queue_wait_seconds",
                       "Time from submission to the first scheduled step.",
                       QueueWaitBuckets())),
      time_to_first_token_(
          AddHistogram(registry, "loraplex_request_time_to_first_token_seconds",
                       "Time from submission to the first generated token.",
                       TimeToFirstTokenBuckets())),
      time_per_output_token_(AddHistogram(
          registry, "loraplex_request_time_per_output_token_seconds",
          "Mean time between generated tokens after the first, per request.",
          TimePerOutputTokenBuckets())),
      request_duration_(
          AddHistogram(registry, "loraplex_request_duration_seconds",
                       "Time from submission to the end of generation.",
                       RequestDurationBuckets())),
      steps_(AddCounter(registry, "loraplex_engine_steps_total",
                        "Forward steps run by the engine.")),
      step_duration_(AddHistogram(
          registry, "loraplex_engine_step_duration_seconds",
          "Wall time of one engine forward step.", StepDurationBuckets())),
      batch_size_(AddHistogram(registry, "loraplex_engine_batch_size",
                               "Sequences (rows) in one engine step.",
                               BatchSizeBuckets())),
      batch_distinct_adapters_(AddHistogram(
          registry, "loraplex_engine_batch_distinct_adapters",
          "Distinct adapters in one engine step (the base model counts as "
          "none).",
          DistinctAdapterBuckets())),
      prefill_tokens_(AddCounter(registry,
                                 "loraplex_engine_prefill_tokens_total",
                                 "Prompt tokens processed by engine steps.")),
      decode_tokens_(AddCounter(registry, "loraplex_engine_decode_tokens_total",
                                "Tokens decoded by engine steps.")),
      cache_device_hits_(AddCounter(registry,
                                    "loraplex_adapter_cache_hits_total",
                                    kCacheHitsHelp, {{"tier", "device"}})),
      cache_host_hits_(AddCounter(registry, "loraplex_adapter_cache_hits_total",
                                  kCacheHitsHelp, {{"tier", "host"}})),
      cache_misses_(AddCounter(registry, "loraplex_adapter_cache_misses_total",
                               "Adapter cache lookups that had to read the "
                               "adapter from disk.")),
      device_evictions_(AddCounter(registry,
                                   "loraplex_adapter_cache_evictions_total",
                                   kEvictionsHelp, {{"tier", "device"}})),
      host_evictions_(AddCounter(registry,
                                 "loraplex_adapter_cache_evictions_total",
                                 kEvictionsHelp, {{"tier", "host"}})),
      load_from_disk_(AddHistogram(registry, "loraplex_adapter_load_seconds",
                                   kLoadHelp, AdapterLoadBuckets(),
                                   {{"source", "disk"}})),
      load_from_host_(AddHistogram(registry, "loraplex_adapter_load_seconds",
                                   kLoadHelp, AdapterLoadBuckets(),
                                   {{"source", "host"}})),
      load_failures_(CounterFamily(
          registry, "loraplex_adapter_load_failures_total",
          "Failed attempts to make an adapter resident, by source (disk: "
          "read and validated from files; host: copied to a device slot) "
          "and the status code the waiting requests got. A failed disk load "
          "is retried after a backoff.")),
      resident_device_(AddGauge(registry, "loraplex_adapters_resident",
                                kResidentHelp, {{"tier", "device"}})),
      resident_host_(AddGauge(registry, "loraplex_adapters_resident",
                              kResidentHelp, {{"tier", "host"}})),
      registered_adapters_(AddGauge(registry, "loraplex_adapters_registered",
                                    "Adapters registered with the engine.")),
      kv_slots_in_use_(AddGauge(registry, "loraplex_kv_slots_in_use",
                                "KV cache sequence slots in use.")),
      kv_slots_capacity_(AddGauge(registry, "loraplex_kv_slots_capacity",
                                  "KV cache sequence slots in all.")),
      kv_tokens_in_use_(AddGauge(registry, "loraplex_kv_cache_tokens",
                                 kKvTokensHelp, {{"state", "in_use"}})),
      kv_tokens_reserved_(AddGauge(registry, "loraplex_kv_cache_tokens",
                                   kKvTokensHelp, {{"state", "reserved"}})),
      kv_tokens_capacity_(AddGauge(registry, "loraplex_kv_cache_tokens",
                                   kKvTokensHelp, {{"state", "capacity"}})),
      lora_rows_in_use_(AddGauge(registry, "loraplex_lora_rank_rows",
                                 kLoraRowsHelp, {{"state", "in_use"}})),
      lora_rows_capacity_(AddGauge(registry, "loraplex_lora_rank_rows",
                                   kLoraRowsHelp, {{"state", "capacity"}})),
      queued_requests_(AddGauge(registry, "loraplex_queued_requests",
                                "Requests waiting for admission.")),
      running_sequences_(AddGauge(registry, "loraplex_running_sequences",
                                  "Sequences in the running batch.")) {
  if (options.adapter_labels == 0) return;
  adapter_labels_ = std::make_unique<AdapterLabelSet>(AdapterLabelSet::Options{
      options.adapter_labels, options.adapter_label_period, options.clock});
  adapter_requests_ = &CounterFamily(
      registry, "loraplex_adapter_requests_total",
      "Generations that finished well, by adapter (a mix counts for each of "
      "its adapters); the most used adapters by label, the rest as "
      "adapter=\"other\".");
  adapter_prompt_tokens_ = &CounterFamily(
      registry, "loraplex_adapter_prompt_tokens_total",
      "Prompt tokens of generations that finished well, by adapter (as "
      "loraplex_adapter_requests_total).");
  adapter_completion_tokens_ = &CounterFamily(
      registry, "loraplex_adapter_completion_tokens_total",
      "Generated tokens of generations that finished well, by adapter (as "
      "loraplex_adapter_requests_total).");
  adapter_first_token_ =
      &prometheus::BuildHistogram()
           .Name("loraplex_adapter_time_to_first_token_seconds")
           .Help(
               "Time from submission to the first "
               "generated token, by adapter (as "
               "loraplex_adapter_requests_total).")
           .Register(registry);
}

void ServerMetrics::OnStep(int32_t batch_rows, int32_t distinct_adapters,
                           int32_t prefill_tokens, int32_t decode_tokens,
                           absl::Duration duration) {
  steps_.Increment();
  step_duration_.Observe(absl::ToDoubleSeconds(duration));
  batch_size_.Observe(batch_rows);
  batch_distinct_adapters_.Observe(distinct_adapters);
  prefill_tokens_.Increment(prefill_tokens);
  decode_tokens_.Increment(decode_tokens);
}

void ServerMetrics::OnAdapterLookup(CacheOutcome outcome) {
  switch (outcome) {
    case CacheOutcome::kDeviceHit:
      cache_device_hits_.Increment();
      return;
    case CacheOutcome::kHostHit:
      cache_host_hits_.Increment();
      return;
    case CacheOutcome::kMiss:
      cache_misses_.Increment();
      return;
  }
}

void ServerMetrics::OnAdapterLoaded(bool from_disk, absl::Duration duration) {
  (from_disk ? load_from_disk_ : load_from_host_)
      .Observe(absl::ToDoubleSeconds(duration));
}

void ServerMetrics::OnAdapterEvicted(bool from_device) {
  (from_device ? device_evictions_ : host_evictions_).Increment();
}

void ServerMetrics::OnAdapterLoadFailed(bool from_disk, absl::StatusCode code) {
  load_failures_
      .Add({{"source", from_disk ? "disk" : "host"},
            {"code", absl::StatusCodeToString(code)}})
      .Increment();
}

void ServerMetrics::RecordRequest(Api api, absl::string_view tenant,
                                  absl::string_view rpc,
                                  absl::StatusCode code) {
  requests_
      .Add({{"api", api == Api::kGrpc ? "grpc" : "http"},
            {"tenant", TenantLabel(tenant)},
            {"rpc", std::string(rpc)},
            {"code", absl::StatusCodeToString(code)}})
      .Increment();
}

void ServerMetrics::RecordGeneration(absl::string_view tenant,
                                     const engine::GenerationUsage& usage,
                                     const engine::GenerationTimings& timings) {
  const prometheus::Labels labels = {{"tenant", TenantLabel(tenant)}};
  prompt_tokens_.Add(labels).Increment(usage.prompt_tokens);
  completion_tokens_.Add(labels).Increment(usage.completion_tokens);
  queue_wait_.Observe(absl::ToDoubleSeconds(timings.queue));
  request_duration_.Observe(absl::ToDoubleSeconds(timings.total));
  if (usage.completion_tokens >= 1) {
    time_to_first_token_.Observe(absl::ToDoubleSeconds(timings.first_token));
  }
  if (usage.completion_tokens >= 2) {
    time_per_output_token_.Observe(
        absl::ToDoubleSeconds(timings.total - timings.first_token) /
        (usage.completion_tokens - 1));
  }
}

void ServerMetrics::RecordAdapterGeneration(
    absl::Span<const std::string> adapters,
    const engine::GenerationUsage& usage,
    const engine::GenerationTimings& timings) {
  if (adapter_labels_ == nullptr) return;
  absl::MutexLock lock(&adapter_mu_);
  for (const std::string& adapter : adapters) {
    AdapterLabelSet::Use use = adapter_labels_->Record(adapter);
    for (const std::string& demoted : use.demoted) {
      RemoveAdapterSeriesLocked(demoted);
    }
    const prometheus::Labels labels = {{"adapter", use.label}};
    adapter_requests_->Add(labels).Increment();
    adapter_prompt_tokens_->Add(labels).Increment(usage.prompt_tokens);
    adapter_completion_tokens_->Add(labels).Increment(usage.completion_tokens);
    if (usage.completion_tokens >= 1) {
      adapter_first_token_->Add(labels, TimeToFirstTokenBuckets())
          .Observe(absl::ToDoubleSeconds(timings.first_token));
    }
  }
}

void ServerMetrics::RemoveAdapterSeriesLocked(const std::string& adapter) {
  const prometheus::Labels labels = {{"adapter", adapter}};
  for (prometheus::Family<prometheus::Counter>* family :
       {adapter_requests_, adapter_prompt_tokens_,
        adapter_completion_tokens_}) {
    if (family->Has(labels)) family->Remove(&family->Add(labels));
  }
  if (adapter_first_token_->Has(labels)) {
    adapter_first_token_->Remove(
        &adapter_first_token_->Add(labels, TimeToFirstTokenBuckets()));
  }
}

void ServerMetrics::RecordUploadBytes(absl::string_view tenant,
                                      uint64_t bytes) {
  upload_bytes_.Add({{"tenant", TenantLabel(tenant)}})
      .Increment(static_cast<double>(bytes));
}

void ServerMetrics::UpdateEngineStats(const engine::EngineStats& stats) {
  resident_device_.Set(stats.resident_adapters_device);
  resident_host_.Set(stats.resident_adapters_host);
  registered_adapters_.Set(stats.registered_adapters);
  kv_slots_in_use_.Set(stats.kv_slots_in_use);
  kv_slots_capacity_.Set(stats.kv_slots_total);
  kv_tokens_in_use_.Set(static_cast<double>(stats.kv_tokens_in_use));
  kv_tokens_reserved_.Set(static_cast<double>(stats.kv_tokens_reserved));
  kv_tokens_capacity_.Set(static_cast<double>(stats.kv_tokens_capacity));
  lora_rows_in_use_.Set(static_cast<double>(stats.lora_rank_rows_in_use));
  lora_rows_capacity_.Set(static_cast<double>(stats.lora_rank_rows_capacity));
  queued_requests_.Set(stats.queued_requests);
  running_sequences_.Set(stats.running_sequences);
}

}  // namespace loraplex::service
