// EngineImpl on the loop thread: admission, one forward step, sampling,
// stopping and events.
#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/common/logging.h"
#include "engine/runtime/engine_impl.h"
#include "engine/runtime/torch_utils.h"

namespace loraplex::engine {
namespace {

bool AllFinite(const float* values, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) return false;
  }
  return true;
}

absl::Status NonFiniteOutputError(const Sequence& seq) {
  if (seq.adapters.size() > 1) {
    return absl::FailedPreconditionError(
        "the model's outputs for this request are not finite (NaN/Inf); its "
        "adapters' weights overflow");
  }
  if (!seq.adapters.empty()) {
    return absl::FailedPreconditionError(
        "the model's outputs for this request are not finite (NaN/Inf); its "
        "adapter's weights overflow");
  }
  return absl::FailedPreconditionError(
      "the model's outputs for this request are not finite (NaN/Inf)");
}

// The LoRA part of a step row: the plain path for one adapter at weight 1
// (Note [Adapter mixing] in llama_model.cc).
void SetRowAdapters(const Sequence& seq, ForwardRow& row) {
  if (seq.adapters.size() == 1 && seq.adapters[0].weight == 1.0f) {
    row.lora_slot = seq.adapters[0].slot;
    return;
  }
  for (const SequenceAdapter& adapter : seq.adapters) {
    row.lora_mix.push_back(LoraTerm{adapter.slot, adapter.weight});
  }
}

}  // namespace

// Note [Slot waiter]
// Note [Mixed adapter admission] keeps a waiting request from holding pins,
// but alone it would let a mix starve: it needs several slots unpinned at
// the same moment, and a stream of requests that each pin one slot as soon
// as it is unpinned could keep that from ever happening. So the first
// request in admission order that finds too few slots becomes the slot
// waiter; until it is admitted (or leaves the queue), no other request may
// pin an unpinned slot or copy into one: they are admitted only if every
// adapter they use is pinned already (by running requests) or they use
// none. Running requests finish, so the waiter's slots free up and it is
// admitted; nothing it waits for waits for it. Disk reads into host memory
// go on meanwhile (they take no slot).

// Note [KV waiter]
// A sequence is admitted when the KV cache can reserve its prompt plus
// max_new_tokens (Note [Paged KV cache] in kv_cache.h). With a cache
// smaller than max_batch_size x max_seq_len, a stream of short requests
// could keep a long one from ever finding that much free. So the first
// sequence in admission order whose reservation does not fit becomes the KV
// waiter, and until it is admitted (or leaves the queue) no other sequence
// is: running sequences finish and free their blocks (and unpin their
// adapters: the KV waiter may claim device slots even when another
// sequence is the slot waiter), so the waiter gets in. With the default
// cache every admitted slot can reach max_seq_len and there is never a KV
// waiter.

AdapterCache::AcquiredAll EngineImpl::AcquireAdapters(Sequence& seq) {
  std::vector<const AdapterUse*> uses;
  for (const SequenceAdapter& adapter : seq.adapters) {
    uses.push_back(&adapter.use);
  }
  // The KV waiter is the only sequence tried while it waits (Note [KV
  // waiter]); it may claim slots even when another is the slot waiter, or
  // each would wait for the other.
  const bool may_claim_slots =
      kv_waiter_ == seq.id || !slot_waiter_ || *slot_waiter_ == seq.id;
  AdapterCache::AcquiredAll acquired =
      adapters_->AcquireAll(uses, may_claim_slots);
  if (!seq.cache_outcome_reported &&
      acquired.outcome != AdapterCache::Outcome::kFailed) {
    // A request's first lookup decides hit or miss for metrics, once per
    // adapter it uses.
    seq.cache_outcome_reported = true;
    for (AdapterCache::Tier tier : acquired.found) {
      EngineObserver::CacheOutcome outcome =
          EngineObserver::CacheOutcome::kMiss;
      if (tier == AdapterCache::Tier::kDevice) {
        outcome = EngineObserver::CacheOutcome::kDeviceHit;
        ++stat_device_hits_;
      } else if (tier == AdapterCache::Tier::kHost) {
        outcome = EngineObserver::CacheOutcome::kHostHit;
        ++stat_host_hits_;
      } else {
        ++stat_misses_;
      }
      if (observer_ != nullptr) observer_->OnAdapterLookup(outcome);
    }
  }
  return acquired;
}

