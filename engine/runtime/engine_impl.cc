// EngineImpl: construction, the thread-safe public API, and the loop's
// control flow. The step itself is in engine_step.cc.
#include "engine/runtime/engine_impl.h"

#include <algorithm>
#include <cmath>
#include <future>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "engine/runtime/torch_utils.h"

namespace loraplex::engine {

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const EngineOptions& options, EngineObserver* observer) {
  return EngineImpl::Create(options, observer, EngineInternalOptions{});
}

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "unknown";
}

namespace {

absl::Status ValidateOptions(const EngineOptions& o) {
  auto positive = [](const char* name, int64_t v) -> absl::Status {
    if (v < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be at least 1 (got ", v, ")"));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(positive("max_batch_size", o.max_batch_size));
  RETURN_IF_ERROR(positive("max_prefill_tokens", o.max_prefill_tokens));
  RETURN_IF_ERROR(positive("max_resident_adapters", o.max_resident_adapters));
  RETURN_IF_ERROR(positive("max_host_adapters", o.max_host_adapters));
  RETURN_IF_ERROR(positive("max_lora_rank", o.max_lora_rank));
  RETURN_IF_ERROR(positive("max_queued_requests", o.max_queued_requests));
  if (o.max_seq_len < 0 || o.num_threads < 0 || o.max_queued_per_tenant < 0 ||
      o.kv_cache_tokens < 0) {
    return absl::InvalidArgumentError(
        "max_seq_len, num_threads, max_queued_per_tenant and kv_cache_tokens "
        "must be >= 0");
  }
  if (o.model_dir.empty()) {
    return absl::InvalidArgumentError("no model directory given");
  }
  return absl::OkStatus();
}

}  // namespace

EngineImpl::EngineImpl(const EngineOptions& options, EngineObserver* observer,
                       const EngineInternalOptions& internal)
    : options_(options), observer_(observer), hooks_(internal.hooks) {}

absl::StatusOr<std::unique_ptr<Engine>> EngineImpl::Create(
    const EngineOptions& options, EngineObserver* observer,
    const EngineInternalOptions& internal) {
  RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<EngineImpl> engine(
      new EngineImpl(options, observer, internal));
  ASSIGN_OR_RETURN(const ModelConfig config,
                   LoadModelConfig(options.model_dir));
  try {
    ASSIGN_OR_RETURN(const torch::Device device, ParseDevice(options.device));
    ASSIGN_OR_RETURN(const torch::Dtype dtype,
                     ParseDtype(options.dtype, device));
    int64_t max_seq_len = options.max_seq_len;
    if (max_seq_len == 0) {
      max_seq_len = std::min<int64_t>(config.max_position_embeddings, 4096);
    } else if (max_seq_len > config.max_position_embeddings) {
      return absl::InvalidArgumentError(absl::StrCat(
          "max_seq_len ", max_seq_len, " exceeds the model's ",
          "max_position_embeddings ", config.max_position_embeddings));
    }
    if (options.kv_cache_tokens != 0 && options.kv_cache_tokens < max_seq_len) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_cache_tokens ", options.kv_cache_tokens, " is below max_seq_len ",
          max_seq_len, ": a sequence of max_seq_len tokens could never run"));
    }
    ASSIGN_OR_RETURN(auto checkpoint,
                     SafetensorsCheckpoint::Open(options.model_dir));
    ASSIGN_OR_RETURN(
        engine->model_,
        LlamaModel::Load(config, *checkpoint, device, dtype, max_seq_len));
    auto tokenizer = Tokenizer::Load(options.model_dir);
    if (tokenizer.ok()) {
      engine->tokenizer_ = *std::move(tokenizer);
    } else if (!absl::IsNotFound(tokenizer.status())) {
      return tokenizer.status();
    }
    engine->eos_ids_ = config.eos_token_ids;
    if (engine->eos_ids_.empty() && engine->tokenizer_ &&
        engine->tokenizer_->eos_token_id()) {
      engine->eos_ids_.push_back(*engine->tokenizer_->eos_token_id());
    }
    engine->kv_cache_ =
        std::make_unique<KvCache>(config, options.max_batch_size, max_seq_len,
                                  device, dtype, options.kv_cache_tokens);
    // Every stack of the bank is allocated here: a device that is too small
    // fails the start, not a request later.
    engine->lora_bank_ = LoraBank::WithRows(
        config,
        internal.adapter_rank_rows.value_or(
            int64_t{options.max_resident_adapters} * options.max_lora_rank),
        options.max_lora_rank, device, dtype);
    AdapterCache::Options cache_options;
    cache_options.host_capacity = options.max_host_adapters;
    cache_options.validation.max_rank = options.max_lora_rank;
    if (internal.adapter_validation) {
      cache_options.validation = *internal.adapter_validation;
    }
    cache_options.first_retry_delay = internal.adapter_first_retry_delay;
    cache_options.max_retry_delay = internal.adapter_max_retry_delay;
    cache_options.clock = internal.adapter_clock;
    cache_options.hooks = internal.hooks;
    EngineImpl* raw = engine.get();
    engine->adapters_ = std::make_unique<AdapterCache>(
        cache_options, config, dtype, engine->lora_bank_.get(), observer,
        [raw] { raw->Wake(); });
    LogInfo(
        "engine: KV cache %d MiB (%d tokens in blocks of %d; %d sequences of "
        "up to %d tokens), LoRA bank %d MiB "
        "(%d rank rows: %d adapters of rank %d, more of lower rank), "
        "reserved on %s",
        static_cast<int64_t>(engine->kv_cache_->bytes() >> 20),
        engine->kv_cache_->capacity_tokens(), KvCache::kBlockTokens,
        options.max_batch_size, max_seq_len,
        static_cast<int64_t>(engine->lora_bank_->bytes() >> 20),
        engine->lora_bank_->capacity_rows(), options.max_resident_adapters,
        options.max_lora_rank, device.str());
    engine->info_.config = config;
    engine->info_.device = device.str();
    engine->info_.dtype = DtypeName(dtype);
    engine->info_.max_seq_len = static_cast<int32_t>(max_seq_len);
    engine->info_.has_tokenizer = engine->tokenizer_ != nullptr;
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "creating the engine");
  }
  engine->loop_ = std::thread([raw = engine.get()] { raw->LoopMain(); });
  return std::unique_ptr<Engine>(std::move(engine));
}

