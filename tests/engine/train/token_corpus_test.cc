// TokenCorpus: the held-out split, BOS-led windows, and sampling.
#include "engine/train/token_corpus.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::testing::HasSubstr;

constexpr int32_t kBos = 0;

// Stream s holds s * 1000 + 1, s * 1000 + 2, ... so every token says where
// it came from.
std::vector<std::vector<int32_t>> NumberedStreams(std::vector<int> lengths) {
  std::vector<std::vector<int32_t>> streams;
  for (size_t s = 0; s < lengths.size(); ++s) {
    std::vector<int32_t> stream(lengths[s]);
    std::iota(stream.begin(), stream.end(), static_cast<int32_t>(s * 1000 + 1));
    streams.push_back(stream);
  }
  return streams;
}

TEST(TokenCorpusTest, HoldsOutTheTailOfEachStream) {
  auto corpus =
      TokenCorpus::FromStreams(NumberedStreams({100, 50}), kBos,
                               {/*heldout_fraction=*/0.1, /*seq_len=*/8});
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->train_tokens(), 90 + 45);
  EXPECT_EQ(corpus->heldout_tokens(), 10 + 5);
  const auto windows = corpus->HeldoutWindows();
  // Stream 0: tokens 91..100 -> windows of 7 + 3; stream 1: 1046..1050.
  ASSERT_EQ(windows.size(), 3u);
  EXPECT_EQ(windows[0],
            (std::vector<int64_t>{kBos, 91, 92, 93, 94, 95, 96, 97}));
  EXPECT_EQ(windows[1], (std::vector<int64_t>{kBos, 98, 99, 100}));
  EXPECT_EQ(windows[2],
            (std::vector<int64_t>{kBos, 1046, 1047, 1048, 1049, 1050}));
}

TEST(TokenCorpusTest, SamplesContiguousTrainingWindowsDeterministically) {
  auto corpus =
      TokenCorpus::FromStreams(NumberedStreams({100, 30, 5}), kBos, {0.1, 8});
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  std::mt19937_64 rng(7), same(7);
  const std::vector<int64_t> batch = corpus->SampleBatch(64, rng);
  EXPECT_EQ(batch, corpus->SampleBatch(64, same));
  ASSERT_EQ(batch.size(), 64u * 8);
  bool saw_stream[2] = {false, false};
  for (size_t row = 0; row < 64; ++row) {
    const int64_t* w = &batch[row * 8];
    EXPECT_EQ(w[0], kBos);
    const int64_t stream = w[1] / 1000;
    ASSERT_LT(stream, 2) << "stream 2 is shorter than a window";
    saw_stream[stream] = true;
    for (int i = 2; i < 8; ++i) EXPECT_EQ(w[i], w[i - 1] + 1);
    // Never reaches into the held-out tail (90 of 100, 27 of 30 kept).
    EXPECT_LE(w[7] % 1000, stream == 0 ? 90 : 27);
  }
  EXPECT_TRUE(saw_stream[0] && saw_stream[1]);
}

TEST(TokenCorpusTest, CutIntoWindowsCoversEveryTokenOnce) {
  const std::vector<int32_t> tokens = {5, 6, 7, 8, 9};
  const auto windows = CutIntoWindows(tokens, kBos, /*seq_len=*/3);
  ASSERT_EQ(windows.size(), 3u);
  EXPECT_EQ(windows[0], (std::vector<int64_t>{kBos, 5, 6}));
  EXPECT_EQ(windows[2], (std::vector<int64_t>{kBos, 9}));
  EXPECT_TRUE(CutIntoWindows({}, kBos, 3).empty());
}

TEST(TokenCorpusTest, RefusesBadOptionsAndTooLittleText) {
  auto short_seq =
      TokenCorpus::FromStreams(NumberedStreams({100}), kBos, {0.1, 1});
  EXPECT_EQ(short_seq.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(short_seq.status()), HasSubstr("at least 2"));

  auto fraction =
      TokenCorpus::FromStreams(NumberedStreams({100}), kBos, {0.75, 8});
  EXPECT_EQ(fraction.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(fraction.status()), HasSubstr("[0, 0.5]"));

  auto tiny = TokenCorpus::FromStreams(NumberedStreams({6, 4}), kBos, {0.0, 8});
  EXPECT_EQ(tiny.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(tiny.status()), HasSubstr("corpus too small"));
}

}  // namespace
}  // namespace loraplex::engine
