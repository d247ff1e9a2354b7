#include "tests/tools/cli_test_util.h"

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace loraplex::tools_testing {

ProcessResult Cli(const std::vector<std::string>& args, EnvChanges env) {
  env.emplace("LORAPLEX_SERVER", std::nullopt);
  env.emplace("LORAPLEX_API_KEY", std::nullopt);
  std::vector<std::string> argv = {CliBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildOptions options;
  options.env = std::move(env);
  absl::StatusOr<ProcessResult> result = RunProcess(argv, options);
  if (!result.ok()) {
    ProcessResult failed;
    failed.err = std::string(result.status().message());
    return failed;
  }
  return *result;
}

FixtureCase ExpectedGreedy(const std::string& adapter, size_t prompt_length) {
  std::ifstream file(absl::StrCat(LORAPLEX_TEST_DATA_DIR,
                                  "/fixtures/hf-dev/llama-gqa/expected.json"));
  const nlohmann::json expected = nlohmann::json::parse(file, nullptr, false);
  for (const nlohmann::json& c : expected["cases"]) {
    const bool same_adapter =
        adapter.empty() ? c["adapter"].is_null()
                        : c["adapter"].is_string() && c["adapter"] == adapter;
    if (same_adapter && c["prompt_ids"].size() == prompt_length) {
      return {c["prompt_ids"].get<std::vector<int>>(),
              c["greedy_ids"].get<std::vector<int>>()};
    }
  }
  ADD_FAILURE() << "no fixture case for " << adapter << " / " << prompt_length;
  return {};
}

std::string JoinIds(const std::vector<int>& ids) {
  return absl::StrJoin(ids, ",");
}

nlohmann::json ParseJsonOrFail(const std::string& text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) {
    ADD_FAILURE() << "not JSON: " << text;
    return nullptr;
  }
  return json;
}

}  // namespace loraplex::tools_testing
