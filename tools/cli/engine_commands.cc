#include "tools/cli/engine_commands.h"

#include <istream>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tools/cli/batch_request_json.h"
#include "tools/cli/command_line.h"

namespace loraplex::cli {
namespace {

std::vector<FlagSpec> EngineFlagSpecs() {
  return {
      ValueFlag("model",
                "Hugging Face model directory (config.json, *.safetensors)"),
      ValueFlag("device", "cpu, cuda, cuda:N or auto", "auto"),
      ValueFlag("dtype",
                "float32, bfloat16, float16 or auto (float32 on CPU, "
                "bfloat16 on CUDA)",
                "auto"),
      ValueFlag("threads", "CPU threads for the forward pass (0 = all cores)",
                "0"),
      SwitchFlag("help", "show this help"),
  };
}

absl::StatusOr<engine::EngineOptions> EngineOptionsFrom(const CommandLine& cl) {
  engine::EngineOptions options;
  options.model_dir = cl.Get("model");
  if (options.model_dir.empty()) {
    return absl::InvalidArgumentError("--model DIR is required");
  }
  options.device = cl.Get("device");
  options.dtype = cl.Get("dtype");
  auto threads = cl.GetInt("threads");
  if (!threads.ok()) return threads.status();
  options.num_threads = static_cast<int32_t>(*threads);
  return options;
}

int UsageError(std::ostream& err, const absl::Status& status,
               const std::string& command) {
  err << "loraplex " << command << ": " << status.message()
      << "\n(run 'loraplex " << command << " --help' for usage)\n";
  return 2;
}

}  // namespace

int RunBatchCommand(const std::vector<std::string>& args, std::istream& in,
                    std::ostream& out, std::ostream& err) {
  std::vector<FlagSpec> specs = EngineFlagSpecs();
  specs.push_back(RepeatedFlag("adapter", "a PEFT LoRA adapter as NAME=DIR"));
  specs.push_back(ValueFlag("max-batch-size",
                            "sequences decoded together per step", "32"));
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "batch");
  if (cl->Has("help")) {
    out << FormatHelp(
        "loraplex batch --model DIR [--adapter NAME=DIR ...] [--device D] "
        "[--dtype T] < requests.jsonl > results.jsonl",
        "Runs every request line of standard input as one workload, batched "
        "together with mixed adapters,\nand writes one result line per "
        "request, in input order.\nInput: {\"id\", \"adapter\", "
        "\"prompt_ids\" | \"prompt\", \"max_new_tokens\", \"temperature\", "
        "\"top_p\", \"top_k\", \"seed\",\n\"ignore_eos\", \"stop_token_ids\", "
        "\"stop\", \"return_last_logits\"}.\nOutput: {\"id\", \"token_ids\", "
        "\"text\", \"finish_reason\", \"last_logits\"?} or {\"id\", "
        "\"error\"}.\nExit status: 0 all succeeded, 1 a request failed, 2 "
        "bad usage.",
        specs);
    return 0;
  }
  if (!cl->positional().empty()) {
    return UsageError(err,
                      absl::InvalidArgumentError(absl::StrCat(
                          "unexpected argument '", cl->positional()[0], "'")),
                      "batch");
  }
  auto options = EngineOptionsFrom(*cl);
  if (!options.ok()) return UsageError(err, options.status(), "batch");
  auto batch_size = cl->GetInt("max-batch-size");
  if (!batch_size.ok()) return UsageError(err, batch_size.status(), "batch");
  options->max_batch_size = static_cast<int32_t>(*batch_size);