EngineImpl::~EngineImpl() {
  Shutdown(absl::ZeroDuration());
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    wake_ = true;
    wake_cv_.Signal();
  }
  if (loop_.joinable()) loop_.join();
  // Sequences hold AdapterUses: end them while the cache still exists.
  running_.clear();
  waiting_.RemoveIf([](const auto&) { return true; }, [](auto&) {});
  std::vector<std::unique_ptr<Sequence>> inbox;
  {
    absl::MutexLock lock(&mu_);
    inbox.swap(inbox_);
  }
  inbox.clear();
  // Join the loader before mu_ goes: its completion callback locks mu_.
  adapters_.reset();
}

void EngineImpl::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
  wake_cv_.Signal();
}

absl::StatusOr<std::vector<SequenceAdapter>> EngineImpl::HoldAdapters(
    const GenerationRequest& request) const {
  std::vector<WeightedAdapter> wanted = request.adapters;
  if (!request.adapter_id.empty()) {
    if (!wanted.empty()) {
      return absl::InvalidArgumentError(
          "set either one adapter or a mix of adapters, not both");
    }
    wanted.push_back(WeightedAdapter{request.adapter_id, 1.0f});
  }
  if (static_cast<int64_t>(wanted.size()) > kMaxMixedAdapters) {
    return absl::InvalidArgumentError(
        absl::StrCat("a request may mix at most ", kMaxMixedAdapters,
                     " adapters (got ", wanted.size(), ")"));
  }
  std::vector<SequenceAdapter> held;
  for (size_t i = 0; i < wanted.size(); ++i) {
    const WeightedAdapter& adapter = wanted[i];
    if (adapter.adapter_id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("adapter ", i, " of the mix has no name"));
    }
    if (!std::isfinite(adapter.weight) ||
        std::abs(adapter.weight) > kMaxAdapterWeight) {
      return absl::InvalidArgumentError(
          absl::StrCat("the weight of adapter '", adapter.adapter_id, "' is ",
                       adapter.weight, "; it must be finite and within [-",
                       kMaxAdapterWeight, ", ", kMaxAdapterWeight, "]"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (wanted[j].adapter_id == adapter.adapter_id) {
        return absl::InvalidArgumentError(absl::StrCat(
            "adapter '", adapter.adapter_id, "' appears twice in the mix"));
      }
    }
    SequenceAdapter entry;
    ASSIGN_OR_RETURN(entry.use, adapters_->Hold(adapter.adapter_id));
    entry.weight = adapter.weight;
    held.push_back(std::move(entry));
  }
  return held;
}

absl::StatusOr<std::unique_ptr<Sequence>> EngineImpl::MakeSequence(
    RequestId id, GenerationRequest request,
    GenerationCallback callback) const {
  RETURN_IF_ERROR(ValidateSamplingParams(request.sampling));
  const StoppingParams& stopping = request.stopping;
  if (stopping.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_new_tokens must be at least 1 (got ",
                     stopping.max_new_tokens, ")"));
  }
  if (!callback) return absl::InvalidArgumentError("no callback given");
  ASSIGN_OR_RETURN(std::vector<SequenceAdapter> adapters,
                   HoldAdapters(request));
  std::vector<int32_t> prompt = std::move(request.prompt_ids);
  if (prompt.empty()) {
    if (request.prompt_text.empty()) {
      return absl::InvalidArgumentError("the prompt is empty");
    }
    if (!tokenizer_) {
      return absl::InvalidArgumentError(
          "the model has no tokenizer: send prompt token ids instead of text");
    }
    ReachHook(hooks_, EngineHookPoint::kTokenizePrompt);
    ASSIGN_OR_RETURN(prompt, tokenizer_->Encode(request.prompt_text,
                                                request.add_special_tokens));
    if (prompt.empty()) {
      return absl::InvalidArgumentError("the prompt encodes to no tokens");
    }
  }
  const int64_t vocab = info_.config.vocab_size;
  for (int32_t token : prompt) {
    if (token < 0 || token >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt token id ", token,
                       " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  if (static_cast<int64_t>(prompt.size()) >= info_.max_seq_len) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the prompt has ", prompt.size(), " tokens; at most ",
        info_.max_seq_len - 1, " fit (max_seq_len ", info_.max_seq_len, ")"));
  }
  if (!stopping.stop_strings.empty() && !tokenizer_) {
    return absl::InvalidArgumentError(
        "stop strings need a tokenizer and the model has none");
  }
  auto seq =
      std::make_unique<Sequence>(id, std::move(request), std::move(callback));
  seq->prompt = std::move(prompt);
  seq->adapters = std::move(adapters);
  if (tokenizer_) {
    seq->detokenizer = std::make_unique<IncrementalDetokenizer>(
        *tokenizer_, /*skip_special_tokens=*/true);
  }
  seq->submitted = absl::Now();
  return seq;
}