void EngineImpl::Admit() {
  if (waiting_.empty()) return;
  if (slot_waiter_ &&
      !waiting_.AnyOf([this](const std::unique_ptr<Sequence>& seq) {
        return seq->id == *slot_waiter_;
      })) {
    slot_waiter_.reset();  // Cancelled, failed or finished meanwhile.
  }
  if (kv_waiter_ &&
      !waiting_.AnyOf([this](const std::unique_ptr<Sequence>& seq) {
        return seq->id == *kv_waiter_;
      })) {
    kv_waiter_.reset();
  }
  auto has_room = [this] {
    return static_cast<int64_t>(running_.size()) < options_.max_batch_size;
  };
  std::vector<std::pair<std::unique_ptr<Sequence>, absl::Status>> failed;
  waiting_.Drain(
      [&](std::unique_ptr<Sequence>& seq) {
        if (kv_waiter_ && *kv_waiter_ != seq->id) return false;
        if (!seq->adapters.empty()) {
          AdapterCache::AcquiredAll acquired = AcquireAdapters(*seq);
          switch (acquired.outcome) {
            case AdapterCache::Outcome::kFailed:
              // Leaves the queue; finished below with the load error.
              if (slot_waiter_ == seq->id) slot_waiter_.reset();
              failed.emplace_back(std::move(seq), acquired.status);
              return true;
            case AdapterCache::Outcome::kNoSlot:
              if (!slot_waiter_) slot_waiter_ = seq->id;
              return false;
            case AdapterCache::Outcome::kLoading:
              return false;
            case AdapterCache::Outcome::kDeviceHit:
            case AdapterCache::Outcome::kHostHit:
              for (size_t i = 0; i < seq->adapters.size(); ++i) {
                seq->adapters[i].slot = acquired.slots[i];
              }
              break;
          }
        }
        // Reserve the blocks the sequence may reach (Note [Paged KV cache]
        // in kv_cache.h): its prompt and every token it may generate.
        std::optional<int64_t> kv_slot =
            kv_cache_->Allocate(static_cast<int64_t>(seq->prompt.size()) +
                                seq->request.stopping.max_new_tokens);
        if (!kv_slot) {
          for (SequenceAdapter& adapter : seq->adapters) {
            adapters_->Release(adapter.slot, /*ran=*/nullptr);
            adapter.slot = -1;
          }
          if (!kv_waiter_) kv_waiter_ = seq->id;
          return false;
        }
        if (slot_waiter_ == seq->id) slot_waiter_.reset();
        if (kv_waiter_ == seq->id) kv_waiter_.reset();
        seq->kv_slot = *kv_slot;
        running_.push_back(std::move(seq));
        return true;
      },
      has_room);
  for (auto& [seq, status] : failed) {
    LeaveQueue(*seq);
    Finish(*seq, FinishReason::kError, status, GenerationEvent{});
  }
  for (auto& seq : running_) {
    // Sequences admitted just now leave the queue count.
    if (!seq->scheduled) {
      seq->scheduled = absl::Now();
      LeaveQueue(*seq);
    }
  }
}

void EngineImpl::Step() {
  const absl::Time start = absl::Now();
  std::vector<int32_t> tokens;
  std::vector<ForwardRow> rows;
  std::vector<Sequence*> row_seqs;
  int64_t decode_tokens = 0;
  int64_t prefill_tokens = 0;
  // Decode rows first, then prompt chunks within the prefill budget, oldest
  // admission first (Note [Ragged batches] in llama_model.cc).
  for (auto& seq : running_) {
    if (seq->in_prefill()) continue;
    tokens.push_back(seq->output.back());
    rows.push_back(ForwardRow{seq->kv_slot, seq->num_computed, 1, -1,
                              /*want_logits=*/true});
    SetRowAdapters(*seq, rows.back());
    row_seqs.push_back(seq.get());
    ++decode_tokens;
  }
  int64_t budget = options_.max_prefill_tokens;
  for (auto& seq : running_) {
    if (!seq->in_prefill() || budget <= 0) continue;
    const int64_t remaining =
        static_cast<int64_t>(seq->prompt.size()) - seq->num_computed;
    const int64_t chunk = std::min(remaining, budget);
    budget -= chunk;
    tokens.insert(tokens.end(), seq->prompt.begin() + seq->num_computed,
                  seq->prompt.begin() + seq->num_computed + chunk);
    rows.push_back(ForwardRow{seq->kv_slot, seq->num_computed, chunk, -1,
                              /*want_logits=*/chunk == remaining});
    SetRowAdapters(*seq, rows.back());
    row_seqs.push_back(seq.get());
    prefill_tokens += chunk;
  }
  if (rows.empty()) return;

  torch::Tensor logits;
  try {
    ReachHook(hooks_, EngineHookPoint::kForwardStep);
    logits = model_->Forward(tokens, rows, *kv_cache_, lora_bank_.get())
                 .to(torch::kCPU)
                 .contiguous();
  } catch (const std::exception& e) {
    const absl::Status error = TorchErrorToStatus(e, "forward step");
    LogError("%s; failing the %d sequences of this step", error.ToString(),
             static_cast<int>(rows.size()));
    for (Sequence* seq : row_seqs) {
      Finish(*seq, FinishReason::kError, error, GenerationEvent{});
    }
    running_.erase(std::remove_if(running_.begin(), running_.end(),
                                  [](const auto& s) { return s->finished; }),
                   running_.end());
    return;
  }

  const int64_t vocab = logits.size(1);
  const float* data = logits.data_ptr<float>();
  int64_t logits_row = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    Sequence& seq = *row_seqs[r];
    seq.num_computed += rows[r].num_tokens;
    if (!rows[r].want_logits) continue;
    const float* row_logits = data + logits_row * vocab;
    ++logits_row;
    if (!AllFinite(row_logits, vocab)) {
      // Only this row: the others never read its memory (Note [Row
      // isolation] in llama_model.cc).
      Finish(seq, FinishReason::kError, NonFiniteOutputError(seq),
             GenerationEvent{});
      continue;
    }
    SampleRow(seq, row_logits, vocab);
  }
  running_.erase(std::remove_if(running_.begin(), running_.end(),
                                [](const auto& s) { return s->finished; }),
                 running_.end());

  ++stat_steps_;
  if (observer_ != nullptr) {
    std::set<int64_t> adapters;
    for (const ForwardRow& row : rows) {
      if (row.lora_slot >= 0) adapters.insert(row.lora_slot);
      for (const LoraTerm& term : row.lora_mix) adapters.insert(term.slot);
    }
    observer_->OnStep(static_cast<int32_t>(rows.size()),
                      static_cast<int32_t>(adapters.size()),
                      static_cast<int32_t>(prefill_tokens),
                      static_cast<int32_t>(decode_tokens), absl::Now() - start);
  }
}

