// The loraplex-server executable itself: --help, a bad flag, a real start
// (ports from its start-up line) -> a call -> SIGTERM -> exit 0, and API
// keys reloaded on SIGHUP and when the key file changes.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/api_key_store.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"
#include "tests/support/server_process.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;

using ::loraplex::testing::ChildProcess;
using ::loraplex::testing::ServerBinary;
using ::loraplex::testing::ServerProcess;

constexpr absl::Duration kSafetyNet = absl::Seconds(120);

// Runs loraplex-server with `args` to its exit; its exit code and output.
struct ServerRun {
  int exit_code = -1;
  std::string output;
};
ServerRun RunServer(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {ServerBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<loraplex::testing::ProcessResult> result =
      loraplex::testing::RunProcess(argv, {}, kSafetyNet);
  if (!result.ok()) return ServerRun{-1, result.status().ToString()};
  return ServerRun{result->exit_code, result->err + result->out};
}

TEST(ServerMainTest, HelpListsTheFlagsAndExitsZero) {
  const ServerRun run = RunServer({"--help"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("--max-resident-adapters="));
  EXPECT_THAT(run.output, HasSubstr("models/demo"));
  EXPECT_THAT(run.output, HasSubstr("--max-queued-per-tenant=N|auto"));
  EXPECT_THAT(run.output, HasSubstr("--api-keys-check-interval="));
}

TEST(ServerMainTest, BadFlagExitsTwo) {
  const ServerRun run = RunServer({"--max-batch-size=zero"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr("error: --max-batch-size"));
}

TEST(ServerMainTest, UnloadableModelExitsOne) {
  loraplex::testing::TempDir dir;
  const ServerRun run = RunServer({"--model=" + dir.Join("missing"),
                                   "--registry-dir=" + dir.Join("registry"),
                                   "--metrics-listen=", "--http-listen=none"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("cannot start"));
}

TEST(ServerMainTest, ServesThenShutsDownGracefullyOnSigterm) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({"--metrics-listen="});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->metrics_port(), 0);
  EXPECT_THAT((*server)->log(), HasSubstr("NO --api-keys GIVEN"));

  auto channel = grpc::CreateChannel((*server)->address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::GenerationService::NewStub(channel);
  v1::GenerateResponse response;
  const grpc::Status status =
      Generate(*stub, GreedyRequest("", {369}, 16), "", &response);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(response.token_ids(0), 139);  // The reference greedy output.

  EXPECT_EQ((*server)->Stop(kSafetyNet), 0) << (*server)->log();
  EXPECT_THAT((*server)->log(), HasSubstr("shutting down gracefully"));
  EXPECT_THAT((*server)->log(), HasSubstr("shut down"));
}

// Writes a key file line by line: `keys` maps API keys to tenants. Replaced
// atomically (a new file renamed over the old one), as the docs ask.
void WriteKeyFile(
    const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& keys) {
  std::string text;
  for (const auto& [key, tenant] : keys) {
    text += *FormatApiKeyFileLine(tenant, Role::kTenant, key) + "\n";
  }
  loraplex::testing::WriteFile(path + ".new", text);
  ASSERT_EQ(std::rename((path + ".new").c_str(), path.c_str()), 0);
}

grpc::StatusCode GenerateAs(v1::GenerationService::Stub& stub,
                            const std::string& key) {
  return Generate(stub, GreedyRequest("", {369}, 2), key).error_code();
}

// Counts the server's log lines saying the keys were reloaded.
int Reloads(const std::string& log) {
  int count = 0;
  for (size_t at = log.find("api keys reloaded"); at != std::string::npos;
       at = log.find("api keys reloaded", at + 1)) {
    ++count;
  }
  return count;
}

// Issue 14, item 10: revoking a key takes effect without a restart, on
// SIGHUP and when the file changes.
TEST(ServerMainTest, RevokedKeysStopWorkingOnSighupAndWhenTheFileChanges) {
  loraplex::testing::TempDir dir;
  const std::string keys = dir.Join("api-keys");
  WriteKeyFile(keys, {{"key-1", "acme"}, {"key-2", "acme"}, {"key-3", "acme"}});
  // Checked for changes every 50 ms; SIGHUP works regardless.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      {"--api-keys=" + keys, "--api-keys-check-interval=50ms"});
  ASSERT_TRUE(server.ok()) << server.status();
  ChildProcess& process = (*server)->process();
  auto stub = v1::GenerationService::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  for (const char* key : {"key-1", "key-2", "key-3"}) {
    EXPECT_EQ(GenerateAs(*stub, key), grpc::StatusCode::OK) << key;
  }

  // A change of the file is noticed: key-1 is revoked.
  WriteKeyFile(keys, {{"key-2", "acme"}, {"key-3", "acme"}});
  ASSERT_TRUE(process.WaitForOutput(
      [](const std::string&, const std::string& err) {
        return Reloads(err) >= 1;
      },
      kSafetyNet))
      << (*server)->log();
  EXPECT_EQ(GenerateAs(*stub, "key-1"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(GenerateAs(*stub, "key-2"), grpc::StatusCode::OK);

  // So is SIGHUP (here without a change the watcher would see first: the
  // file is the same, and the reload happens anyway).
  process.Signal(SIGHUP);
  ASSERT_TRUE(process.WaitForOutput(
      [](const std::string&, const std::string& err) {
        return Reloads(err) >= 2;
      },
      kSafetyNet))
      << (*server)->log();
  EXPECT_THAT((*server)->log(), HasSubstr("SIGHUP received"));
  EXPECT_EQ(GenerateAs(*stub, "key-3"), grpc::StatusCode::OK);

  // A broken file is refused and logged; the keys in force stay.
  loraplex::testing::WriteFile(keys + ".new", "acme tenant not-a-hash\n");
  ASSERT_EQ(std::rename((keys + ".new").c_str(), keys.c_str()), 0);
  ASSERT_TRUE(process.WaitForText("api keys NOT reloaded", kSafetyNet))
      << (*server)->log();
  EXPECT_EQ(GenerateAs(*stub, "key-2"), grpc::StatusCode::OK);
  EXPECT_EQ(GenerateAs(*stub, "key-1"), grpc::StatusCode::UNAUTHENTICATED);

  EXPECT_EQ((*server)->Stop(kSafetyNet), 0) << (*server)->log();
}

}  // namespace
}  // namespace loraplex::service::e2e