absl::Status EngineImpl::CheckQueueRoom(const std::string& tenant) const {
  if (!accepting_) {
    return absl::UnavailableError("the engine is shutting down");
  }
  if (queued_ >= options_.max_queued_requests) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request queue is full (",
                     options_.max_queued_requests, " waiting); retry later"));
  }
  if (options_.max_queued_per_tenant > 0) {
    auto it = queued_per_tenant_.find(tenant);
    const int64_t tenant_queued =
        it == queued_per_tenant_.end() ? 0 : it->second;
    if (tenant_queued >= options_.max_queued_per_tenant) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "tenant has ", tenant_queued, " requests waiting (limit ",
          options_.max_queued_per_tenant, "); retry later"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RequestId> EngineImpl::Submit(GenerationRequest request,
                                             GenerationCallback callback) {
  // Refuse before the (possibly long) tokenization when there is no room,
  // and check again after it: others may have queued meanwhile.
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckQueueRoom(request.tenant));
  }
  const RequestId id = next_id_++;
  ASSIGN_OR_RETURN(std::unique_ptr<Sequence> seq,
                   MakeSequence(id, std::move(request), std::move(callback)));
  {
    absl::MutexLock lock(&mu_);
    const absl::Status room = CheckQueueRoom(seq->request.tenant);
    if (room.ok()) {
      ++queued_per_tenant_[seq->request.tenant];
      ++queued_;
      ++in_flight_;
      inbox_.push_back(std::move(seq));
      wake_ = true;
      wake_cv_.Signal();
      return id;
    }
    // `seq` dies after the lock is released: ending its AdapterUse may wake
    // the loop, which takes mu_.
    return room;
  }
}

void EngineImpl::Cancel(RequestId id) {
  absl::MutexLock lock(&mu_);
  cancel_inbox_.push_back(id);
  wake_ = true;
  wake_cv_.Signal();
}

