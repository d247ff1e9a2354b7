#include "tools/loadgen/loadgen_flags.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/common/status_macros.h"
#include "tools/cli/command_line.h"

namespace loraplex::loadgen {
namespace {

using cli::CommandLine;
using cli::FlagSpec;
using cli::SwitchFlag;
using cli::ValueFlag;

std::vector<FlagSpec> LoadgenFlagSpecs() {
  return {
      ValueFlag("server", "HOST:PORT (env LORAPLEX_SERVER)",
                tools::kDefaultServer),
      ValueFlag("api-key", "API key (env LORAPLEX_API_KEY)"),
      ValueFlag("timeout", "deadline of each request, seconds (none if unset)"),
      ValueFlag("rate", "open loop: Poisson arrivals per second"),
      ValueFlag("concurrency", "closed loop: requests kept in flight"),
      ValueFlag("duration", "seconds to keep sending"),
      ValueFlag("requests", "requests to send"),
      ValueFlag("drain-timeout", "seconds to wait for stragglers, then cancel",
                "60"),
      ValueFlag("max-in-flight", "open loop: cap on requests in flight",
                "1024"),
      ValueFlag("adapters", "comma-separated adapter names to use"),
      ValueFlag("adapters-prefix",
                "use the server's adapters named PREFIX* (ListAdapters)"),
      ValueFlag("num-adapters", "use the first N of those (0 = all)", "0"),
      ValueFlag("alpha", "adapter popularity power law; 0 = uniform", "0"),
      ValueFlag("base-fraction", "share of requests on the base model", "0"),
      ValueFlag("create-adapters",
                "first upload random adapters PREFIX0000.. up to N", "0"),
      ValueFlag("rank", "rank of created adapters", "8"),
      ValueFlag("adapter-targets", "modules created adapters adapt",
                "q_proj,k_proj,v_proj,o_proj"),
      ValueFlag("model-config",
                "the server model's config.json (or its directory): the "
                "shapes of created adapters"),
      SwitchFlag("public", "created adapters are PUBLIC"),
      ValueFlag("prompt-tokens", "prompt length: N or MIN:MAX", "16"),
      ValueFlag("output-tokens", "max_new_tokens: N or MIN:MAX", "16"),
      ValueFlag("vocab-size",
                "prompt ids are drawn below this (default: --model-config's "
                "vocab_size, else 256)"),
      ValueFlag("first-prompt-id", "smallest prompt id drawn", "0"),
      ValueFlag("prompt-text", "send this text as every prompt instead"),
      SwitchFlag("stop-at-eos", "let EOS end outputs early (default: ignore)"),
      ValueFlag("seed", "seed of the workload's random choices", "1"),
      ValueFlag("warmup-requests", "unmeasured requests first", "0"),
      ValueFlag("metrics-url",
                "server's /metrics, e.g. http://127.0.0.1:9090/metrics"),
      SwitchFlag("json", "print the report as JSON"),
      SwitchFlag("help", "show this help"),
  };
}

bool SwitchOn(const CommandLine& cl, const std::string& name) {
  return cl.Has(name) && cl.Get(name) == "true";
}

absl::StatusOr<absl::Duration> SecondsFlag(const CommandLine& cl,
                                           const std::string& name) {
  ASSIGN_OR_RETURN(double seconds, cl.GetDouble(name));
  if (!std::isfinite(seconds) || seconds <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a positive number of seconds"));
  }
  return absl::Seconds(seconds);
}

absl::StatusOr<int32_t> IntFlag(const CommandLine& cl, const std::string& name,
                                int64_t min) {
  ASSIGN_OR_RETURN(int64_t value, cl.GetInt(name));
  if (value < min || value > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an integer >= ", min));
  }
  return static_cast<int32_t>(value);
}

std::vector<std::string> SplitList(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipEmpty());
}

absl::Status ParseConnection(const CommandLine& cl, LoadgenConfig& config) {
  const char* server_env = std::getenv("LORAPLEX_SERVER");
  const char* key_env = std::getenv("LORAPLEX_API_KEY");
  config.connection.server =
      cl.Has("server") || server_env == nullptr ? cl.Get("server") : server_env;
  config.connection.api_key =
      cl.Has("api-key") || key_env == nullptr ? cl.Get("api-key") : key_env;
  if (cl.Has("timeout")) {
    ASSIGN_OR_RETURN(config.connection.timeout, SecondsFlag(cl, "timeout"));
  }
  return absl::OkStatus();
}

absl::Status ParseAdapters(const CommandLine& cl, LoadgenConfig& config) {
  AdapterSetupOptions& a = config.adapters;
  a.names = SplitList(cl.Get("adapters"));
  a.prefix = cl.Get("adapters-prefix");
  ASSIGN_OR_RETURN(a.count, IntFlag(cl, "num-adapters", 0));
  ASSIGN_OR_RETURN(a.create, IntFlag(cl, "create-adapters", 0));
  ASSIGN_OR_RETURN(a.random.rank, IntFlag(cl, "rank", 1));
  a.random.lora_alpha = 2.0 * a.random.rank;
  a.random.target_modules = SplitList(cl.Get("adapter-targets"));
  a.model_config = cl.Get("model-config");
  a.make_public = SwitchOn(cl, "public");
  if (!a.names.empty() && (!a.prefix.empty() || a.create > 0)) {
    return absl::InvalidArgumentError(
        "--adapters cannot be combined with --adapters-prefix or "
        "--create-adapters");
  }
  ASSIGN_OR_RETURN(config.load.alpha, cl.GetDouble("alpha"));
  ASSIGN_OR_RETURN(config.load.base_fraction, cl.GetDouble("base-fraction"));
  return absl::OkStatus();
}

absl::Status ParseShape(const CommandLine& cl, LoadgenConfig& config) {
  LoadOptions& load = config.load;
  if (cl.Has("rate")) {
    ASSIGN_OR_RETURN(load.rate, cl.GetDouble("rate"));
  }
  if (cl.Has("concurrency")) {
    ASSIGN_OR_RETURN(load.concurrency, IntFlag(cl, "concurrency", 1));
  }
  if (cl.Has("duration")) {
    ASSIGN_OR_RETURN(load.duration, SecondsFlag(cl, "duration"));
  }
  if (cl.Has("requests")) {
    ASSIGN_OR_RETURN(load.max_requests, IntFlag(cl, "requests", 1));
  }
  ASSIGN_OR_RETURN(load.drain_timeout, SecondsFlag(cl, "drain-timeout"));
  ASSIGN_OR_RETURN(load.max_in_flight, IntFlag(cl, "max-in-flight", 1));
  ASSIGN_OR_RETURN(load.prompt_tokens,
                   ParseIntRange(cl.Get("prompt-tokens"), "prompt-tokens"));
  ASSIGN_OR_RETURN(load.output_tokens,
                   ParseIntRange(cl.Get("output-tokens"), "output-tokens"));
  load.prompt_text = cl.Get("prompt-text");
  load.ignore_eos = !SwitchOn(cl, "stop-at-eos");
  ASSIGN_OR_RETURN(load.first_prompt_id, IntFlag(cl, "first-prompt-id", 0));
  if (cl.Has("vocab-size")) {
    ASSIGN_OR_RETURN(load.vocab_size, IntFlag(cl, "vocab-size", 1));
  } else if (!config.adapters.model_config.empty()) {
    ASSIGN_OR_RETURN(engine::ModelConfig model,
                     LoadModelConfigFrom(config.adapters.model_config));
    load.vocab_size = static_cast<int32_t>(model.vocab_size);
  }
  uint64_t seed = 0;
  if (!absl::SimpleAtoi(cl.Get("seed"), &seed)) {
    return absl::InvalidArgumentError("--seed must be a non-negative integer");
  }
  load.seed = seed;
  return absl::OkStatus();
}

}  // namespace

