// Note [Client-visible errors] (service/frontend/error_scrubber.h): no
// client reads carries a server file path or an engine adapter id, whatever
// layer it came from: the engine failing to load stored files, registry
// I/O on delete and upload. Plus the scrubber's rules one by one.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/frontend/error_scrubber.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kVersion[] = "0123456789abcdef0123456789abcdef";

TEST(ErrorScrubberTest, ReplacesRegistryAndModelPathsAndDropsVersions) {
  const ErrorScrubber scrubber("/srv/registry", "/opt/models/demo");
  EXPECT_EQ(
      scrubber.Scrub(std::string("adapter /srv/registry/adapters/acme/"
                                 "bot@") +
                     kVersion +
                     ": cannot open /srv/registry/adapters/"
                     "acme/bot@" +
                     kVersion + "/adapter_model.safetensors: No such file"),
      "adapter acme/bot: cannot open acme/bot/adapter_model.safetensors: "
      "No such file");
  EXPECT_EQ(scrubber.Scrub("cannot create /srv/registry/.staging/abcd/"
                           "adapter_config.json: Not a directory"),
            "cannot create <upload>/adapter_config.json: Not a directory");
  EXPECT_EQ(scrubber.Scrub("cannot remove [/srv/registry/.trash/abcd]"),
            "cannot remove [<registry>]");
  EXPECT_EQ(scrubber.Scrub("reading '/opt/models/demo/tokenizer.json' failed"),
            "reading '<model>/tokenizer.json' failed");
  EXPECT_EQ(scrubber.Scrub(std::string("adapter acme/bot@") + kVersion +
                           " is not registered"),
            "adapter acme/bot is not registered");
  // Look-alikes stay: another directory, an '@' that is no version.
  EXPECT_EQ(scrubber.Scrub("/srv/registry2/x and me@example.com"),
            "/srv/registry2/x and me@example.com");
  EXPECT_EQ(scrubber.Scrub(absl::InvalidArgumentError("/srv/registry")),
            absl::InvalidArgumentError("<registry>"));
  EXPECT_TRUE(scrubber.Scrub(absl::OkStatus()).ok());
}

TEST(ErrorScrubberTest, MatchesRelativeAbsoluteAndCanonicalSpellings) {
  loraplex::testing::TempDir dir;
  std::filesystem::create_directories(dir.Join("real/registry"));
  std::filesystem::create_directory_symlink(dir.Join("real"), dir.Join("link"));
  const ErrorScrubber scrubber(dir.Join("link/registry"), "");
  const std::string canonical =
      std::filesystem::canonical(dir.Join("real/registry")).string();
  EXPECT_EQ(scrubber.Scrub("at " + dir.Join("link/registry") + "/.trash/x"),
            "at <registry>");
  EXPECT_EQ(scrubber.Scrub("at " + canonical + "/.trash/x"), "at <registry>");

  const std::string cwd = std::filesystem::current_path().string();
  const ErrorScrubber relative("rel-registry", "");
  EXPECT_EQ(
      relative.Scrub("rel-registry/adapters/t/n@" + std::string(kVersion)),
      "t/n");
  EXPECT_EQ(relative.Scrub(cwd + "/rel-registry/adapters/t/n"), "t/n");
  // Relative spellings count as paths only when a path follows them; a
  // bare relative model directory could be a tenant's name.
  const ErrorScrubber models("", "models/demo");
  EXPECT_EQ(models.Scrub("models/demo and models/demo/config.json"),
            "models/demo and <model>/config.json");
  const ErrorScrubber demo("", "demo");
  EXPECT_EQ(demo.Scrub("adapter demo/bot of tenant demo"),
            "adapter demo/bot of tenant demo");
}

class ErrorScrubbingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = TestServer::Start(TestServerOptions(dir_.Join("registry")));
    ASSERT_NE(server_, nullptr);
  }

  // The stored directory of default/<name>.
  std::string StoredDir(const std::string& name) {
    v1::GetAdapterRequest request;
    request.set_name(name);
    v1::Adapter adapter;
    EXPECT_TRUE(server_->adapters()
                    .GetAdapter(NewContext().get(), request, &adapter)
                    .ok());
    return dir_.Join("registry/adapters/default/" + name + "@" +
                     adapter.version());
  }

  // `status` is an error that names `name` and nothing of the server's.
  void ExpectScrubbed(const grpc::Status& status, const std::string& name) {
    EXPECT_FALSE(status.ok());
    const std::string& message = status.error_message();
    EXPECT_THAT(message, HasSubstr("default/" + name)) << message;
    EXPECT_THAT(message, Not(HasSubstr(dir_.path()))) << message;
    EXPECT_THAT(message, Not(HasSubstr("registry/"))) << message;
    EXPECT_THAT(message, Not(HasSubstr("@"))) << message;
    EXPECT_THAT(message, Not(HasSubstr(FixtureModelDir()))) << message;
  }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(ErrorScrubbingTest, StoredFilesThatNoLongerLoadAreReportedByName) {
  ASSERT_TRUE(
      Upload(server_->adapters(), "broken", FixtureAdapter("qv-r8")).ok());
  // Someone damaged the stored weights (same size, so the registry's size
  // check would not see it).
  const std::string weights =
      StoredDir("broken") + "/adapter_model.safetensors";
  const uintmax_t size = std::filesystem::file_size(weights);
  loraplex::testing::WriteFile(weights, std::string(size, '\xff'));

  const grpc::Status generated =
      Generate(server_->generation(), GreedyRequest("broken", {369}, 4));
  ExpectScrubbed(generated, "broken");
  v1::LoadAdapterRequest load;
  load.set_name("broken");
  v1::LoadAdapterResponse loaded;
  ExpectScrubbed(
      server_->adapters().LoadAdapter(NewContext().get(), load, &loaded),
      "broken");
}

TEST_F(ErrorScrubbingTest, RegistryIoErrorsAreReportedWithoutPaths) {
  ASSERT_TRUE(
      Upload(server_->adapters(), "vanishing", FixtureAdapter("qv-r8")).ok());
  // Its record file disappeared behind the server's back.
  std::filesystem::remove(StoredDir("vanishing") + "/loraplex_adapter.json");
  v1::DeleteAdapterRequest del;
  del.set_name("vanishing");
  v1::DeleteAdapterResponse deleted;
  ExpectScrubbed(
      server_->adapters().DeleteAdapter(NewContext().get(), del, &deleted),
      "vanishing");

  // The staging area is not a directory any more.
  std::filesystem::remove_all(dir_.Join("registry/.staging"));
  loraplex::testing::WriteFile(dir_.Join("registry/.staging"), "not a dir");
  const grpc::Status uploaded =
      Upload(server_->adapters(), "next", FixtureAdapter("qv-r8"));
  EXPECT_FALSE(uploaded.ok());
  EXPECT_THAT(uploaded.error_message(), Not(HasSubstr(dir_.path())));
  EXPECT_THAT(uploaded.error_message(), Not(HasSubstr("registry/")));
  EXPECT_THAT(uploaded.error_message(), HasSubstr("<upload>"));
}

}  // namespace
}  // namespace loraplex::service::e2e
