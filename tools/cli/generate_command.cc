// `loraplex generate`: one GenerationService call, streamed by default.
#include <cmath>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/loraplex/v1/generation.grpc.pb.h"
#include "tools/cli/cli_command.h"
#include "tools/cli/client_commands.h"
#include "tools/cli/client_flags.h"
#include "tools/client/proto_json.h"

namespace loraplex::cli {
namespace {

namespace v1 = ::loraplex::v1;

constexpr char kCommand[] = "generate";

std::vector<FlagSpec> GenerateFlagSpecs() {
  std::vector<FlagSpec> specs = {
      ValueFlag("adapter", "adapter NAME or OWNER/NAME (default: base model)"),
      ValueFlag("max-new-tokens",
                "most tokens to generate (server default 16)"),
      ValueFlag("temperature", "0 = greedy (default)"),
      ValueFlag("top-p", "nucleus sampling mass in (0, 1]"),
      ValueFlag("top-k", "keep the K most likely tokens (0 = all)"),
      ValueFlag("seed", "seed of this request's random stream"),
      RepeatedFlag("stop", "stop before this text"),
      SwitchFlag("ignore-eos", "keep generating past end-of-sequence"),
      SwitchFlag("logprobs", "also return each token's log-probability"),
      SwitchFlag("no-stream", "one unary call; print the result at the end"),
      ValueFlag("prompt-ids",
                "prompt as token ids, e.g. 1,2,3 (instead of PROMPT text)"),
  };
  for (FlagSpec& spec : ClientFlagSpecs()) specs.push_back(std::move(spec));
  return specs;
}

absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view word : absl::StrSplit(text, ',')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(word, &id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--prompt-ids must be comma-separated integers (got '", word, "')"));
    }
    ids.push_back(id);
  }
  return ids;
}

absl::Status SetSampling(const CommandLine& cl, v1::SamplingParams& sampling) {
  if (cl.Has("temperature")) {
    absl::StatusOr<double> value = cl.GetDouble("temperature");
    if (!value.ok()) return value.status();
    sampling.set_temperature(static_cast<float>(*value));
  }
  if (cl.Has("top-p")) {
    absl::StatusOr<double> value = cl.GetDouble("top-p");
    if (!value.ok()) return value.status();
    sampling.set_top_p(static_cast<float>(*value));
  }
  if (cl.Has("top-k")) {
    absl::StatusOr<int64_t> value = cl.GetInt("top-k");
    if (!value.ok()) return value.status();
    sampling.set_top_k(static_cast<int32_t>(*value));
  }
  if (cl.Has("seed")) {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(cl.Get("seed"), &seed)) {
      return absl::InvalidArgumentError(
          "--seed must be a non-negative integer");
    }
    sampling.set_seed(seed);
  }
  return absl::OkStatus();
}

// The request the flags and words describe. Values the server checks
// (ranges, vocabulary) are passed through for it to judge.
absl::StatusOr<v1::GenerateRequest> RequestFrom(const CommandLine& cl) {
  v1::GenerateRequest request;
  request.set_adapter(cl.Get("adapter"));
  const bool has_text = !cl.positional().empty();
  if (cl.Has("prompt-ids") == has_text) {
    return absl::InvalidArgumentError(
        "give either a PROMPT or --prompt-ids, exactly one of them");
  }
  if (has_text) {
    request.set_text(absl::StrJoin(cl.positional(), " "));
  } else {
    absl::StatusOr<std::vector<int32_t>> ids =
        ParseIdList(cl.Get("prompt-ids"));
    if (!ids.ok()) return ids.status();
    for (int32_t id : *ids) request.mutable_token_ids()->add_ids(id);
  }
  if (absl::Status status = SetSampling(cl, *request.mutable_sampling());
      !status.ok()) {
    return status;
  }
  v1::StoppingParams& stopping = *request.mutable_stopping();
  if (cl.Has("max-new-tokens")) {
    absl::StatusOr<int64_t> value = cl.GetInt("max-new-tokens");
    if (!value.ok()) return value.status();
    stopping.set_max_new_tokens(static_cast<int32_t>(*value));
  }
  for (const std::string& stop : cl.GetAll("stop")) {
    stopping.add_stop_strings(stop);
  }
  stopping.set_ignore_eos(SwitchOn(cl, "ignore-eos"));
  request.set_return_logprobs(SwitchOn(cl, "logprobs"));
  return request;
}

double Millis(const google::protobuf::Duration& duration) {
  return static_cast<double>(duration.seconds()) * 1e3 +
         static_cast<double>(duration.nanos()) / 1e6;
}

std::string FinishReasonText(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    case v1::FINISH_REASON_EOS:
      return "eos";
    case v1::FINISH_REASON_CANCELLED:
      return "cancelled";
    default:
      return "unspecified";
  }
}

