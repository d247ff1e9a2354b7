// loraplex-server's flags: defaults (including those from the environment),
// every kind of value, and every error.
#include "service/server/server_flags.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/server/server_app.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;

FlagEnvironment TestEnvironment() {
  FlagEnvironment env;
  env.default_model_dir = "/repo/models/demo";
  return env;
}

TEST(ServerFlagsTest, DefaultsServeTheEmbeddedModelAndSeedItsAdapters) {
  absl::StatusOr<ParsedFlags> parsed = ParseServerFlags({}, TestEnvironment());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ServerOptions& o = parsed->options;
  EXPECT_FALSE(parsed->help);
  EXPECT_EQ(o.listen_address, "0.0.0.0:50051");
  EXPECT_EQ(o.metrics_listen, "0.0.0.0:9090");
  EXPECT_EQ(o.engine.model_dir, "/repo/models/demo");
  EXPECT_EQ(o.seed_adapters_dir, "/repo/models/demo/adapters");
  EXPECT_EQ(o.registry_dir, "loraplex-registry");
  EXPECT_EQ(o.api_keys_file, "");
  EXPECT_EQ(o.engine.device, "auto");
  EXPECT_EQ(o.engine.dtype, "auto");
  EXPECT_EQ(o.max_upload_bytes, uint64_t{512} << 20);
  EXPECT_EQ(o.engine.max_lora_rank, 64);
  EXPECT_EQ(o.max_adapters_per_tenant, 100);
  EXPECT_EQ(o.shutdown_grace, absl::Seconds(30));
}

TEST(ServerFlagsTest, EnvironmentChangesModelAndRegistryDefaults) {
  FlagEnvironment env = TestEnvironment();
  env.env_model = "/models/other";
  env.xdg_state_home = "/state";
  absl::StatusOr<ParsedFlags> parsed = ParseServerFlags({}, env);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->options.engine.model_dir, "/models/other");
  EXPECT_EQ(parsed->options.seed_adapters_dir, "");  // Not the demo model.
  EXPECT_EQ(parsed->options.registry_dir, "/state/loraplex/registry");
}

TEST(ServerFlagsTest, ParsesEveryFlagInBothForms) {
  const std::vector<std::string> args = {
      "--listen=127.0.0.1:1",
      "--metrics-listen=",
      "--model",
      "/m",
      "--device=cuda:1",
      "--dtype=bfloat16",
      "--threads=3",
      "--api-keys=/keys",
      "--registry-dir",
      "/reg",
      "--seed-adapters=/seed",
      "--max-upload-bytes=1000",
      "--max-lora-rank=8",
      "--max-adapters-per-tenant=0",
      "--max-resident-adapters=2",
      "--max-host-adapters=5",
      "--max-batch-size=4",
      "--max-seq-len=128",
      "--kv-cache-tokens=5000000000",
      "--max-prefill-tokens=64",
      "--max-queued-requests=9",
      "--max-queued-per-tenant=2",
      "--shutdown-grace=1m30s",
      "--api-keys-check-interval=500ms",
      "--shutdown-grace-for-other-calls=12s"};
  absl::StatusOr<ParsedFlags> parsed =
      ParseServerFlags(args, TestEnvironment());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ServerOptions& o = parsed->options;
  EXPECT_EQ(o.listen_address, "127.0.0.1:1");
  EXPECT_EQ(o.metrics_listen, "");
  EXPECT_EQ(o.engine.model_dir, "/m");
  EXPECT_EQ(o.engine.device, "cuda:1");
  EXPECT_EQ(o.engine.dtype, "bfloat16");
  EXPECT_EQ(o.engine.num_threads, 3);
  EXPECT_EQ(o.api_keys_file, "/keys");
  EXPECT_EQ(o.registry_dir, "/reg");
  EXPECT_EQ(o.seed_adapters_dir, "/seed");
  EXPECT_EQ(o.max_upload_bytes, 1000u);
  EXPECT_EQ(o.engine.max_lora_rank, 8);
  EXPECT_EQ(o.max_adapters_per_tenant, 0);
  EXPECT_EQ(o.engine.max_resident_adapters, 2);
  EXPECT_EQ(o.engine.max_host_adapters, 5);
  EXPECT_EQ(o.engine.max_batch_size, 4);
  EXPECT_EQ(o.engine.max_seq_len, 128);
  EXPECT_EQ(o.engine.kv_cache_tokens, int64_t{5000000000});
  EXPECT_EQ(o.engine.max_prefill_tokens, 64);
  EXPECT_EQ(o.engine.max_queued_requests, 9);
  EXPECT_EQ(o.engine.max_queued_per_tenant, 2);
  EXPECT_EQ(o.shutdown_grace, absl::Seconds(90));
  EXPECT_EQ(o.api_keys_check_interval, absl::Milliseconds(500));
  EXPECT_EQ(o.shutdown_grace_for_other_calls, absl::Seconds(12));
}

