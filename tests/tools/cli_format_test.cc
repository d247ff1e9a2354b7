// The CLI's pure pieces: flag and environment handling, error lines, byte
// and adapter rendering, the progress bar.
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/cli/adapter_printing.h"
#include "tools/cli/client_flags.h"
#include "tools/cli/progress_bar.h"
#include "tools/client/connection.h"

namespace loraplex::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sets (or with nullptr unsets) an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

absl::StatusOr<tools::ConnectionOptions> OptionsFor(
    const std::vector<std::string>& args) {
  absl::StatusOr<CommandLine> cl = CommandLine::Parse(args, ClientFlagSpecs());
  if (!cl.ok()) return cl.status();
  return ConnectionOptionsFrom(*cl);
}

TEST(ConnectionOptionsFromTest, DefaultsWithoutFlagsOrEnvironment) {
  ScopedEnv server(kServerEnv, nullptr), key(kApiKeyEnv, nullptr);
  absl::StatusOr<tools::ConnectionOptions> options = OptionsFor({});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->server, "localhost:50051");
  EXPECT_EQ(options->api_key, "");
  EXPECT_EQ(options->timeout, absl::InfiniteDuration());
}

TEST(ConnectionOptionsFromTest, EnvironmentThenFlagsWin) {
  ScopedEnv server(kServerEnv, "env-host:1"), key(kApiKeyEnv, "env-key");
  absl::StatusOr<tools::ConnectionOptions> from_env = OptionsFor({});
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->server, "env-host:1");
  EXPECT_EQ(from_env->api_key, "env-key");
  absl::StatusOr<tools::ConnectionOptions> from_flags = OptionsFor(
      {"--server", "flag-host:2", "--api-key=flag-key", "--timeout", "1.5"});
  ASSERT_TRUE(from_flags.ok());
  EXPECT_EQ(from_flags->server, "flag-host:2");
  EXPECT_EQ(from_flags->api_key, "flag-key");
  EXPECT_EQ(from_flags->timeout, absl::Milliseconds(1500));
}

TEST(ConnectionOptionsFromTest, RejectsBadTimeoutAndEmptyServer) {
  ScopedEnv server(kServerEnv, nullptr);
  for (const char* bad : {"0", "-2", "soon", "inf"}) {
    absl::StatusOr<tools::ConnectionOptions> options =
        OptionsFor({"--timeout", bad});
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_THAT(options.status().message(), HasSubstr("--timeout")) << bad;
  }
  EXPECT_EQ(OptionsFor({"--server="}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FormatErrorLineTest, OneLineWithTheCodeName) {
  EXPECT_EQ(tools::FormatErrorLine(absl::NotFoundError("no adapter x")),
            "error: NOT_FOUND: no adapter x");
  EXPECT_EQ(tools::FormatErrorLine(
                absl::InvalidArgumentError("bad\ntensor\r\nshape")),
            "error: INVALID_ARGUMENT: bad tensor shape");
}

TEST(FromGrpcStatusTest, KeepsCodeAndMessage) {
  const absl::Status status = tools::FromGrpcStatus(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full"));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "queue full");
  EXPECT_TRUE(tools::FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(HumanBytesTest, Units) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(uint64_t{3} << 20), "3.0 MiB");
  EXPECT_EQ(HumanBytes(uint64_t{5} << 30), "5.0 GiB");
}

loraplex::v1::Adapter SampleAdapter() {
  loraplex::v1::Adapter adapter;
  adapter.set_name("support-bot");
  adapter.set_owner("acme");
  adapter.set_visibility(loraplex::v1::VISIBILITY_PUBLIC);
  adapter.set_version("0123456789abcdef0123456789abcdef");
  adapter.set_rank(8);
  adapter.set_lora_alpha(16);
  adapter.add_target_modules("q_proj");
  adapter.add_target_modules("v_proj");
  adapter.set_num_modules(4);
  adapter.set_size_bytes(2048);
  adapter.mutable_create_time()->set_seconds(1700000000);
  loraplex::v1::AdapterFile& file = *adapter.add_files();
  file.set_filename("adapter_config.json");
  file.set_size_bytes(100);
  file.set_sha256(std::string(64, 'a'));
  return adapter;
}

TEST(FormatAdapterDetailsTest, ShowsEveryProperty) {
  const std::string text = FormatAdapterDetails(SampleAdapter());
  EXPECT_THAT(text, HasSubstr("adapter:     acme/support-bot\n"));
  EXPECT_THAT(text, HasSubstr("visibility:  public\n"));
  EXPECT_THAT(text, HasSubstr("rank:        8 (lora_alpha 16)\n"));
  EXPECT_THAT(text, HasSubstr("targets:     q_proj,v_proj (4 modules)\n"));
  EXPECT_THAT(text, HasSubstr("size:        2.0 KiB\n"));
  EXPECT_THAT(text, HasSubstr("created:     2023-11-14T22:13:20Z\n"));
  EXPECT_THAT(text, HasSubstr("adapter_config.json  100 bytes  sha256 aaaa"));
}

TEST(FormatAdapterTableTest, AlignedColumnsOrEmptyNote) {
  EXPECT_EQ(FormatAdapterTable({}), "no adapters\n");
  loraplex::v1::Adapter other = SampleAdapter();
  other.set_name("x");
  other.set_visibility(loraplex::v1::VISIBILITY_PRIVATE);
  const std::string table = FormatAdapterTable({SampleAdapter(), other});
  EXPECT_THAT(table, StartsWith("ADAPTER           VISIBILITY  RANK"));
  EXPECT_THAT(table, HasSubstr("\nacme/support-bot  public      8 "));
  EXPECT_THAT(table, HasSubstr("\nacme/x            private     8 "));
}

TEST(FormatProgressTest, BarBytesAndRate) {
  EXPECT_EQ(FormatProgress(512 << 10, 1 << 20, absl::Seconds(2)),
            "[##########----------]  512.0 KiB / 1.0 MiB  256.0 KiB/s");
  EXPECT_EQ(FormatProgress(0, 100, absl::ZeroDuration()),
            "[--------------------]  0 B / 100 B");
  EXPECT_THAT(FormatProgress(0, 0, absl::ZeroDuration()),
              StartsWith("[####################]"));
}

TEST(ProgressBarTest, RedrawsInPlaceAndEndsTheLine) {
  std::ostringstream out;
  ProgressBar bar(out);
  bar.Update(0, 200);
  bar.Update(50, 200);   // Within 100 ms of the last draw: skipped.
  bar.Update(200, 200);  // The last update is always drawn.
  bar.Finish();
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 2);
  EXPECT_THAT(text, HasSubstr("200 B / 200 B"));
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace loraplex::cli