std::string LoadgenUsage() {
  return cli::FormatHelp(
      "loraplex-loadgen (--rate R | --concurrency C) (--duration S | "
      "--requests N) [flags]",
      "Sends GenerateStream requests to a loraplex-server (asynchronous "
      "gRPC) and reports completed and\nfailed requests by code, throughput, "
      "time to first token (TTFT), time per output token (TPOT)\nand "
      "end-to-end latency percentiles, and the server's adapter cache hit "
      "rate (--metrics-url).\nAdapters: --adapters a,b or --adapters-prefix "
      "P (optionally --create-adapters N --rank R\n--model-config "
      "MODEL/config.json to upload random ones first); each request picks "
      "adapter i with\nprobability proportional to (i+1)^-alpha.\nExit "
      "status: 0 the run happened (failed requests are in the report), 1 "
      "setup failed, 2 bad usage.",
      LoadgenFlagSpecs());
}

absl::StatusOr<LoadgenConfig> ParseLoadgenFlags(
    const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(CommandLine cl,
                   CommandLine::Parse(args, LoadgenFlagSpecs()));
  LoadgenConfig config;
  config.help = SwitchOn(cl, "help");
  if (config.help) return config;
  if (!cl.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", cl.positional()[0], "'"));
  }
  RETURN_IF_ERROR(ParseConnection(cl, config));
  RETURN_IF_ERROR(ParseAdapters(cl, config));
  RETURN_IF_ERROR(ParseShape(cl, config));
  ASSIGN_OR_RETURN(int32_t warmup, IntFlag(cl, "warmup-requests", 0));
  config.warmup_requests = warmup;
  config.metrics_url = cl.Get("metrics-url");
  config.json = SwitchOn(cl, "json");
  RETURN_IF_ERROR(ValidateLoadOptions(config.load));
  return config;
}

nlohmann::json ConfigToJson(const LoadgenConfig& config) {
  const LoadOptions& load = config.load;
  nlohmann::json json = {
      {"server", config.connection.server},
      {"mode", load.rate > 0 ? "open_loop" : "closed_loop"},
      {"num_adapters", load.adapters.size()},
      {"alpha", load.alpha},
      {"base_fraction", load.base_fraction},
      {"prompt_tokens", {load.prompt_tokens.min, load.prompt_tokens.max}},
      {"output_tokens", {load.output_tokens.min, load.output_tokens.max}},
      {"ignore_eos", load.ignore_eos},
      {"seed", load.seed},
      {"warmup_requests", config.warmup_requests},
  };
  if (load.rate > 0) json["rate"] = load.rate;
  if (load.concurrency > 0) json["concurrency"] = load.concurrency;
  if (load.duration > absl::ZeroDuration()) {
    json["duration_seconds"] = absl::ToDoubleSeconds(load.duration);
  }
  if (load.max_requests > 0) json["requests"] = load.max_requests;
  return json;
}

}  // namespace loraplex::loadgen