// Note [Per-tenant queue share].
TEST(ServerFlagsTest, TheQueueShareIsAutomaticUnlessGiven) {
  absl::StatusOr<ParsedFlags> parsed = ParseServerFlags({}, TestEnvironment());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->options.engine.max_queued_per_tenant,
            kAutomaticQueueSharePerTenant);
  EXPECT_EQ(ResolvedQueueSharePerTenant(parsed->options), 0);  // Open mode.
  parsed = ParseServerFlags({"--api-keys=/keys"}, TestEnvironment());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(ResolvedQueueSharePerTenant(parsed->options), 256);  // 1024 / 4.
  parsed = ParseServerFlags({"--api-keys=/keys", "--max-queued-requests=10"},
                            TestEnvironment());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(ResolvedQueueSharePerTenant(parsed->options), 3);  // Rounded up.
  parsed = ParseServerFlags({"--api-keys=/keys", "--max-queued-requests=1"},
                            TestEnvironment());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(ResolvedQueueSharePerTenant(parsed->options), 1);
  for (const char* explicit_share : {"0", "7"}) {
    parsed = ParseServerFlags(
        {"--api-keys=/keys",
         std::string("--max-queued-per-tenant=") + explicit_share},
        TestEnvironment());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(ResolvedQueueSharePerTenant(parsed->options),
              std::stoi(explicit_share));
  }
  parsed =
      ParseServerFlags({"--max-queued-per-tenant=auto"}, TestEnvironment());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->options.engine.max_queued_per_tenant,
            kAutomaticQueueSharePerTenant);
}

TEST(ServerFlagsTest, AliasesAndSpecialValues) {
  absl::StatusOr<ParsedFlags> parsed = ParseServerFlags(
      {"--max-rank=32", "--shutdown-grace=7", "--seed-adapters="},
      TestEnvironment());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->options.engine.max_lora_rank, 32);
  EXPECT_EQ(parsed->options.shutdown_grace, absl::Seconds(7));
  EXPECT_EQ(parsed->options.seed_adapters_dir, "");  // Explicitly disabled.
  parsed = ParseServerFlags({"--help"}, TestEnvironment());
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help);
}

TEST(ServerFlagsTest, BadCommandLinesNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"--no-such-flag=1"}, "unknown flag --no-such-flag"},
      {{"--model"}, "--model needs a value"},
      {{"positional"}, "unexpected argument \"positional\""},
      {{"--threads=-1"}, "--threads: \"-1\" is not an integer >= 0"},
      {{"--max-batch-size=0"},
       "--max-batch-size: \"0\" is not an integer >= 1"},
      {{"--max-batch-size=many"}, "--max-batch-size"},
      {{"--max-upload-bytes=-5"}, "--max-upload-bytes"},
      {{"--max-adapters-per-tenant=x"}, "--max-adapters-per-tenant"},
      {{"--shutdown-grace=soon"}, "--shutdown-grace"},
      {{"--shutdown-grace=-3s"}, "a duration >= 0"},
      {{"--max-queued-per-tenant=-1"}, "\"auto\" or an integer >= 0"},
      {{"--max-queued-per-tenant=some"}, "\"auto\" or an integer >= 0"},
      {{"--api-keys-check-interval=often"}, "a duration such as 30s"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args[0]);
    absl::StatusOr<ParsedFlags> parsed =
        ParseServerFlags(c.args, TestEnvironment());
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message));
  }
}

TEST(ServerFlagsTest, UsageListsEveryFlagWithItsDefault) {
  const std::string usage = ServerUsage(TestEnvironment());
  for (const char* flag : {"--listen=",
                           "--metrics-listen=",
                           "--model=",
                           "--device=",
                           "--dtype=",
                           "--threads=",
                           "--api-keys=",
                           "--registry-dir=",
                           "--seed-adapters=",
                           "--max-upload-bytes=",
                           "--max-lora-rank=",
                           "--max-adapters-per-tenant=",
                           "--max-resident-adapters=",
                           "--max-host-adapters=",
                           "--max-batch-size=",
                           "--max-seq-len=",
                           "--kv-cache-tokens=",
                           "--max-queued-requests=",
                           "--max-queued-per-tenant=",
                           "--shutdown-grace=",
                           "--api-keys-check-interval=",
                           "--shutdown-grace-for-other-calls="}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
  EXPECT_THAT(usage, HasSubstr("/repo/models/demo"));
  EXPECT_THAT(usage, HasSubstr("(default 0.0.0.0:50051)"));
  EXPECT_THAT(usage, HasSubstr("(default 30s)"));
}

}  // namespace
}  // namespace loraplex::service