absl::Status EngineImpl::RegisterAdapter(const std::string& adapter_id,
                                         const std::string& adapter_dir) {
  return adapters_->Register(adapter_id, adapter_dir);
}

absl::Status EngineImpl::UnregisterAdapter(const std::string& adapter_id,
                                           std::function<void()> on_released) {
  RETURN_IF_ERROR(adapters_->Unregister(adapter_id, std::move(on_released)));
  Wake();  // The loop frees unused copies on its next iteration.
  return absl::OkStatus();
}

void EngineImpl::QueueAdapterCommand(AdapterCommand::Kind kind,
                                     const std::string& id,
                                     std::function<void(absl::Status)> done) {
  auto command = std::make_unique<AdapterCommand>();
  command->kind = kind;
  command->id = id;
  command->done = std::move(done);
  {
    absl::MutexLock lock(&mu_);
    if (!stop_) {
      command_inbox_.push_back(std::move(command));
      wake_ = true;
      wake_cv_.Signal();
      return;
    }
  }
  command->done(absl::UnavailableError("the engine is shutting down"));
}

void EngineImpl::LoadAdapterAsync(const std::string& adapter_id,
                                  std::function<void(absl::Status)> done) {
  if (!adapters_->IsRegistered(adapter_id)) {
    done(absl::NotFoundError(
        absl::StrCat("adapter '", adapter_id, "' is not registered")));
    return;
  }
  QueueAdapterCommand(AdapterCommand::Kind::kLoad, adapter_id, std::move(done));
}

namespace {

// Runs `start(done)` and blocks until `done` has been called (on any
// thread; the promise's shared state outlives whichever side ends last).
absl::Status WaitFor(
    const std::function<void(std::function<void(absl::Status)>)>& start) {
  auto promise = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> result = promise->get_future();
  start([promise](absl::Status status) {
    promise->set_value(std::move(status));
  });
  return result.get();
}

}  // namespace

absl::Status EngineImpl::LoadAdapter(const std::string& adapter_id) {
  return WaitFor([&](std::function<void(absl::Status)> done) {
    LoadAdapterAsync(adapter_id, std::move(done));
  });
}

absl::Status EngineImpl::EvictAdapter(const std::string& adapter_id) {
  return WaitFor([&](std::function<void(absl::Status)> done) {
    QueueAdapterCommand(AdapterCommand::Kind::kEvict, adapter_id,
                        std::move(done));
  });
}

std::vector<std::optional<AdapterState>> EngineImpl::GetAdapterStates(
    const std::vector<std::string>& adapter_ids) const {
  return adapters_->States(adapter_ids);
}

absl::StatusOr<LoraAdapterSummary> EngineImpl::ValidateAdapter(
    const std::string& adapter_dir) const {
  LoraValidationOptions validation;
  validation.max_rank = options_.max_lora_rank;
  ASSIGN_OR_RETURN(auto files, LoraAdapterFiles::Open(adapter_dir, info_.config,
                                                      validation));
  return files->summary();
}

absl::StatusOr<std::vector<int32_t>> EngineImpl::Tokenize(
    const std::string& text, bool add_special_tokens) const {
  if (!tokenizer_) {
    return absl::FailedPreconditionError("the model has no tokenizer");
  }
  return tokenizer_->Encode(text, add_special_tokens);
}

absl::StatusOr<std::string> EngineImpl::Detokenize(
    const std::vector<int32_t>& ids) const {
  if (!tokenizer_) {
    return absl::FailedPreconditionError("the model has no tokenizer");
  }
  return tokenizer_->Decode(ids, /*skip_special_tokens=*/true);
}

void EngineImpl::Shutdown(absl::Duration grace) {
  const absl::Time deadline = absl::Now() + grace;
  absl::MutexLock lock(&mu_);
  accepting_ = false;
  auto idle = [this] { return in_flight_.load() == 0; };
  while (!idle() && absl::Now() < deadline) {
    mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
  }
  if (!idle()) {
    cancel_all_ = true;
    wake_ = true;
    wake_cv_.Signal();
    mu_.Await(absl::Condition(&idle));
  }
}