void EngineImpl::SampleRow(Sequence& seq, const float* logits, int64_t vocab) {
  const GenerationRequest& request = seq.request;
  GenerationEvent event;
  event.request_id = seq.id;
  float logprob = 0.0f;
  const int32_t token =
      seq.sampler.Sample(absl::MakeConstSpan(logits, vocab),
                         request.return_logprobs ? &logprob : nullptr);
  seq.output.push_back(token);
  ++stat_tokens_;
  event.token_ids.push_back(token);
  if (request.return_logprobs) event.logprobs.push_back(logprob);
  if (!seq.first_token) {
    seq.first_token = absl::Now();
    if (request.return_last_logits)
      event.last_logits.assign(logits, logits + vocab);
  }

  FinishReason reason = FinishReason::kNone;
  const StoppingParams& stopping = request.stopping;
  if (!stopping.ignore_eos &&
      std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end()) {
    reason = FinishReason::kEos;
  } else if (std::find(stopping.stop_token_ids.begin(),
                       stopping.stop_token_ids.end(),
                       token) != stopping.stop_token_ids.end()) {
    reason = FinishReason::kStop;
  }
  bool stopped_by_string = false;
  if (seq.detokenizer) {
    StopStringMatcher::Result piece =
        seq.stops.Push(seq.detokenizer->Push(token));
    event.text = std::move(piece.text);
    if (piece.stopped) {
      stopped_by_string = true;
      reason = FinishReason::kStop;
    }
  }
  if (reason == FinishReason::kNone &&
      (static_cast<int64_t>(seq.output.size()) >= stopping.max_new_tokens ||
       seq.total_tokens() >= info_.max_seq_len)) {
    reason = FinishReason::kLength;
  }
  if (reason == FinishReason::kNone) {
    seq.callback(event);
    return;
  }
  if (seq.detokenizer && !stopped_by_string) {
    StopStringMatcher::Result tail = seq.stops.Push(seq.detokenizer->Flush());
    event.text += tail.text;
    if (tail.stopped) {
      reason = FinishReason::kStop;
    } else {
      event.text += seq.stops.Flush();
    }
  }
  Finish(seq, reason, absl::OkStatus(), std::move(event));
}

void EngineImpl::ReleaseResources(Sequence& seq) {
  if (seq.kv_slot >= 0) {
    kv_cache_->Release(seq.kv_slot);
    seq.kv_slot = -1;
    // Published before the final event, so Stats() agrees with it.
    PublishKvStats();
  }
  const AdapterCache::RequestTokens ran{
      static_cast<int64_t>(seq.prompt.size()),
      static_cast<int64_t>(seq.output.size())};
  for (SequenceAdapter& adapter : seq.adapters) {
    if (adapter.slot < 0) continue;
    adapters_->Release(adapter.slot, &ran);
    adapter.slot = -1;
  }
}

void EngineImpl::Finish(Sequence& seq, FinishReason reason, absl::Status error,
                        GenerationEvent event) {
  if (seq.finished) return;
  seq.finished = true;
  ReleaseResources(seq);
  const absl::Time now = absl::Now();
  event.request_id = seq.id;
  event.finished = true;
  event.finish_reason = reason;
  event.error = std::move(error);
  event.usage.prompt_tokens = static_cast<int32_t>(seq.prompt.size());
  event.usage.completion_tokens = static_cast<int32_t>(seq.output.size());
  event.timings.queue =
      seq.scheduled ? *seq.scheduled - seq.submitted : now - seq.submitted;
  event.timings.first_token =
      seq.first_token ? *seq.first_token - seq.submitted : absl::ZeroDuration();
  event.timings.total = now - seq.submitted;
  seq.callback(event);
  seq.callback = nullptr;
  absl::MutexLock lock(&mu_);  // Wakes Shutdown's wait (absl re-checks
  --in_flight_;                // conditions when the mutex is released).
}

}  // namespace loraplex::engine
