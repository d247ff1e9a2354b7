#include "service/server/server_flags.h"

#include <cstdint>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/common/status_macros.h"
#include "service/http/openai_http_server.h"
#include "service/http/openai_request.h"
#include "service/metrics/metrics_exposer.h"

namespace loraplex::service {
namespace {

using Setter = std::function<absl::Status(const std::string& value,
                                          ServerOptions& options)>;

struct FlagDef {
  const char* name;   // Without the dashes.
  const char* value;  // Placeholder in --help, e.g. "DIR".
  std::string help;   // Ends with the default.
  Setter set;
};

absl::Status BadValue(const std::string& flag, const std::string& value,
                      absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, ": \"", value, "\" is not ", expected));
}

// Integer flags with their smallest allowed value.
template <typename Int>
Setter IntSetter(const char* name, Int minimum, Int ServerOptions::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    Int parsed{};
    if (!absl::SimpleAtoi(value, &parsed) || parsed < minimum) {
      return BadValue(name, value, absl::StrCat("an integer >= ", minimum));
    }
    options.*field = parsed;
    return absl::OkStatus();
  };
}
template <typename Int>
Setter EngineIntSetter(const char* name, Int minimum,
                       Int engine::EngineOptions::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    Int parsed = 0;
    if (!absl::SimpleAtoi(value, &parsed) || parsed < minimum) {
      return BadValue(name, value, absl::StrCat("an integer >= ", minimum));
    }
    options.engine.*field = parsed;
    return absl::OkStatus();
  };
}
Setter StringSetter(std::string ServerOptions::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    options.*field = value;
    return absl::OkStatus();
  };
}
Setter EngineStringSetter(std::string engine::EngineOptions::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    options.engine.*field = value;
    return absl::OkStatus();
  };
}
// Durations: "30s", "2m", "500ms", or a number of seconds; >= 0.
Setter DurationSetter(const char* name, absl::Duration ServerOptions::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    absl::Duration duration;
    int64_t seconds = 0;
    if (absl::SimpleAtoi(value, &seconds)) {
      duration = absl::Seconds(seconds);
    } else if (!absl::ParseDuration(value, &duration)) {
      return BadValue(name, value, "a duration such as 30s or 2m");
    }
    if (duration < absl::ZeroDuration()) {
      return BadValue(name, value, "a duration >= 0");
    }
    options.*field = duration;
    return absl::OkStatus();
  };
}
absl::Status SetQueueShare(const std::string& value, ServerOptions& options) {
  int32_t share = 0;
  if (value == "auto") {
    share = kAutomaticQueueSharePerTenant;
  } else if (!absl::SimpleAtoi(value, &share) || share < 0) {
    return BadValue("max-queued-per-tenant", value,
                    "\"auto\" or an integer >= 0");
  }
  options.engine.max_queued_per_tenant = share;
  return absl::OkStatus();
}

// Note [Upload limits] (service/grpc/upload_supervisor.h).
Setter UploadCountSetter(const char* name, int32_t UploadLimits::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    int32_t parsed = 0;
    if (!absl::SimpleAtoi(value, &parsed) || parsed < 1) {
      return BadValue(name, value, "an integer >= 1");
    }
    options.upload_limits.*field = parsed;
    return absl::OkStatus();
  };
}
Setter UploadDurationSetter(const char* name,
                            absl::Duration UploadLimits::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    absl::Duration duration;
    int64_t seconds = 0;
    if (absl::SimpleAtoi(value, &seconds)) {
      duration = absl::Seconds(seconds);
    } else if (!absl::ParseDuration(value, &duration)) {
      return BadValue(name, value, "a duration such as 60s or 15m");
    }
    if (duration <= absl::ZeroDuration()) {
      return BadValue(name, value, "a duration > 0");
    }
    options.upload_limits.*field = duration;
    return absl::OkStatus();
  };
}
// The HTTP API's limits (service/http/openai_http_server.h).
Setter HttpCountSetter(const char* name, int32_t minimum,
                       int32_t HttpServerLimits::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    int32_t parsed = 0;
    if (!absl::SimpleAtoi(value, &parsed) || parsed < minimum) {
      return BadValue(name, value, absl::StrCat("an integer >= ", minimum));
    }
    options.http_limits.*field = parsed;
    return absl::OkStatus();
  };
}
Setter HttpDurationSetter(const char* name,
                          absl::Duration HttpServerLimits::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    absl::Duration duration;
    int64_t seconds = 0;
    if (absl::SimpleAtoi(value, &seconds)) {
      duration = absl::Seconds(seconds);
    } else if (!absl::ParseDuration(value, &duration)) {
      return BadValue(name, value, "a duration such as 30s or 2m");
    }
    if (duration <= absl::ZeroDuration()) {
      return BadValue(name, value, "a duration > 0");
    }
    options.http_limits.*field = duration;
    return absl::OkStatus();
  };
}
absl::Status SetHttpMaxRequestBytes(const std::string& value,
                                    ServerOptions& options) {
  uint64_t bytes = 0;
  if (!absl::SimpleAtoi(value, &bytes) || bytes < 1024 ||
      bytes > kMaxOpenAiBodyBytes) {
    return BadValue("http-max-request-bytes", value,
                    absl::StrCat("an integer in [1024, ", kMaxOpenAiBodyBytes,
                                 "]"));
  }
  options.http_limits.max_request_bytes = bytes;
  return absl::OkStatus();
}

