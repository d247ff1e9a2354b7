// Engine-only serving throughput: the same closed-loop workload
// loraplex-loadgen sends over gRPC (prompt ids, output lengths, adapters
// drawn by a power law, `--concurrency` requests in flight), submitted
// straight to an in-process engine::Engine. Comparing the two reports gives
// the cost of the gRPC service layer at the same batch shape. Prints the
// loadgen report schema (tools/loadgen/load_report.h) as JSON.
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/status_macros.h"
#include "engine/engine.h"
#include "tools/cli/command_line.h"
#include "tools/loadgen/adapter_setup.h"
#include "tools/loadgen/load_report.h"
#include "tools/loadgen/random_adapter.h"
#include "tools/loadgen/workload.h"

namespace loraplex::bench {
namespace {

using cli::CommandLine;
using cli::ValueFlag;
using loadgen::Clock;
using loadgen::RequestRecord;

std::vector<cli::FlagSpec> Flags() {
  return {ValueFlag("model", "model directory"),
          ValueFlag("concurrency", "requests in flight", "8"),
          ValueFlag("requests", "requests to run", "64"),
          ValueFlag("adapters", "random adapters (0 = base model)", "8"),
          ValueFlag("alpha", "adapter popularity power law", "1"),
          ValueFlag("rank", "adapter rank", "8"),
          ValueFlag("prompt-tokens", "prompt length", "16"),
          ValueFlag("output-tokens", "max_new_tokens", "32"),
          ValueFlag("max-batch-size", "engine batch rows", "32"),
          ValueFlag("max-resident-adapters", "device slots", "16"),
          ValueFlag("max-host-adapters", "host tier", "64"),
          ValueFlag("threads", "CPU threads (0 = all)", "0"),
          ValueFlag("seed", "workload seed", "1"),
          ValueFlag("workdir", "where adapters are written", "/tmp")};
}

// How many requests are in the engine; the engine's callbacks report ends.
class InFlight {
 public:
  // Waits for room, then counts one more request in.
  void Enter(int64_t limit) {
    absl::MutexLock lock(&mu_);
    while (running_ >= limit) changed_.Wait(&mu_);
    ++running_;
  }
  void WaitIdle() {
    absl::MutexLock lock(&mu_);
    while (running_ > 0) changed_.Wait(&mu_);
  }
  void Done() {
    absl::MutexLock lock(&mu_);
    --running_;
    changed_.SignalAll();
  }