  // Read the whole workload first so it is batched as one.
  std::vector<BatchResult> results;
  std::vector<absl::StatusOr<BatchLine>> lines;
  std::string text;
  while (std::getline(in, text)) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    lines.push_back(ParseBatchLine(text));
  }
  results.resize(lines.size());
  options->max_queued_requests =
      std::max<int32_t>(1, static_cast<int32_t>(lines.size()));

  std::vector<std::pair<std::string, std::string>> adapters;
  for (const std::string& spec : cl->GetAll("adapter")) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return UsageError(err,
                        absl::InvalidArgumentError(absl::StrCat(
                            "--adapter expects NAME=DIR, got '", spec, "'")),
                        "batch");
    }
    adapters.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }
  auto engine = engine::Engine::Create(*options);
  if (!engine.ok()) {
    err << "loraplex batch: " << engine.status() << "\n";
    return 1;
  }
  for (const auto& [name, dir] : adapters) {
    absl::Status status = (*engine)->RegisterAdapter(name, dir);
    if (status.ok()) status = (*engine)->LoadAdapter(name);
    if (!status.ok()) {
      err << "loraplex batch: adapter " << name << ": " << status << "\n";
      return 1;
    }
  }

  absl::Mutex mu;
  size_t pending = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    BatchResult& result = results[i];
    if (!lines[i].ok()) {
      result.error = absl::InvalidArgumentError(
          absl::StrCat("line ", i + 1, ": ", lines[i].status().message()));
      continue;
    }
    result.id = lines[i]->id;
    {
      absl::MutexLock lock(&mu);
      ++pending;
    }
    auto submitted = (*engine)->Submit(
        std::move(lines[i]->request),
        [&mu, &pending, &result](const engine::GenerationEvent& event) {
          // Runs on the engine thread; only appends.
          absl::MutexLock lock(&mu);
          result.token_ids.insert(result.token_ids.end(),
                                  event.token_ids.begin(),
                                  event.token_ids.end());
          result.text += event.text;
          if (!event.last_logits.empty()) result.last_logits = event.last_logits;
          if (event.finished) {
            result.finish_reason = event.finish_reason;
            result.error = event.error;
            --pending;
          }
        });
    if (!submitted.ok()) {
      absl::MutexLock lock(&mu);
      --pending;
      result.error = submitted.status();
    }
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](size_t* p) { return *p == 0; }, &pending));
  }
  int exit_code = 0;
  for (const BatchResult& result : results) {
    if (!result.error.ok()) exit_code = 1;
    out << FormatBatchResult(result) << "\n";
  }
  out.flush();
  return exit_code;
}

int RunTokenizeCommand(const std::vector<std::string>& args, std::istream& in,
                       std::ostream& out, std::ostream& err) {
  std::vector<FlagSpec> specs = {
      ValueFlag("model", "model directory with tokenizer.json or "
                         "tokenizer.model"),
      SwitchFlag("no-special-tokens",
                 "do not add the post-processor's special tokens (e.g. BOS)"),
      SwitchFlag("help", "show this help"),
  };
  auto cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, cl.status(), "tokenize");
  if (cl->Has("help")) {
    out << FormatHelp("loraplex tokenize --model DIR < texts.jsonl",
                      "Reads {\"text\": ...} lines and writes {\"ids\": "
                      "[...]} lines (special tokens as the tokenizer's "
                      "post-processor adds them).",
                      specs);
    return 0;
  }
  if (cl->Get("model").empty()) {
    return UsageError(err, absl::InvalidArgumentError("--model DIR is required"),
                      "tokenize");
  }
  auto tokenizer = engine::Tokenizer::Load(cl->Get("model"));
  if (!tokenizer.ok()) {
    err << "loraplex tokenize: " << tokenizer.status() << "\n";
    return 1;
  }
  const bool add_special = !cl->Has("no-special-tokens");
  int exit_code = 0;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    nlohmann::json result;
    if (j.is_discarded() || !j.is_object() || !j.contains("text") ||
        !j["text"].is_string()) {
      result["error"] = absl::StrCat("line ", line_no,
                                     ": expected {\"text\": \"...\"}");
      exit_code = 1;
    } else {
      auto ids = (*tokenizer)->Encode(j["text"].get<std::string>(), add_special);
      if (ids.ok()) {
        result["ids"] = *ids;
      } else {
        result["error"] = std::string(ids.status().message());
        exit_code = 1;
      }
    }
    out << result.dump() << "\n";
  }
  return exit_code;
}

}  // namespace loraplex::cli