Setter BoolSetter(const char* name, bool ServerOptions::*field) {
  return [=](const std::string& value, ServerOptions& options) {
    if (value == "true" || value == "1") {
      options.*field = true;
    } else if (value == "false" || value == "0") {
      options.*field = false;
    } else {
      return BadValue(name, value, "true or false");
    }
    return absl::OkStatus();
  };
}

std::vector<FlagDef> FlagTable(const FlagEnvironment& env) {
  const ServerOptions d;  // Static defaults.
  const engine::EngineOptions& e = d.engine;
  const HttpServerLimits& h = d.http_limits;
  using O = ServerOptions;
  using E = engine::EngineOptions;
  return {
      {"listen", "HOST:PORT",
       absl::StrCat("gRPC address (default ", d.listen_address, ")"),
       StringSetter(&O::listen_address)},
      {"http-listen", "HOST:PORT",
       absl::StrCat("OpenAI-compatible HTTP API address (/v1/models, "
                    "/v1/completions, /v1/chat/completions); \"none\" "
                    "disables it (default ",
                    kDefaultHttpListen, ")"),
       StringSetter(&O::http_listen)},
      {"http-threads", "N",
       absl::StrCat("HTTP API requests served at once, one thread each; a "
                    "request holds its thread until its answer (streamed or "
                    "not) is complete (default ",
                    h.worker_threads, ")"),
       HttpCountSetter("http-threads", 1, &HttpServerLimits::worker_threads)},
      {"http-max-waiting-connections", "N",
       absl::StrCat("HTTP API connections waiting for a thread; more are "
                    "closed at once (default ",
                    h.max_waiting_connections, ")"),
       HttpCountSetter("http-max-waiting-connections", 0,
                       &HttpServerLimits::max_waiting_connections)},
      {"http-request-timeout", "DURATION",
       absl::StrCat("an HTTP API request must be received within this from "
                    "its connection (default ",
                    absl::FormatDuration(h.request_deadline), ")"),
       HttpDurationSetter("http-request-timeout",
                          &HttpServerLimits::request_deadline)},
      {"http-write-timeout", "DURATION",
       absl::StrCat("a client must take each HTTP API answer, or each "
                    "streamed event, within this, or its connection is "
                    "closed and its generation cancelled (default ",
                    absl::FormatDuration(h.write_timeout), ")"),
       HttpDurationSetter("http-write-timeout",
                          &HttpServerLimits::write_timeout)},
      {"http-max-request-bytes", "N",
       absl::StrCat("largest HTTP API request, headers and body (default ",
                    h.max_request_bytes, ")"),
       SetHttpMaxRequestBytes},
      {"served-model-name", "NAME",
       "the base model's id in the HTTP API (default: the --model "
       "directory's name)",
       StringSetter(&O::served_model_name)},
      {"chat-template", "FILE",
       "a Jinja chat template that replaces the model's (tokenizer_config.json "
       "chat_template, or chat_template.jinja) for /v1/chat/completions "
       "(default none)",
       StringSetter(&O::chat_template_file)},
      {"metrics-listen", "HOST:PORT",
       absl::StrCat("Prometheus /metrics address; \"\" disables it (default ",
                    kDefaultMetricsListen, ")"),
       StringSetter(&O::metrics_listen)},
      {"metrics-adapter-labels", "N",
       "label request, token and time-to-first-token series by adapter for "
       "the N most used adapters (re-ranked every minute), the rest as "
       "adapter=\"other\"; 0 = no per-adapter series (default 0)",
       IntSetter<int32_t>("metrics-adapter-labels", 0,
                          &O::metrics_adapter_labels)},
      {"model", "DIR",
       absl::StrCat("Hugging Face model directory (default $LORAPLEX_MODEL, "
                    "else the embedded model ",
                    env.default_model_dir, ")"),
       EngineStringSetter(&E::model_dir)},
      {"device", "DEV", "cpu, cuda, cuda:N or auto (default auto)",
       EngineStringSetter(&E::device)},
      {"dtype", "TYPE",
       "float32, float16, bfloat16 or auto: float32 on CPU, bfloat16 on CUDA "
       "(default auto)",
       EngineStringSetter(&E::dtype)},
      {"threads", "N", "CPU threads for the model; 0 = all cores (default 0)",
       EngineIntSetter("threads", 0, &E::num_threads)},
      {"api-keys", "FILE",
       "API key file (lines \"<tenant> <tenant|admin> <sha256 of key>\"); "
       "absent = open mode, every call is tenant \"default\". Reloaded on "
       "SIGHUP and when it changes; replace it atomically (write, then "
       "rename) (default none)",
       StringSetter(&O::api_keys_file)},
      {"api-keys-check-interval", "DURATION",
       absl::StrCat("how often --api-keys is checked for changes; a change is "
                    "applied once it has settled this long; 0 = only on "
                    "SIGHUP (default ",
                    absl::FormatDuration(d.api_keys_check_interval), ")"),
       DurationSetter("api-keys-check-interval", &O::api_keys_check_interval)},
      {"registry-dir", "DIR",
       "durable adapter store (default $XDG_STATE_HOME/loraplex/registry if "
       "XDG_STATE_HOME is set, else ./loraplex-registry)",
       StringSetter(&O::registry_dir)},
      {"seed-adapters", "DIR",
       absl::StrCat("store every adapter <DIR>/<name>/ as tenant \"",
                    kSeedTenant,
                    "\", public, on start if missing; \"\" disables (default "
                    "<embedded model>/adapters when --model is the embedded "
                    "model, else none)"),
       StringSetter(&O::seed_adapters_dir)},
      {"max-upload-bytes", "N",
       absl::StrCat("total bytes of one upload's files (default ",
                    d.max_upload_bytes, ")"),
       IntSetter<uint64_t>("max-upload-bytes", 1, &O::max_upload_bytes)},
      {"max-lora-rank", "N",
       absl::StrCat("largest adapter rank accepted; alias --max-rank "
                    "(default ",
                    e.max_lora_rank, ")"),
       EngineIntSetter("max-lora-rank", 1, &E::max_lora_rank)},
      {"max-rank", "N", "alias of --max-lora-rank",
       EngineIntSetter("max-rank", 1, &E::max_lora_rank)},
      {"max-adapters-per-tenant", "N",
       absl::StrCat("adapters stored per tenant; 0 = no limit (default ",
                    d.max_adapters_per_tenant, ")"),
       IntSetter<int32_t>("max-adapters-per-tenant", 0,
                          &O::max_adapters_per_tenant)},
      {"max-resident-adapters", "N",
       absl::StrCat("device memory for adapters, LRU: room for N of rank "
                    "--max-lora-rank, more of lower rank (default ",
                    e.max_resident_adapters, ")"),
       EngineIntSetter("max-resident-adapters", 1, &E::max_resident_adapters)},
      {"max-host-adapters", "N",
       absl::StrCat("adapters kept in host memory behind them (default ",
                    e.max_host_adapters, ")"),
       EngineIntSetter("max-host-adapters", 1, &E::max_host_adapters)},
      {"max-batch-size", "N",
       absl::StrCat("sequences decoded together, = KV slots (default ",
                    e.max_batch_size, ")"),
       EngineIntSetter("max-batch-size", 1, &E::max_batch_size)},
      {"max-seq-len", "N",
       "KV tokens per sequence (prompt + output); 0 = the model's "
       "max_position_embeddings capped at 4096 (default 0)",
       EngineIntSetter("max-seq-len", 0, &E::max_seq_len)},
      {"kv-cache-tokens", "N",
       "KV cache memory in tokens over all sequences, at least --max-seq-len; "
       "a request is admitted when its prompt + max_tokens fit; 0 = "
       "--max-batch-size x --max-seq-len (default 0)",
       EngineIntSetter<int64_t>("kv-cache-tokens", 0, &E::kv_cache_tokens)},
      {"max-prefill-tokens", "N",
       absl::StrCat("prompt tokens processed per step (default ",
                    e.max_prefill_tokens, ")"),
       EngineIntSetter("max-prefill-tokens", 1, &E::max_prefill_tokens)},
      {"max-queued-requests", "N",
       absl::StrCat("requests waiting for admission before RESOURCE_EXHAUSTED "
                    "(default ",
                    e.max_queued_requests, ")"),
       EngineIntSetter("max-queued-requests", 1, &E::max_queued_requests)},
      {"max-queued-per-tenant", "N|auto",
       absl::StrCat("requests one tenant may have waiting, so that one tenant "
                    "cannot fill the queue for all; 0 = no bound; auto = a "
                    "quarter of --max-queued-requests (rounded up) with "
                    "--api-keys, no bound in open mode (default auto)"),
       SetQueueShare},
      {"shutdown-grace", "DURATION",
       absl::StrCat("on SIGTERM/SIGINT, time running requests get to finish "
                    "(default ",
                    absl::FormatDuration(d.shutdown_grace), ")"),
       DurationSetter("shutdown-grace", &O::shutdown_grace)},
      {"shutdown-grace-for-other-calls", "DURATION",
       absl::StrCat("once generation has ended, time other calls (uploads) "
                    "still get before they are cancelled (default ",
                    absl::FormatDuration(d.shutdown_grace_for_other_calls),
                    ")"),
       DurationSetter("shutdown-grace-for-other-calls",
                      &O::shutdown_grace_for_other_calls)},
      {"max-concurrent-uploads", "N",
       absl::StrCat("uploads in progress at once, over every tenant; more "
                    "are RESOURCE_EXHAUSTED (default ",
                    d.upload_limits.max_concurrent, ")"),
       UploadCountSetter("max-concurrent-uploads",
                         &UploadLimits::max_concurrent)},
      {"max-uploads-per-tenant", "N",
       absl::StrCat("uploads one tenant may have in progress at once "
                    "(default ",
                    d.upload_limits.max_per_tenant, ")"),
       UploadCountSetter("max-uploads-per-tenant",
                         &UploadLimits::max_per_tenant)},
      {"upload-idle-timeout", "DURATION",
       absl::StrCat("an upload that sends no message for this long ends "
                    "with DEADLINE_EXCEEDED (default ",
                    absl::FormatDuration(d.upload_limits.idle_timeout), ")"),
       UploadDurationSetter("upload-idle-timeout",
                            &UploadLimits::idle_timeout)},
      {"upload-timeout", "DURATION",
       absl::StrCat("an upload still sending after this long ends with "
                    "DEADLINE_EXCEEDED (default ",
                    absl::FormatDuration(d.upload_limits.total_timeout), ")"),
       UploadDurationSetter("upload-timeout", &UploadLimits::total_timeout)},
      {"verify-registry-checksums", "BOOL",
       "true: re-hash every stored adapter file at start-up (start-up time "
       "grows with the bytes stored); false: check sizes only (default "
       "false)",
       BoolSetter("verify-registry-checksums", &O::verify_registry_checksums)},
  };
}

