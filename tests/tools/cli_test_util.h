// Shared by the tests that run `loraplex` against a spawned server.
#ifndef LORAPLEX_TESTS_TOOLS_CLI_TEST_UTIL_H_
#define LORAPLEX_TESTS_TOOLS_CLI_TEST_UTIL_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace loraplex::tools_testing {

// The shared test helpers (tests/support) these tests use.
using ::loraplex::testing::ChildOptions;
using ::loraplex::testing::CliBinary;
using ::loraplex::testing::EnvChanges;
using ::loraplex::testing::FixtureAdapterDir;
using ::loraplex::testing::FixtureModelDir;
using ::loraplex::testing::LoadgenBinary;
using ::loraplex::testing::ProcessResult;
using ::loraplex::testing::RunProcess;
using ::loraplex::testing::ServerProcess;
using ::loraplex::testing::TempDir;

// Runs the `loraplex` binary with `args`; LORAPLEX_SERVER and
// LORAPLEX_API_KEY are removed from its environment unless `env` sets them.
// A process that cannot run at all yields exit_code -1 and the reason in err.
ProcessResult Cli(const std::vector<std::string>& args, EnvChanges env = {});

// The fixture's reference: the 16 greedy token ids for `adapter` ("" = base
// model) after the prompt of `prompt_length` (1, 7 or 23) ids.
struct FixtureCase {
  std::vector<int> prompt_ids;
  std::vector<int> greedy_ids;
};
FixtureCase ExpectedGreedy(const std::string& adapter, size_t prompt_length);

// "1,2,3".
std::string JoinIds(const std::vector<int>& ids);

// Parses `text` as JSON; a JSON null (and a test failure) if it is not.
nlohmann::json ParseJsonOrFail(const std::string& text);

}  // namespace loraplex::tools_testing

#endif  // LORAPLEX_TESTS_TOOLS_CLI_TEST_UTIL_H_