EngineStats EngineImpl::Stats() const {
  EngineStats stats;
  {
    absl::MutexLock lock(&mu_);
    stats.queued_requests = queued_;
  }
  stats.running_sequences = stat_running_;
  stats.kv_slots_in_use = stat_kv_in_use_;
  stats.kv_slots_total = options_.max_batch_size;
  stats.kv_tokens_in_use = stat_kv_tokens_in_use_;
  stats.kv_tokens_reserved = stat_kv_tokens_reserved_;
  // Fixed at Create, like the bank's rows: safe to read from any thread.
  stats.kv_tokens_capacity = kv_cache_->capacity_tokens();
  stats.resident_adapters_device = adapters_->device_resident();
  stats.lora_rank_rows_in_use = adapters_->device_rows_in_use();
  stats.lora_rank_rows_capacity = lora_bank_->capacity_rows();
  stats.resident_adapters_host = adapters_->host_resident();
  stats.registered_adapters = adapters_->registered_count();
  stats.steps = stat_steps_;
  stats.generated_tokens = stat_tokens_;
  stats.adapter_device_hits = stat_device_hits_;
  stats.adapter_host_hits = stat_host_hits_;
  stats.adapter_misses = stat_misses_;
  stats.adapter_evictions = adapters_ ? adapters_->device_evictions() : 0;
  return stats;
}

bool EngineImpl::TakeInbox(
    std::vector<std::unique_ptr<Sequence>>& arrivals,
    std::vector<RequestId>& cancels,
    std::vector<std::unique_ptr<AdapterCommand>>& commands) {
  absl::MutexLock lock(&mu_);
  const bool busy = !running_.empty();
  if (!busy && !wake_ && !stop_) {
    // Idle: sleep until new work, a finished adapter load or shutdown. The
    // timeout is a safety net, not a poll interval the design relies on.
    wake_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(200));
  }
  wake_ = false;
  arrivals.swap(inbox_);
  cancels.swap(cancel_inbox_);
  commands.swap(command_inbox_);
  return !stop_;
}

