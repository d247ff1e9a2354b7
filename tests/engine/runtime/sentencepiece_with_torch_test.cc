// SentencePiece inside a process that also has LibTorch (and so libprotobuf
// 3.21). Debian's libsentencepiece exports a private protobuf-lite 3.14; linked
// normally, this binary crashed before main() and, with libprotobuf forced
// first, every SentencePiece model failed to load. The tokenizer now loads it
// as an RTLD_DEEPBIND module (engine/tokenizer/sentencepiece_backend.h).
#include <fstream>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "torch/torch.h"

namespace loraplex::engine {
namespace {

TEST(SentencePieceWithTorchTest, EncodesAndDecodesLikeTheReference) {
  // LibTorch is really in use in this process.
  ASSERT_EQ(torch::ones({2}).sum().item<float>(), 2.0f);

  const std::string dir = std::string(LORAPLEX_TEST_DATA_DIR) +
                          "/fixtures/tokenizers/sentencepiece-bpe";
  auto tokenizer = Tokenizer::Load(dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::ifstream in(dir + "/expected.json");
  const nlohmann::json expected = nlohmann::json::parse(in);
  ASSERT_FALSE(expected["cases"].empty());
  for (const auto& c : expected["cases"]) {
    const std::string text = c["text"];
    auto ids = (*tokenizer)->Encode(text, /*add_special_tokens=*/true);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c["ids"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ((*tokenizer)->Decode(*ids, /*skip_special_tokens=*/true),
              c["decoded"].get<std::string>())
        << text;
  }
}

}  // namespace
}  // namespace loraplex::engine
