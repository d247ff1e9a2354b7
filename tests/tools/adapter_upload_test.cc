// InspectAdapterDir against an independent SHA-256 (coreutils' sha256sum).
#include "tools/client/adapter_upload.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace loraplex::tools {
namespace {

using ::testing::HasSubstr;

std::string Sha256Sum(const std::string& path) {
  absl::StatusOr<loraplex::testing::ProcessResult> run =
      loraplex::testing::RunProcess({"/usr/bin/sha256sum", path});
  if (!run.ok() || run->exit_code != 0) return "sha256sum failed";
  return run->out.substr(0, 64);
}

TEST(InspectAdapterDirTest, SizesAndHashesOfTheTwoFiles) {
  const std::string dir = loraplex::testing::FixtureAdapterDir("qv-r8");
  absl::StatusOr<std::vector<LocalAdapterFile>> files = InspectAdapterDir(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);  // README.md is not sent.
  for (const LocalAdapterFile& file : *files) {
    struct stat info {};
    ASSERT_EQ(stat(file.path.c_str(), &info), 0) << file.path;
    EXPECT_EQ(file.size_bytes, static_cast<uint64_t>(info.st_size));
    EXPECT_EQ(file.sha256, Sha256Sum(file.path)) << file.filename;
  }
  EXPECT_EQ((*files)[0].filename, "adapter_config.json");
  EXPECT_EQ((*files)[1].filename, "adapter_model.safetensors");
}

TEST(InspectAdapterDirTest, MissingFileIsNotFoundAndNamed) {
  loraplex::testing::TempDir dir;
  absl::StatusOr<std::vector<LocalAdapterFile>> files =
      InspectAdapterDir(dir.path());
  EXPECT_EQ(files.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(files.status().message(), HasSubstr("adapter_config.json"));
}

}  // namespace
}  // namespace loraplex::tools
