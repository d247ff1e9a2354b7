#include "engine/lora/lora_weight_key.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"

namespace loraplex::engine {
namespace {

using ::loraplex::testing::MessageOf;
using ::testing::HasSubstr;

TEST(LoraWeightKeyTest, RoundTripsEveryKindAndFactor) {
  for (int k = 0; k < kNumLinearKinds; ++k) {
    const LinearKind kind = static_cast<LinearKind>(k);
    for (bool is_a : {true, false}) {
      const std::string name = LoraWeightKeyName(37, kind, is_a);
      absl::StatusOr<LoraWeightKey> key = ParseLoraWeightKey(name);
      ASSERT_TRUE(key.ok()) << key.status();
      EXPECT_EQ(key->layer, 37);
      EXPECT_EQ(key->kind, kind);
      EXPECT_EQ(key->is_a, is_a);
    }
  }
  EXPECT_EQ(LoraWeightKeyName(0, LinearKind::kDown, false),
            "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
}

TEST(LoraWeightKeyTest, RefusesOtherKeys) {
  for (const char* key :
       {"", "base_model.model.model.layers.", "base_model.model.model.layers.0",
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A",
        "base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight",
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.x",
        "base_model.model.model.layers.-1.self_attn.q_proj.lora_A.weight",
        "base_model.model.model.layers.1234567890.self_attn.q_proj.lora_A."
        "weight"}) {
    absl::StatusOr<LoraWeightKey> parsed = ParseLoraWeightKey(key);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << key;
    EXPECT_THAT(MessageOf(parsed.status()),
                HasSubstr(std::string("tensor '") + key + "'"));
  }
}

}  // namespace
}  // namespace loraplex::engine
