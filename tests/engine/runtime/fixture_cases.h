// Reference cases from tests/data/fixtures/hf-dev/<model>/expected.json
// (Hugging Face transformers + PEFT outputs; see that folder's README).
#ifndef LORAPLEX_TESTS_ENGINE_RUNTIME_FIXTURE_CASES_H_
#define LORAPLEX_TESTS_ENGINE_RUNTIME_FIXTURE_CASES_H_

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine::testing {

struct FixtureCase {
  std::string adapter;  // Empty for the base model.
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> greedy_ids;
  std::vector<float> last_logits;
};

inline std::string FixtureModelDir(const std::string& model) {
  return std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/hf-dev/" + model +
         "/model";
}

inline std::string FixtureAdapterDir(const std::string& model,
                                     const std::string& adapter) {
  return std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/hf-dev/" + model +
         "/adapters/" + adapter;
}

inline std::vector<FixtureCase> LoadFixtureCases(const std::string& model) {
  const std::string path = std::string(LORAPLEX_TEST_DATA_DIR) +
                           "/fixtures/hf-dev/" + model + "/expected.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json json = nlohmann::json::parse(text.str());
  std::vector<FixtureCase> cases;
  for (const auto& c : json.at("cases")) {
    FixtureCase fc;
    if (!c.at("adapter").is_null()) fc.adapter = c.at("adapter").get<std::string>();
    fc.prompt_ids = c.at("prompt_ids").get<std::vector<int32_t>>();
    fc.greedy_ids = c.at("greedy_ids").get<std::vector<int32_t>>();
    fc.last_logits = c.at("last_logits").get<std::vector<float>>();
    cases.push_back(std::move(fc));
  }
  return cases;
}

// Largest absolute difference between two equally long vectors.
inline float MaxAbsDiff(const std::vector<float>& a,
                        const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  return worst;
}

}  // namespace loraplex::engine::testing

#endif  // LORAPLEX_TESTS_ENGINE_RUNTIME_FIXTURE_CASES_H_
