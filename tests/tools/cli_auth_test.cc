// `loraplex keygen` keys used end to end: a server started with an
// --api-keys file made from keygen's lines accepts exactly those keys.
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re2/re2.h"
#include "tests/tools/cli_test_util.h"

namespace loraplex::tools_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Key {
  std::string api_key;
  std::string line;
};

Key MakeKey(const std::string& tenant, const std::string& role) {
  const ProcessResult r =
      Cli({"keygen", "--tenant", tenant, "--role", role, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json json = ParseJsonOrFail(r.out);
  EXPECT_EQ(json["tenant"], tenant);
  EXPECT_EQ(json["role"], role);
  return {json["api_key"], json["key_file_line"]};
}

TEST(KeygenTest, PrintsAFreshKeyAndItsHashedLine) {
  const ProcessResult r = Cli({"keygen", "--tenant", "acme"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string key, hash;
  ASSERT_TRUE(RE2::PartialMatch(r.out, R"(\n  (lpx_[0-9a-f]{64})\n)", &key))
      << r.out;
  ASSERT_TRUE(
      RE2::PartialMatch(r.out, R"(\n  acme tenant ([0-9a-f]{64})\n)", &hash))
      << r.out;
  EXPECT_EQ(r.out.find(hash), r.out.rfind(hash));
  EXPECT_EQ(r.out.find(key.substr(4)), r.out.rfind(key.substr(4)));
  EXPECT_NE(MakeKey("acme", "tenant").api_key,
            MakeKey("acme", "tenant").api_key);
}

TEST(KeygenTest, UsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"keygen"},
           {"keygen", "--tenant", "acme", "--role", "root"},
           {"keygen", "--tenant", "Not A Tenant"},
           {"keygen", "--tenant", "acme", "extra"}}) {
    const ProcessResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, StartsWith("loraplex keygen: "));
  }
}

TEST(CliAuthTest, KeysFromKeygenAuthenticate) {
  const Key acme = MakeKey("acme", "tenant");
  const Key ops = MakeKey("ops", "admin");
  TempDir dir;
  const std::string key_file = dir.path() + "/keys";
  std::ofstream(key_file) << "# made by loraplex keygen\n"
                          << acme.line << "\n"
                          << ops.line << "\n";
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({"--api-keys=" + key_file});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string at = "--server=" + (*server)->address();

  const ProcessResult anonymous = Cli({"adapters", "list", at});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_THAT(anonymous.err, StartsWith("error: UNAUTHENTICATED: "));
  const ProcessResult wrong =
      Cli({"adapters", "list", at, "--api-key", "lpx_not_a_key"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, StartsWith("error: UNAUTHENTICATED: "));

  const ProcessResult upload =
      Cli({"adapters", "upload", "qv", FixtureAdapterDir("qv-r8"), at,
           "--api-key", acme.api_key});
  ASSERT_EQ(upload.exit_code, 0) << upload.err;
  EXPECT_THAT(upload.out, StartsWith("uploaded acme/qv "));
  // The key from the environment works the same.
  const ProcessResult from_env =
      Cli({"adapters", "get", "qv", at}, {{"LORAPLEX_API_KEY", acme.api_key}});
  EXPECT_EQ(from_env.exit_code, 0) << from_env.err;
  // The admin sees acme's private adapter by its qualified name.
  const ProcessResult admin =
      Cli({"adapters", "get", "acme/qv", at, "--api-key", ops.api_key});
  EXPECT_EQ(admin.exit_code, 0) << admin.err;
  EXPECT_THAT(admin.out, HasSubstr("adapter:     acme/qv\n"));
}

}  // namespace
}  // namespace loraplex::tools_testing
