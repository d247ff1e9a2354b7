// `loraplex` client commands against a real loraplex-server process on
// loopback (open mode: every call is tenant "default").
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/cli_test_util.h"
#include "tools/client/adapter_upload.h"
#include "tools/loadgen/random_adapter.h"

namespace loraplex::tools_testing {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAreArray;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// stderr of a failed client command is exactly one "error: CODE: ..." line.
void ExpectErrorLine(const ProcessResult& r, const std::string& code) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, StartsWith("error: " + code + ": "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

class CliServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Rank 128 lets a >1 MiB adapter exist for this tiny model.
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start({"--max-lora-rank=128"});
    if (server.ok()) {
      server_ = std::move(*server).release();
    } else {
      start_error_ = new std::string(server.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr) << *start_error_; }
  // The server's log, for the failure message of a test that talks to it.
  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      ADD_FAILURE() << "loraplex-server log:\n" << server_->log();
    }
  }

  // `loraplex ARGS --server ADDRESS`.
  ProcessResult Run(std::vector<std::string> args, EnvChanges env = {}) {
    args.push_back("--server=" + server_->address());
    return Cli(args, std::move(env));
  }

  static ServerProcess* server_;
  static std::string* start_error_;
};

ServerProcess* CliServerTest::server_ = nullptr;
std::string* CliServerTest::start_error_ = nullptr;

