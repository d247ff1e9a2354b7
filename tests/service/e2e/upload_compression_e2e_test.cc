// Compression at upload (UploadHeader.compression, issue "low-rank toolkit"
// part 5): the server stores exactly what `loraplex-train compress` writes
// for the same request, AdapterInfo reports the ranks and the energy kept,
// and an adapter over the rank limit is refused unless compression is asked
// for, with a message that says how.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/train/adapter_compression.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/sha256.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/service/e2e/e2e_test_util.h"
#include "tests/support/temp_dir.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;

// What `loraplex-train compress --adapter <fixture> --rank K` writes.
struct CompressedFixture {
  AdapterFiles files;
  engine::AdapterCompressionReport report;
};
CompressedFixture CompressFixture(const std::string& fixture, int64_t rank,
                                  const loraplex::testing::TempDir& dir) {
  engine::AdapterCompressionOptions options;
  options.adapter_dir = engine::testing::FixtureAdapterDir(kModel, fixture);
  options.out_dir = dir.Join(absl::StrCat(fixture, "-r", rank));
  options.rank = rank;
  absl::StatusOr<engine::AdapterCompressionReport> report =
      engine::CompressLoraAdapter(options);
  EXPECT_TRUE(report.ok()) << report.status();
  return {ReadAdapterDir(options.out_dir),
          report.ok() ? *report : engine::AdapterCompressionReport{}};
}

v1::UploadCompression ToRank(int32_t rank) {
  v1::UploadCompression compression;
  compression.set_rank(rank);
  return compression;
}

v1::UploadCompression ToMaxLoraRank() {
  v1::UploadCompression compression;
  compression.set_to_max_lora_rank(true);
  return compression;
}

class UploadCompressionTest : public ::testing::Test {
 protected:
  void Start(int32_t max_lora_rank) {
    server_.reset();
    ServerOptions options = TestServerOptions(registry_.path());
    options.engine.max_lora_rank = max_lora_rank;
    server_ = TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
  }

  std::vector<int32_t> GreedyTokens(const std::string& adapter) {
    v1::GenerateResponse response;
    const grpc::Status status =
        Generate(server_->generation(), GreedyRequest(adapter, {369, 12}, 16),
                 "", &response);
    EXPECT_TRUE(status.ok()) << adapter << ": " << Describe(status);
    return TokenIds(response);
  }

  loraplex::testing::TempDir registry_;
  loraplex::testing::TempDir work_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(UploadCompressionTest, StoresWhatTheCompressCommandWrites) {
  Start(/*max_lora_rank=*/16);
  const AdapterFiles original = FixtureAdapter("all-r16");
  const CompressedFixture expected = CompressFixture("all-r16", 4, work_);

  UploadOptions options;
  options.compression = ToRank(4);
  v1::Adapter compressed;
  grpc::Status status =
      Upload(server_->adapters(), "compressed", original, options, &compressed);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(compressed.rank(), 4);
  ASSERT_TRUE(compressed.has_compression());
  EXPECT_TRUE(compressed.compression().compressed());
  EXPECT_EQ(compressed.compression().original_rank(), 16);
  EXPECT_EQ(compressed.compression().stored_rank(), 4);
  EXPECT_DOUBLE_EQ(compressed.compression().retained_energy(),
                   expected.report.retained_energy);
  EXPECT_LT(compressed.compression().retained_energy(), 1.0);
  EXPECT_EQ(compressed.compression().request().rank(), 4);
  // The stored files are the command's, byte for byte; the uploaded ones
  // are reported beside them.
  ASSERT_EQ(compressed.files_size(), 2);
  EXPECT_EQ(compressed.files(0).sha256(), Sha256Hex(expected.files.config));
  EXPECT_EQ(compressed.files(1).sha256(), Sha256Hex(expected.files.weights));
  EXPECT_EQ(compressed.size_bytes(),
            expected.files.config.size() + expected.files.weights.size());
  ASSERT_EQ(compressed.compression().uploaded_files_size(), 2);
  EXPECT_EQ(compressed.compression().uploaded_files(1).sha256(),
            Sha256Hex(original.weights));

  // The command's output uploaded as is generates the same tokens.
  status = Upload(server_->adapters(), "by-command", expected.files);
  ASSERT_TRUE(status.ok()) << Describe(status);
  const std::vector<int32_t> tokens = GreedyTokens("compressed");
  EXPECT_EQ(tokens, GreedyTokens("by-command"));
  EXPECT_EQ(tokens.size(), 16u);

  // A retry of the same upload (same files, same request) is recognised;
  // the same files without the request are another adapter.
  v1::Adapter retried;
  status =
      Upload(server_->adapters(), "compressed", original, options, &retried);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(retried.version(), compressed.version());
  status = Upload(server_->adapters(), "compressed", original);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS)
      << Describe(status);

  // The record survives a restart.
  Start(/*max_lora_rank=*/16);
  v1::GetAdapterRequest request;
  request.set_name("compressed");
  v1::Adapter got;
  status = server_->adapters().GetAdapter(NewContext().get(), request, &got);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(got.compression().original_rank(), 16);
  EXPECT_EQ(got.compression().stored_rank(), 4);
  EXPECT_EQ(got.files(1).sha256(), Sha256Hex(expected.files.weights));
  EXPECT_EQ(GreedyTokens("compressed"), tokens);
}

TEST_F(UploadCompressionTest, OverTheRankLimitIsRefusedUnlessAskedFor) {
  Start(/*max_lora_rank=*/8);
  const AdapterFiles rank16 = FixtureAdapter("all-r16");
  grpc::Status status = Upload(server_->adapters(), "big", rank16);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("accepts at most 8"));
  EXPECT_THAT(status.error_message(), HasSubstr("to_max_lora_rank"));

  UploadOptions options;
  options.compression = ToMaxLoraRank();
  v1::Adapter stored;
  status = Upload(server_->adapters(), "big", rank16, options, &stored);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(stored.rank(), 8);
  EXPECT_TRUE(stored.compression().compressed());
  EXPECT_EQ(stored.compression().original_rank(), 16);
  EXPECT_EQ(stored.compression().stored_rank(), 8);
  const CompressedFixture expected = CompressFixture("all-r16", 8, work_);
  EXPECT_EQ(stored.files(1).sha256(), Sha256Hex(expected.files.weights));
  EXPECT_EQ(GreedyTokens("big").size(), 16u);

  // Within the limit, to_max_lora_rank stores the files as uploaded.
  const AdapterFiles rank8 = FixtureAdapter("qv-r8");
  status = Upload(server_->adapters(), "small", rank8, options, &stored);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_FALSE(stored.compression().compressed());
  EXPECT_EQ(stored.compression().original_rank(), 8);
  EXPECT_EQ(stored.compression().retained_energy(), 1.0);
  EXPECT_EQ(stored.files(1).sha256(), Sha256Hex(rank8.weights));

  // A requested rank over the limit, or a malformed request, is refused.
  options.compression = ToRank(9);
  status = Upload(server_->adapters(), "too-big", rank16, options);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("--max-lora-rank 8"));
  options.compression = ToRank(0);
  status = Upload(server_->adapters(), "zero", rank16, options);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  options.compression.Clear();
  options.compression.set_energy(1.5);
  status = Upload(server_->adapters(), "energy", rank16, options);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("(0, 1]"));
  EXPECT_TRUE(
      WaitFor([&] { return DirEntries(registry_.Join(".staging")).empty(); }));
}

}  // namespace
}  // namespace loraplex::service::e2e
