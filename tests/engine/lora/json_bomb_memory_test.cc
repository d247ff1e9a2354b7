// Issue 14, item 4: nested-JSON "bombs" in adapter_config.json or in the
// safetensors header must be refused before a DOM is built, so that a burst
// of such uploads leaves peak memory within a stated bound.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/lora/lora_adapter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/lora/lora_test_util.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::CopyDirectory;
using ::loraplex::testing::RawSafetensors;
using ::loraplex::testing::TempDir;
using ::loraplex::testing::WriteFile;

// Validating 20 bombs may raise the process's peak resident set by at most
// this much: about 8x the 8 MB a bomb file holds, and far below the ~300 MB
// per file a DOM parser needs.
constexpr int64_t kPeakRssGrowthBoundKb = 64 * 1024;

// A field of /proc/self/status in kB ("VmHWM", "VmRSS"); -1 if absent.
int64_t ProcStatusKb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      int64_t kb = -1;
      return absl::SimpleAtoi(digits, &kb) ? kb : -1;
    }
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0).
bool ResetPeakRss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

std::string NestedArrays(size_t bytes) {
  return std::string(bytes / 2, '[') + std::string(bytes / 2, ']');
}

TEST(JsonBombMemoryTest, BurstOfNestedJsonBombsKeepsPeakRssBounded) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's quarantine keeps freed memory resident";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "ASan's quarantine keeps freed memory resident";
#endif
#endif
  absl::StatusOr<ModelConfig> model =
      LoadModelConfig(FixtureDir("llama-gqa/model"));
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string good = FixtureDir("llama-gqa/adapters/qv-r8");
  // 20 adapter directories, five of each kind of bomb, all written before
  // measuring: the bombs' text must not count.
  TempDir dir;
  std::vector<std::string> adapters;
  for (int i = 0; i < 20; ++i) {
    const std::string adapter = dir.Join(absl::StrCat("bomb", i));
    CopyDirectory(good, adapter);
    switch (i % 4) {
      case 0:  // 8 MB adapter_config.json (over its 1 MiB limit).
        WriteFile(adapter + "/adapter_config.json", NestedArrays(8 << 20));
        break;
      case 1:  // Just under 1 MiB: refused by depth.
        WriteFile(adapter + "/adapter_config.json",
                  NestedArrays((1 << 20) - 2));
        break;
      case 2:  // 8 MB safetensors header (over the adapter header limit).
        WriteFile(adapter + "/adapter_model.safetensors",
                  RawSafetensors(NestedArrays(8 << 20), ""));
        break;
      case 3:  // A 1 MB header, under the limit: refused by depth.
        WriteFile(adapter + "/adapter_model.safetensors",
                  RawSafetensors("{\"a\":" + NestedArrays(1 << 20) + "}", ""));
        break;
    }
    adapters.push_back(adapter);
  }
  if (!ResetPeakRss()) GTEST_SKIP() << "cannot reset VmHWM";
  const int64_t rss_before = ProcStatusKb("VmRSS");
  ASSERT_GT(rss_before, 0);
  for (const std::string& adapter : adapters) {
    auto files = LoraAdapterFiles::Open(adapter, *model);
    ASSERT_FALSE(files.ok()) << adapter;
    EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument)
        << files.status();
  }
  const int64_t growth = ProcStatusKb("VmHWM") - rss_before;
  RecordProperty("peak_rss_growth_kb", std::to_string(growth));
  EXPECT_LE(growth, kPeakRssGrowthBoundKb)
      << "peak RSS grew by " << growth << " kB";
  // The good adapter still opens afterwards.
  EXPECT_TRUE(LoraAdapterFiles::Open(good, *model).ok());
}

}  // namespace
}  // namespace loraplex::engine