 private:
  absl::Mutex mu_;
  absl::CondVar changed_;
  int64_t running_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::StatusOr<std::unique_ptr<engine::Engine>> MakeEngine(
    const CommandLine& cl) {
  engine::EngineOptions options;
  options.model_dir = cl.Get("model");
  options.device = "cpu";
  options.dtype = "float32";
  options.max_batch_size = static_cast<int32_t>(*cl.GetInt("max-batch-size"));
  options.max_resident_adapters =
      static_cast<int32_t>(*cl.GetInt("max-resident-adapters"));
  options.max_host_adapters =
      static_cast<int32_t>(*cl.GetInt("max-host-adapters"));
  options.num_threads = static_cast<int32_t>(*cl.GetInt("threads"));
  return engine::Engine::Create(options);
}

// The adapters loraplex-loadgen --create-adapters makes (same seeds), written
// under --workdir and registered under their directory as id.
absl::StatusOr<std::vector<std::string>> RegisterRandomAdapters(
    const CommandLine& cl, const engine::ModelConfig& model,
    engine::Engine& engine) {
  std::vector<std::string> ids;
  for (int64_t i = 0; i < *cl.GetInt("adapters"); ++i) {
    const std::string dir = absl::StrCat(
        cl.Get("workdir"), "/",
        loadgen::CreatedAdapterName("lg-", static_cast<int32_t>(i)));
    std::filesystem::create_directories(dir);
    loadgen::RandomAdapterSpec spec;
    spec.rank = static_cast<int32_t>(*cl.GetInt("rank"));
    spec.lora_alpha = 2.0 * spec.rank;
    spec.seed = static_cast<uint64_t>(i);
    RETURN_IF_ERROR(loadgen::WriteRandomAdapter(model, spec, dir));
    RETURN_IF_ERROR(engine.RegisterAdapter(dir, dir));
    ids.push_back(dir);
  }
  return ids;
}

// Submits one request whose callback fills `record`.
void Submit(engine::Engine& engine, engine::GenerationRequest request,
            RequestRecord& record, InFlight& in_flight) {
  record.start = Clock::now();
  absl::StatusOr<engine::RequestId> id = engine.Submit(
      std::move(request),
      [&record, &in_flight](const engine::GenerationEvent& e) {
        const Clock::time_point now = Clock::now();
        if (!e.token_ids.empty()) {
          if (record.output_tokens == 0) record.first_token = now;
          record.last_token = now;
          record.output_tokens += static_cast<int32_t>(e.token_ids.size());
        }
        if (!e.finished) return;
        record.end = now;
        record.finished = true;
        record.code = e.finish_reason == engine::FinishReason::kError
                          ? e.error.code()
                          : absl::StatusCode::kOk;
        in_flight.Done();
      });
  if (!id.ok()) {
    record.end = Clock::now();
    record.code = id.status().code();
    in_flight.Done();
  }
}

int Run(const CommandLine& cl) {
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine = MakeEngine(cl);
  if (!engine.ok()) {
    std::cerr << "engine: " << engine.status() << "\n";
    return 1;
  }
  absl::StatusOr<engine::ModelConfig> model =
      loadgen::LoadModelConfigFrom(cl.Get("model"));
  absl::StatusOr<std::vector<std::string>> ids =
      model.ok() ? RegisterRandomAdapters(cl, *model, **engine)
                 : absl::StatusOr<std::vector<std::string>>(model.status());
  if (!ids.ok()) {
    std::cerr << ids.status() << "\n";
    return 1;
  }
  absl::StatusOr<loadgen::AdapterPicker> picker =
      loadgen::AdapterPicker::Create(std::max<size_t>(1, ids->size()),
                                     *cl.GetDouble("alpha"));
  absl::StatusOr<loadgen::IntRange> prompt =
      loadgen::ParseIntRange(cl.Get("prompt-tokens"), "prompt-tokens");
  absl::StatusOr<loadgen::IntRange> output =
      loadgen::ParseIntRange(cl.Get("output-tokens"), "output-tokens");
  if (!picker.ok() || !prompt.ok() || !output.ok()) {
    std::cerr << "bad workload flags\n";
    return 2;
  }
  // Drawn from the same distributions as loraplex-loadgen's requests.
  std::mt19937_64 rng(static_cast<uint64_t>(*cl.GetInt("seed")));
  const int64_t concurrency = *cl.GetInt("concurrency");
  std::vector<RequestRecord> records(
      static_cast<size_t>(*cl.GetInt("requests")));
  InFlight in_flight;
  for (RequestRecord& record : records) {
    in_flight.Enter(concurrency);
    engine::GenerationRequest request;
    if (!ids->empty()) {
      record.adapter_index = static_cast<int32_t>(picker->Pick(rng));
      request.adapter_id = (*ids)[static_cast<size_t>(record.adapter_index)];
    }
    record.prompt_tokens = prompt->Sample(rng);
    request.prompt_ids = loadgen::RandomPromptIds(
        record.prompt_tokens, static_cast<int32_t>(model->vocab_size), 0, rng);
    record.max_new_tokens = output->Sample(rng);
    request.stopping.max_new_tokens = record.max_new_tokens;
    request.stopping.ignore_eos = true;
    Submit(**engine, std::move(request), record, in_flight);
  }
  in_flight.WaitIdle();
  const nlohmann::json config = {
      {"benchmark", "engine_serving"},
      {"mode", "closed_loop"},
      {"concurrency", concurrency},
      {"requests", records.size()},
      {"num_adapters", ids->size()},
      {"alpha", *cl.GetDouble("alpha")},
      {"prompt_tokens", cl.Get("prompt-tokens")},
      {"output_tokens", cl.Get("output-tokens")},
      {"max_batch_size", *cl.GetInt("max-batch-size")},
      {"threads", *cl.GetInt("threads")}};
  std::cout
      << loadgen::ReportToJson(loadgen::BuildReport(records), config).dump(2)
      << "\n";
  (*engine)->Shutdown(absl::Seconds(10));
  return 0;
}

}  // namespace
}  // namespace loraplex::bench

int main(int argc, char** argv) {
  absl::StatusOr<loraplex::cli::CommandLine> cl =
      loraplex::cli::CommandLine::Parse(
          std::vector<std::string>(argv + 1, argv + argc),
          loraplex::bench::Flags());
  if (!cl.ok() || cl->Get("model").empty()) {
    std::cerr << (cl.ok() ? "--model DIR is required" : cl.status().ToString())
              << "\n"
              << loraplex::cli::FormatHelp("engine_serving_bench --model DIR",
                                           "In-process closed-loop serving.",
                                           loraplex::bench::Flags());
    return 2;
  }
  for (const char* name :
       {"concurrency", "requests", "adapters", "rank", "max-batch-size",
        "max-resident-adapters", "max-host-adapters", "threads", "seed"}) {
    if (!cl->GetInt(name).ok()) {
      std::cerr << cl->GetInt(name).status() << "\n";
      return 2;
    }
  }
  if (!cl->GetDouble("alpha").ok()) return 2;
  return loraplex::bench::Run(*cl);
}