TEST_F(CliServerTest, HealthIsServing) {
  const ProcessResult text = Run({"health"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, "SERVING\n");
  const ProcessResult json =
      Cli({"--server", server_->address(), "--json", "health"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(ParseJsonOrFail(json.out)["status"], "SERVING");
}

TEST_F(CliServerTest, EnvironmentVariableSelectsTheServer) {
  const ProcessResult r =
      Cli({"health"}, {{"LORAPLEX_SERVER", server_->address()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST_F(CliServerTest, UploadListGetLoadGenerateDelete) {
  const ProcessResult upload =
      Run({"adapters", "upload", "qv", FixtureAdapterDir("qv-r8"),
           "--description", "fixture q/v rank 8"});
  ASSERT_EQ(upload.exit_code, 0) << upload.err;
  EXPECT_THAT(upload.out, AllOf(StartsWith("uploaded default/qv version "),
                                HasSubstr("rank 8)")));

  const ProcessResult list = Run({"adapters", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const nlohmann::json listed = ParseJsonOrFail(list.out);
  const auto& adapters = listed["adapters"];
  const auto qv = std::find_if(adapters.begin(), adapters.end(),
                               [](const auto& a) { return a["name"] == "qv"; });
  ASSERT_NE(qv, adapters.end()) << list.out;
  EXPECT_EQ((*qv)["owner"], "default");
  EXPECT_EQ((*qv)["rank"], 8);
  EXPECT_EQ((*qv)["visibility"], "VISIBILITY_PRIVATE");
  EXPECT_EQ((*qv)["description"], "fixture q/v rank 8");

  const ProcessResult table = Run({"adapters", "list"});
  EXPECT_THAT(table.out, AllOf(StartsWith("ADAPTER"), HasSubstr("default/qv")));
  const ProcessResult get = Run({"adapters", "get", "qv"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out, AllOf(HasSubstr("adapter:     default/qv\n"),
                             HasSubstr("rank:        8 (lora_alpha 16)\n")));
  const ProcessResult load = Run({"adapters", "load", "default/qv"});
  EXPECT_EQ(load.exit_code, 0) << load.err;
  EXPECT_THAT(load.out, StartsWith("loaded default/qv in "));

  // Greedy output equals the Hugging Face PEFT reference, unary and streamed.
  const FixtureCase expected = ExpectedGreedy("qv-r8", 7);
  const std::vector<std::string> generate = {"generate",
                                             "--adapter",
                                             "qv",
                                             "--prompt-ids",
                                             JoinIds(expected.prompt_ids),
                                             "--max-new-tokens",
                                             "16",
                                             "--ignore-eos"};
  std::vector<std::string> unary = generate;
  unary.insert(unary.end(), {"--no-stream", "--json"});
  const ProcessResult unary_run = Run(unary);
  ASSERT_EQ(unary_run.exit_code, 0) << unary_run.err;
  const nlohmann::json response = ParseJsonOrFail(unary_run.out);
  EXPECT_THAT(response["token_ids"].get<std::vector<int>>(),
              ElementsAreArray(expected.greedy_ids));
  EXPECT_EQ(response["finish_reason"], "FINISH_REASON_LENGTH");
  EXPECT_EQ(response["usage"]["prompt_tokens"], 7);
  const ProcessResult streamed = Run(generate);
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  // The fixture model has no tokenizer: the ids stand in for the text.
  EXPECT_EQ(streamed.out, "token_ids: " + JoinIds(expected.greedy_ids) + "\n");

  const ProcessResult deleted = Run({"adapters", "delete", "qv"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_THAT(deleted.out, StartsWith("deleted default/qv version "));
  ExpectErrorLine(Run({"adapters", "get", "qv"}), "NOT_FOUND");
  ExpectErrorLine(Run(generate), "NOT_FOUND");
  ExpectErrorLine(Run({"adapters", "delete", "qv"}), "NOT_FOUND");
  // The name is free again.
  EXPECT_EQ(
      Run({"adapters", "upload", "qv", FixtureAdapterDir("qv-r8")}).exit_code,
      0);
}

TEST_F(CliServerTest, StreamedJsonMatchesTheReference) {
  const FixtureCase expected = ExpectedGreedy("", 23);
  const ProcessResult r =
      Run({"generate", "--json", "--prompt-ids", JoinIds(expected.prompt_ids),
           "--max-new-tokens", "16", "--ignore-eos"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<int> ids;
  int finished = 0;
  for (absl::string_view line :
       absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    const nlohmann::json message = ParseJsonOrFail(std::string(line));
    if (message.contains("chunk")) {
      for (int id : message["chunk"]["token_ids"]) ids.push_back(id);
    } else {
      ++finished;
      EXPECT_EQ(message["finished"]["usage"]["completion_tokens"], 16);
    }
  }
  EXPECT_EQ(finished, 1);
  EXPECT_THAT(ids, ElementsAreArray(expected.greedy_ids));
}

TEST_F(CliServerTest, UploadErrorsCarryTheServersCode) {
  const std::string dir = FixtureAdapterDir("attn-r4-rslora");
  ExpectErrorLine(Run({"adapters", "upload", "Bad_Name", dir}),
                  "INVALID_ARGUMENT");
  const ProcessResult missing =
      Run({"adapters", "upload", "x", "/nonexistent/adapter"});
  ExpectErrorLine(missing, "NOT_FOUND");
  EXPECT_THAT(missing.err,
              HasSubstr("/nonexistent/adapter/adapter_config.json"));
  ASSERT_EQ(Run({"adapters", "upload", "attn", dir}).exit_code, 0);
  // Uploading the same files again is a retry and succeeds; other files
  // under a taken name are refused.
  const ProcessResult again = Run({"adapters", "upload", "attn", dir});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  ExpectErrorLine(
      Run({"adapters", "upload", "attn", FixtureAdapterDir("qv-r8")}),
      "ALREADY_EXISTS");
  // An adapter made for another base model fails validation.
  const ProcessResult other_model =
      Run({"adapters", "upload", "qwen",
           std::string(LORAPLEX_TEST_DATA_DIR) +
               "/fixtures/hf-dev/qwen2-bias/adapters/all-r8"});
  ExpectErrorLine(other_model, "INVALID_ARGUMENT");
}

TEST_F(CliServerTest, LargeAdapterUploadsInSeveralChunks) {
  absl::StatusOr<engine::ModelConfig> model =
      loadgen::LoadModelConfigFrom(FixtureModelDir());
  ASSERT_TRUE(model.ok()) << model.status();
  TempDir dir;
  loadgen::RandomAdapterSpec spec;
  spec.rank = 128;
  spec.target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                         "gate_proj", "up_proj", "down_proj"};
  ASSERT_TRUE(loadgen::WriteRandomAdapter(*model, spec, dir.path()).ok());
  absl::StatusOr<std::vector<tools::LocalAdapterFile>> files =
      tools::InspectAdapterDir(dir.path());
  ASSERT_TRUE(files.ok());
  ASSERT_GT((*files)[1].size_bytes, tools::kMaxUploadChunkBytes);

  const ProcessResult upload =
      Run({"adapters", "upload", "big", dir.path(), "--public", "--json"});
  ASSERT_EQ(upload.exit_code, 0) << upload.err;
  const nlohmann::json adapter = ParseJsonOrFail(upload.out);
  EXPECT_EQ(adapter["visibility"], "VISIBILITY_PUBLIC");
  EXPECT_EQ(adapter["rank"], 128);
  // proto3 JSON writes 64-bit integers as strings.
  EXPECT_EQ(adapter["size_bytes"],
            std::to_string((*files)[0].size_bytes + (*files)[1].size_bytes));
  for (const auto& file : adapter["files"]) {
    const auto local = std::find_if(
        files->begin(), files->end(),
        [&](const auto& f) { return f.filename == file["filename"]; });
    ASSERT_NE(local, files->end());
    EXPECT_EQ(file["sha256"], local->sha256);
  }
  const ProcessResult generate =
      Run({"generate", "--adapter", "big", "--prompt-ids", "1,2,3",
           "--max-new-tokens", "4", "--ignore-eos", "--no-stream", "--json"});
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  EXPECT_EQ(ParseJsonOrFail(generate.out)["token_ids"].size(), 4u);
}

TEST_F(CliServerTest, GenerateErrors) {
  ExpectErrorLine(Run({"generate", "--prompt-ids", "1,99999"}),
                  "INVALID_ARGUMENT");
  ExpectErrorLine(
      Run({"generate", "--adapter", "nobody-has-this", "--prompt-ids", "1"}),
      "NOT_FOUND");
  ExpectErrorLine(Run({"generate", "--adapter", "UPPER", "--prompt-ids", "1",
                       "--no-stream"}),
                  "INVALID_ARGUMENT");
  ExpectErrorLine(Run({"generate", "--timeout", "0.000001", "--prompt-ids", "1",
                       "--max-new-tokens", "64", "--ignore-eos"}),
                  "DEADLINE_EXCEEDED");
}

TEST_F(CliServerTest, GlobalFlagsMayComeBeforeTheCommand) {
  const ProcessResult r =
      Cli({"--server", server_->address(), "--json", "adapters", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ParseJsonOrFail(r.out).contains("adapters"));
}

TEST(CliTest, UnreachableServerIsUnavailable) {
  // A port nothing listens on: bound (so that no other process can take
  // it meanwhile) but not listening, so connecting is refused.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t length = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  const ProcessResult r =
      Cli({"health", "--server",
           "127.0.0.1:" + std::to_string(ntohs(addr.sin_port))});
  close(fd);
  ExpectErrorLine(r, "UNAVAILABLE");
}

TEST(CliTest, UsageErrorsExitTwo) {
  const auto expect_usage = [](const std::vector<std::string>& args,
                               const std::string& message) {
    const ProcessResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(message));
  };
  expect_usage({"generate"}, "give either a PROMPT or --prompt-ids");
  expect_usage({"generate", "hi", "--prompt-ids", "1"}, "exactly one");
  expect_usage({"generate", "--prompt-ids", "1,x"}, "comma-separated");
  expect_usage({"generate", "--bogus", "hi"}, "unknown flag --bogus");
  expect_usage({"generate", "hi", "--timeout", "-1"}, "--timeout");
  expect_usage({"generate", "hi", "--seed", "-3"}, "--seed");
  expect_usage({"adapters"}, "Usage: loraplex adapters");
  expect_usage({"adapters", "frobnicate"}, "unknown subcommand 'frobnicate'");
  expect_usage({"adapters", "get"}, "expected exactly one NAME");
  expect_usage({"adapters", "upload", "only-name"}, "expected NAME and DIR");
  expect_usage({"adapters", "list", "extra"}, "takes no arguments");
  expect_usage({"health", "extra"}, "takes no arguments");
  expect_usage({"frobnicate"}, "unknown command 'frobnicate'");
  expect_usage({}, "");
}

TEST(CliTest, HelpOnEveryCommand) {
  const std::vector<std::vector<std::string>> commands = {
      {"generate"},
      {"adapters"},
      {"adapters", "upload"},
      {"adapters", "list"},
      {"adapters", "get"},
      {"adapters", "delete"},
      {"adapters", "load"},
      {"health"},
      {"keygen"},
      {"batch"},
      {"tokenize"},
      {"chat-template"}};
  for (std::vector<std::string> args : commands) {
    const std::string name = absl::StrJoin(args, " ");
    args.push_back("--help");
    const ProcessResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("Usage: loraplex " + name)) << name;
  }
  const ProcessResult top = Cli({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  for (const char* command : {"generate", "adapters", "health", "keygen",
                              "batch", "tokenize", "chat-template"}) {
    EXPECT_THAT(top.out, HasSubstr(std::string("  ") + command)) << command;
  }
}

}  // namespace
}  // namespace loraplex::tools_testing