// Fills in the defaults that depend on other flags and the environment.
void ApplyDerivedDefaults(const std::set<std::string>& given,
                          const FlagEnvironment& env, ServerOptions& options) {
  if (!given.count("model")) {
    options.engine.model_dir =
        env.env_model.empty() ? env.default_model_dir : env.env_model;
  }
  if (!given.count("registry-dir")) {
    options.registry_dir =
        env.xdg_state_home.empty()
            ? std::string("loraplex-registry")
            : absl::StrCat(env.xdg_state_home, "/loraplex/registry");
  }
  if (!given.count("seed-adapters") && !env.default_model_dir.empty() &&
      options.engine.model_dir == env.default_model_dir) {
    options.seed_adapters_dir = env.default_model_dir + "/adapters";
  }
}

}  // namespace

absl::StatusOr<ParsedFlags> ParseServerFlags(
    const std::vector<std::string>& args, const FlagEnvironment& environment) {
  const std::vector<FlagDef> table = FlagTable(environment);
  ParsedFlags parsed;
  std::set<std::string> given;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      parsed.help = true;
      return parsed;
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\" (flags only)"));
    }
    std::string name = arg.substr(2);
    std::string value;
    const size_t equals = name.find('=');
    const bool inline_value = equals != std::string::npos;
    if (inline_value) {
      value = name.substr(equals + 1);
      name.resize(equals);
    }
    const FlagDef* def = nullptr;
    for (const FlagDef& candidate : table) {
      if (name == candidate.name) def = &candidate;
    }
    if (def == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    RETURN_IF_ERROR(def->set(value, parsed.options));
    given.insert(name == "max-rank" ? "max-lora-rank" : name);
  }
  ApplyDerivedDefaults(given, environment, parsed.options);
  return parsed;
}

std::string ServerUsage(const FlagEnvironment& environment) {
  std::string usage =
      "Usage: loraplex-server [--flag=value ...]\n\n"
      "Serves generation with one base model and many tenants' LoRA adapters "
      "over gRPC\n(loraplex.v1; health checking and reflection included) and an\n"
      "OpenAI-compatible HTTP API.\n\n"
      "Flags:\n";
  for (const FlagDef& def : FlagTable(environment)) {
    absl::StrAppend(&usage, "  --", def.name, "=", def.value, "\n      ",
                    def.help, "\n");
  }
  return usage;
}

}  // namespace loraplex::service
