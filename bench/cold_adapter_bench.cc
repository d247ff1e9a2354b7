// Cold-adapter latency through a running loraplex-server: upload a new
// adapter, then time the first token of requests that find it (a) nowhere
// but on disk, (b) in the device cache, (c) only in the host tier, next to
// (d) the base model. Each request is classified by the server's own cache
// counters (scraped from /metrics around it), not by assumption. Prints
// JSON.
//
// The server must have --max-resident-adapters equal to --fillers and
// --max-host-adapters larger than --fillers + 1: then using every filler
// pushes the fresh adapter off the device but leaves it in the host tier.
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "proto/loraplex/v1/generation.grpc.pb.h"
#include "tools/cli/command_line.h"
#include "tools/client/adapter_upload.h"
#include "tools/client/connection.h"
#include "tools/loadgen/load_report.h"
#include "tools/loadgen/metrics_scrape.h"
#include "tools/loadgen/random_adapter.h"
#include "tools/loadgen/workload.h"

namespace loraplex::bench {
namespace {

namespace v1 = ::loraplex::v1;
using cli::CommandLine;
using cli::ValueFlag;

std::vector<cli::FlagSpec> Flags() {
  return {ValueFlag("server", "HOST:PORT", "localhost:50051"),
          ValueFlag("metrics-url", "the server's /metrics URL"),
          ValueFlag("model-config", "the server model's config.json or dir"),
          ValueFlag("trials", "fresh adapters to time", "10"),
          ValueFlag("fillers", "= the server's --max-resident-adapters", "2"),
          ValueFlag("rank", "adapter rank", "8"),
          ValueFlag("prompt-tokens", "prompt length", "16"),
          ValueFlag("workdir", "where adapters are written", "/tmp")};
}

struct Timed {
  double client_ttft_ms = 0;  // Call start -> first token message.
  double server_ttft_ms = 0;  // The server's timings.first_token.
  std::string path;           // "disk_load", "host_hit", "device_hit", "base".
};

class Bench {
 public:
  Bench(const CommandLine& cl, engine::ModelConfig model)
      : cl_(cl), model_(std::move(model)), rng_(7) {
    connection_.server = cl.Get("server");
    channel_ = tools::MakeChannel(connection_);
    adapters_ = v1::AdapterService::NewStub(channel_);
    generation_ = v1::GenerationService::NewStub(channel_);
  }

  // Writes a random adapter and uploads it; the time of the upload call
  // alone. An adapter of that name already there is kept.
  absl::StatusOr<absl::Duration> Upload(const std::string& name,
                                        uint64_t seed) {
    const std::string dir = absl::StrCat(cl_.Get("workdir"), "/", name);
    std::filesystem::create_directories(dir);
    loadgen::RandomAdapterSpec spec;
    spec.rank = static_cast<int32_t>(*cl_.GetInt("rank"));
    spec.lora_alpha = 2.0 * spec.rank;
    spec.seed = seed;
    absl::Status status = loadgen::WriteRandomAdapter(model_, spec, dir);
    if (!status.ok()) return status;
    tools::AdapterUploadSpec upload;
    upload.name = name;
    upload.dir = dir;
    const absl::Time start = absl::Now();
    absl::StatusOr<v1::Adapter> adapter =
        tools::UploadAdapterDir(*adapters_, connection_, upload);
    const absl::Duration took = absl::Now() - start;
    if (!adapter.ok() &&
        adapter.status().code() != absl::StatusCode::kAlreadyExists) {
      return adapter.status();
    }
    return took;
  }

  absl::Status Delete(const std::string& name) {
    grpc::ClientContext context;
    v1::DeleteAdapterRequest request;
    request.set_name(name);
    v1::DeleteAdapterResponse response;
    return tools::FromGrpcStatus(
        adapters_->DeleteAdapter(&context, request, &response));
  }

  // One single-token request, timed and classified by the cache counters.
  absl::StatusOr<Timed> Generate(const std::string& adapter) {
    absl::StatusOr<loadgen::CacheCounters> before = Counters();
    if (!before.ok()) return before.status();
    v1::GenerateRequest request;
    request.set_adapter(adapter);
    for (int32_t id : loadgen::RandomPromptIds(
             static_cast<int32_t>(*cl_.GetInt("prompt-tokens")),
             static_cast<int32_t>(model_.vocab_size), 0, rng_)) {
      request.mutable_token_ids()->add_ids(id);
    }
    request.mutable_stopping()->set_max_new_tokens(1);
    request.mutable_stopping()->set_ignore_eos(true);
    grpc::ClientContext context;
    Timed timed;
    const absl::Time start = absl::Now();
    auto reader = generation_->GenerateStream(&context, request);
    v1::GenerateStreamResponse message;
    bool first = true;
    while (reader->Read(&message)) {
      if (first && message.has_chunk()) {
        timed.client_ttft_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
        first = false;
      }
      if (message.has_finished()) {
        const auto& d = message.finished().timings().first_token();
        timed.server_ttft_ms = d.seconds() * 1e3 + d.nanos() / 1e6;
      }
    }
    absl::Status status = tools::FromGrpcStatus(reader->Finish());
    if (!status.ok()) return status;
    absl::StatusOr<loadgen::CacheCounters> after = Counters();
    if (!after.ok()) return after.status();
    const loadgen::CacheCounters d = loadgen::CounterDelta(*before, *after);
    timed.path = adapter.empty()     ? "base"
                 : d.misses > 0      ? "disk_load"
                 : d.host_hits > 0   ? "host_hit"
                 : d.device_hits > 0 ? "device_hit"
                                     : "unclassified";
    return timed;
  }