// Note [Loop exception safety]
// The loop thread owns the device, so a LibTorch error (device out of
// memory, a bad tensor) surfaces here. Each place that runs device work
// catches it and fails only the requests involved: a failed forward step
// fails the rows of that step (engine_step.cc), a failed copy of an adapter
// into a device slot fails the requests waiting for that adapter
// (AdapterCache::CopyToDevice). Anything that still escapes an iteration is
// caught by LoopMain: the running requests and pending adapter commands
// fail with INTERNAL and the loop goes on; when that happens in two
// iterations in a row, the queued requests fail too, so one poisoned
// request cannot keep tripping it. Device memory for the KV cache and the
// LoRA bank is allocated by Create, so running out of it fails the start.
void EngineImpl::LoopMain() {
  // Inference only: no autograd bookkeeping on this thread.
  c10::InferenceMode inference_mode;
  if (options_.num_threads > 0) {
    at::set_num_threads(options_.num_threads);
  } else {
    at::set_num_threads(
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  }
  while (true) {
    bool keep_going = true;
    try {
      keep_going = RunIteration();
      consecutive_loop_errors_ = 0;
    } catch (const std::exception& e) {
      FailInFlight(TorchErrorToStatus(e, "internal engine error"));
    } catch (...) {
      FailInFlight(absl::InternalError("internal engine error"));
    }
    if (!keep_going) break;
  }
}

bool EngineImpl::RunIteration() {
  std::vector<std::unique_ptr<Sequence>> arrivals;
  std::vector<RequestId> cancels;
  std::vector<std::unique_ptr<AdapterCommand>> commands;
  const bool keep_going = TakeInbox(arrivals, cancels, commands);
  for (auto& seq : arrivals) {
    const std::string tenant = seq->request.tenant;
    waiting_.Push(tenant, std::move(seq));
  }
  for (auto& command : commands) {
    pending_commands_.push_back(std::move(command));
  }
  ReachHook(hooks_, EngineHookPoint::kLoopIteration);
  bool cancel_all = false;
  {
    absl::MutexLock lock(&mu_);
    cancel_all = cancel_all_ || !keep_going;
  }
  if (cancel_all) CancelEverything();
  ApplyCancels(cancels);
  adapters_->Poll();
  RunAdapterCommands();
  if (!keep_going) {
    for (auto& command : pending_commands_) {
      command->done(absl::UnavailableError("the engine is shutting down"));
    }
    pending_commands_.clear();
    return false;
  }
  Admit();
  if (!running_.empty()) Step();
  PublishStats();
  return true;
}

void EngineImpl::FailInFlight(const absl::Status& error) {
  ++consecutive_loop_errors_;
  LogError("%s; failing %d running requests%s", error.ToString(),
           static_cast<int>(running_.size()),
           consecutive_loop_errors_ > 1 ? " and the queued ones" : "");
  for (auto& seq : running_) {
    if (!seq->scheduled) {  // Admitted in this iteration: still counted.
      seq->scheduled = absl::Now();
      LeaveQueue(*seq);
    }
    Finish(*seq, FinishReason::kError, error, GenerationEvent{});
  }
  running_.clear();
  std::vector<std::unique_ptr<AdapterCommand>> commands;
  commands.swap(pending_commands_);
  for (auto& command : commands) command->done(error);
  if (consecutive_loop_errors_ > 1) {
    waiting_.RemoveIf([](const auto&) { return true; },
                      [this, &error](std::unique_ptr<Sequence>& seq) {
                        LeaveQueue(*seq);
                        Finish(*seq, FinishReason::kError, error,
                               GenerationEvent{});
                      });
  }
  PublishStats();
}

void EngineImpl::CancelEverything() {
  waiting_.RemoveIf([](const auto&) { return true; },
                    [this](std::unique_ptr<Sequence>& seq) {
                      LeaveQueue(*seq);
                      Finish(*seq, FinishReason::kCancelled, absl::OkStatus(),
                             GenerationEvent{});
                    });
  for (auto& seq : running_) {
    Finish(*seq, FinishReason::kCancelled, absl::OkStatus(), GenerationEvent{});
  }
  running_.clear();
}

void EngineImpl::ApplyCancels(const std::vector<RequestId>& cancels) {
  if (cancels.empty()) return;
  auto cancelled = [&cancels](RequestId id) {
    return std::find(cancels.begin(), cancels.end(), id) != cancels.end();
  };
  waiting_.RemoveIf(
      [&](const std::unique_ptr<Sequence>& seq) { return cancelled(seq->id); },
      [this](std::unique_ptr<Sequence>& seq) {
        LeaveQueue(*seq);
        Finish(*seq, FinishReason::kCancelled, absl::OkStatus(),
               GenerationEvent{});
      });
  for (auto& seq : running_) {
    if (cancelled(seq->id)) {
      Finish(*seq, FinishReason::kCancelled, absl::OkStatus(),
             GenerationEvent{});
    }
  }
  running_.erase(std::remove_if(running_.begin(), running_.end(),
                                [](const auto& seq) { return seq->finished; }),
                 running_.end());
}

void EngineImpl::RunAdapterCommands() {
  for (auto it = pending_commands_.begin(); it != pending_commands_.end();) {
    AdapterCommand& command = **it;
    absl::Status result;
    if (command.kind == AdapterCommand::Kind::kEvict) {
      result = adapters_->Evict(command.id);
    } else {
      AdapterCache::Acquired acquired = adapters_->Warm(command.id);
      if (acquired.outcome == AdapterCache::Outcome::kLoading) {
        ++it;  // A disk read in flight: bounded, answered when it lands.
        continue;
      }
      switch (acquired.outcome) {
        case AdapterCache::Outcome::kDeviceHit:
        case AdapterCache::Outcome::kHostHit:
        case AdapterCache::Outcome::kLoading:
          break;
        case AdapterCache::Outcome::kFailed:
          result = acquired.status;
          break;
        case AdapterCache::Outcome::kNoSlot:
          // Never parked: a slot frees only when a running request ends.
          result = absl::ResourceExhaustedError(absl::StrCat(
              "the device's adapter memory (", lora_bank_->capacity_rows(),
              " rank rows) is held by running requests; retry later"));
          break;
      }
    }
    std::function<void(absl::Status)> done = std::move(command.done);
    it = pending_commands_.erase(it);
    done(std::move(result));
  }
}

void EngineImpl::LeaveQueue(const Sequence& seq) {
  absl::MutexLock lock(&mu_);
  --queued_;
  auto it = queued_per_tenant_.find(seq.request.tenant);
  if (it != queued_per_tenant_.end() && --it->second == 0) {
    queued_per_tenant_.erase(it);
  }
}

void EngineImpl::PublishStats() {
  stat_running_ = static_cast<int64_t>(running_.size());
  PublishKvStats();
}

void EngineImpl::PublishKvStats() {
  stat_kv_in_use_ = kv_cache_->slots_in_use();
  stat_kv_tokens_in_use_ = kv_cache_->tokens_in_use();
  stat_kv_tokens_reserved_ = kv_cache_->tokens_reserved();
}

}  // namespace loraplex::engine