// "[finish: length, 16 tokens, first token 12.3 ms, total 80.1 ms]".
std::string SummaryLine(v1::FinishReason reason, const v1::Usage& usage,
                        const v1::Timings& timings) {
  return absl::StrFormat(
      "[finish: %s, %d prompt + %d generated tokens, first token %.1f ms, "
      "total %.1f ms]",
      FinishReasonText(reason), usage.prompt_tokens(),
      usage.completion_tokens(), Millis(timings.first_token()),
      Millis(timings.total()));
}

// Text mode: a model without a tokenizer produces no text, so its token ids
// are printed instead, in the form --prompt-ids takes.
void PrintIdsIfNoText(const std::string& text, const std::vector<int32_t>& ids,
                      std::ostream& out) {
  if (text.empty() && !ids.empty()) {
    out << "token_ids: " << absl::StrJoin(ids, ",");
  }
}

int RunUnary(v1::GenerationService::Stub& stub,
             const tools::ConnectionOptions& connection,
             const v1::GenerateRequest& request, bool json, std::ostream& out,
             std::ostream& err) {
  grpc::ClientContext context;
  tools::PrepareContext(connection, &context, request.adapter());
  v1::GenerateResponse response;
  const grpc::Status status = stub.Generate(&context, request, &response);
  if (!status.ok()) return ReportError(err, tools::FromGrpcStatus(status));
  if (json) {
    out << tools::ProtoToJson(response) << "\n";
    return kExitOk;
  }
  out << response.text();
  PrintIdsIfNoText(response.text(),
                   {response.token_ids().begin(), response.token_ids().end()},
                   out);
  out << "\n";
  if (StderrIsTerminal()) {
    err << SummaryLine(response.finish_reason(), response.usage(),
                       response.timings())
        << "\n";
  }
  return kExitOk;
}

int RunStreaming(v1::GenerationService::Stub& stub,
                 const tools::ConnectionOptions& connection,
                 const v1::GenerateRequest& request, bool json,
                 std::ostream& out, std::ostream& err) {
  grpc::ClientContext context;
  tools::PrepareContext(connection, &context, request.adapter());
  std::unique_ptr<grpc::ClientReader<v1::GenerateStreamResponse>> reader =
      stub.GenerateStream(&context, request);
  v1::GenerateStreamResponse message;
  std::string text;
  std::vector<int32_t> ids;
  while (reader->Read(&message)) {
    if (json) {
      out << tools::ProtoToJson(message) << "\n" << std::flush;
      continue;
    }
    if (message.has_chunk()) {
      text += message.chunk().text();
      ids.insert(ids.end(), message.chunk().token_ids().begin(),
                 message.chunk().token_ids().end());
      out << message.chunk().text() << std::flush;
    } else if (message.has_finished()) {
      PrintIdsIfNoText(text, ids, out);
      out << "\n" << std::flush;
      if (StderrIsTerminal()) {
        const v1::GenerateFinished& finished = message.finished();
        err << SummaryLine(finished.finish_reason(), finished.usage(),
                           finished.timings())
            << "\n";
      }
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    if (!json && !text.empty()) out << "\n";
    return ReportError(err, tools::FromGrpcStatus(status));
  }
  return kExitOk;
}

}  // namespace

int RunGenerateCommand(const std::vector<std::string>& args, std::istream& in,
                       std::ostream& out, std::ostream& err) {
  const std::vector<FlagSpec> specs = GenerateFlagSpecs();
  absl::StatusOr<CommandLine> cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, kCommand, cl.status());
  if (SwitchOn(*cl, "help")) {
    out << FormatHelp(
        "loraplex generate [flags] PROMPT...  |  loraplex generate [flags] "
        "--prompt-ids 1,2,3",
        "Generates a completion with the server's base model, or with an "
        "adapter (--adapter).\nStreams the text to standard output as it "
        "arrives (--no-stream: one call, printed at the end).\nA model "
        "without a tokenizer produces no text: its token ids are printed "
        "instead.\nWith --json: one JSON object per stream message (or the "
        "whole response with --no-stream).\nExit status: 0 success, 1 the "
        "call failed ('error: CODE: message' on stderr), 2 bad usage.",
        specs);
    return kExitOk;
  }
  absl::StatusOr<tools::ConnectionOptions> connection =
      ConnectionOptionsFrom(*cl);
  if (!connection.ok()) return UsageError(err, kCommand, connection.status());
  absl::StatusOr<v1::GenerateRequest> request = RequestFrom(*cl);
  if (!request.ok()) return UsageError(err, kCommand, request.status());
  std::unique_ptr<v1::GenerationService::Stub> stub =
      v1::GenerationService::NewStub(tools::MakeChannel(*connection));
  if (SwitchOn(*cl, "no-stream")) {
    return RunUnary(*stub, *connection, *request, WantsJson(*cl), out, err);
  }
  return RunStreaming(*stub, *connection, *request, WantsJson(*cl), out, err);
}

}  // namespace loraplex::cli