 private:
  absl::StatusOr<loadgen::CacheCounters> Counters() {
    return loadgen::ScrapeCacheCounters(cl_.Get("metrics-url"),
                                        absl::Seconds(10));
  }

  const CommandLine& cl_;
  engine::ModelConfig model_;
  std::mt19937_64 rng_;
  tools::ConnectionOptions connection_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AdapterService::Stub> adapters_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
};

nlohmann::json Summary(const std::vector<double>& values) {
  const loadgen::LatencySummary s = loadgen::Summarize(values);
  return {{"count", s.count},
          {"p50", s.p50},
          {"p90", s.p90},
          {"mean", s.mean},
          {"max", s.max}};
}

int Fail(const absl::Status& status) {
  std::cerr << tools::FormatErrorLine(status) << "\n";
  return 1;
}

int Run(const CommandLine& cl) {
  absl::StatusOr<engine::ModelConfig> model =
      loadgen::LoadModelConfigFrom(cl.Get("model-config"));
  if (!model.ok()) return Fail(model.status());
  Bench bench(cl, *model);
  const int64_t fillers = *cl.GetInt("fillers");
  for (int64_t f = 0; f < fillers; ++f) {
    if (auto s = bench.Upload(absl::StrCat("filler-", f), 500 + f); !s.ok()) {
      return Fail(s.status());
    }
  }
  std::map<std::string, std::vector<double>> client, server;
  std::vector<double> upload_ms, upload_to_first_token_ms;
  const auto record = [&](const Timed& t) {
    client[t.path].push_back(t.client_ttft_ms);
    server[t.path].push_back(t.server_ttft_ms);
  };
  for (int64_t trial = 0; trial < *cl.GetInt("trials"); ++trial) {
    const std::string name =
        absl::StrCat("cold-", trial, "-", absl::ToUnixMicros(absl::Now()));
    absl::StatusOr<absl::Duration> uploaded = bench.Upload(name, 1000 + trial);
    if (!uploaded.ok()) return Fail(uploaded.status());
    upload_ms.push_back(absl::ToDoubleMilliseconds(*uploaded));
    absl::StatusOr<Timed> cold = bench.Generate(name);  // Disk.
    if (!cold.ok()) return Fail(cold.status());
    upload_to_first_token_ms.push_back(upload_ms.back() + cold->client_ttft_ms);
    record(*cold);
    absl::StatusOr<Timed> again = bench.Generate(name);  // Device.
    if (!again.ok()) return Fail(again.status());
    record(*again);
    for (int64_t f = 0; f < fillers; ++f) {
      if (auto t = bench.Generate(absl::StrCat("filler-", f)); !t.ok()) {
        return Fail(t.status());
      }
    }
    absl::StatusOr<Timed> host = bench.Generate(name);  // Host tier.
    absl::StatusOr<Timed> base = bench.Generate("");
    if (!host.ok() || !base.ok()) {
      return Fail(host.ok() ? base.status() : host.status());
    }
    record(*host);
    record(*base);
    if (absl::Status s = bench.Delete(name); !s.ok()) return Fail(s);
  }
  nlohmann::json out = {
      {"benchmark", "cold_adapter"},
      {"trials", *cl.GetInt("trials")},
      {"rank", *cl.GetInt("rank")},
      {"prompt_tokens", *cl.GetInt("prompt-tokens")},
      {"upload_ms", Summary(upload_ms)},
      {"upload_to_first_token_ms", Summary(upload_to_first_token_ms)}};
  for (const auto& [path, values] : client) {
    out["client_ttft_ms"][path] = Summary(values);
    out["server_ttft_ms"][path] = Summary(server[path]);
  }
  if (server.count("device_hit") && server.count("base")) {
    out["device_hit_overhead_ms"] =
        loadgen::Summarize(server["device_hit"]).p50 -
        loadgen::Summarize(server["base"]).p50;
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace
}  // namespace loraplex::bench

int main(int argc, char** argv) {
  absl::StatusOr<loraplex::cli::CommandLine> cl =
      loraplex::cli::CommandLine::Parse(
          std::vector<std::string>(argv + 1, argv + argc),
          loraplex::bench::Flags());
  if (!cl.ok() || cl->Get("metrics-url").empty() ||
      cl->Get("model-config").empty()) {
    std::cerr << loraplex::cli::FormatHelp(
        "cold_adapter_bench --server HOST:PORT --metrics-url URL "
        "--model-config PATH",
        "Times first tokens for disk loads, host-tier hits, device hits and "
        "the base model.",
        loraplex::bench::Flags());
    return 2;
  }
  for (const char* name : {"trials", "fillers", "rank", "prompt-tokens"}) {
    if (!cl->GetInt(name).ok()) return 2;
  }
  return loraplex::bench::Run(*cl);
}
