#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/names.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;

TEST(NamesTest, AcceptsNamesThatFollowTheRule) {
  const std::vector<std::string> kAccepted = {
      "a",      "0",          "support-bot",       "my_adapter.v1.2",
      "9lives", "a--b__c..d", std::string(64, 'x')};
  for (const std::string& name : kAccepted) {
    EXPECT_TRUE(IsValidName(name)) << name;
    EXPECT_TRUE(ValidateAdapterName(name).ok()) << name;
    EXPECT_TRUE(ValidateTenantName(name).ok()) << name;
  }
}

TEST(NamesTest, RejectsEverythingElse) {
  const std::string kRejected[] = {"",
                                   ".",
                                   "..",
                                   "/",
                                   "a/b",
                                   "../etc",
                                   "Upper",
                                   "camelCase",
                                   "caf\xc3\xa9",
                                   "-leading",
                                   "_leading",
                                   ".hidden",
                                   " space",
                                   "space ",
                                   "tab\tname",
                                   "new\nline",
                                   "semi;colon",
                                   "at@sign",
                                   "a:b",
                                   "back\\slash",
                                   std::string("nul\0byte", 8),
                                   std::string(65, 'x')};
  for (const std::string& name : kRejected) {
    EXPECT_FALSE(IsValidName(name)) << name;
    const absl::Status status = ValidateAdapterName(name);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST(NamesTest, MessagesSayWhichKindOfNameAndTheRule) {
  const absl::Status adapter = ValidateAdapterName("Bad");
  EXPECT_THAT(adapter.message(), HasSubstr("invalid adapter name \"Bad\""));
  EXPECT_THAT(adapter.message(), HasSubstr("[a-z0-9._-]"));
  const absl::Status tenant = ValidateTenantName("..");
  EXPECT_THAT(tenant.message(), HasSubstr("invalid tenant name \"..\""));
}

TEST(NamesTest, MessagesEscapeAndTruncateWhatTheClientSent) {
  const absl::Status control = ValidateAdapterName("a\nb");
  EXPECT_THAT(control.message(), HasSubstr("\"a\\nb\""));
  const absl::Status longer = ValidateAdapterName(std::string(1000, 'q'));
  EXPECT_THAT(longer.message(), HasSubstr(std::string(128, 'q') + "...\""));
  EXPECT_THAT(longer.message(),
              ::testing::Not(HasSubstr(std::string(129, 'q'))));
}

TEST(AdapterRefTest, BareNameIsTheCallersAdapter) {
  absl::StatusOr<AdapterRef> ref = ParseAdapterRef("support-bot", "acme");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(*ref, (AdapterRef{"acme", "support-bot"}));
  EXPECT_EQ(ref->ToString(), "acme/support-bot");
}

TEST(AdapterRefTest, QualifiedNameNamesTheOwner) {
  absl::StatusOr<AdapterRef> ref = ParseAdapterRef("globex/summarizer", "acme");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(*ref, (AdapterRef{"globex", "summarizer"}));
}

TEST(AdapterRefTest, RejectsMalformedReferences) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case kCases[] = {
      {"", "invalid adapter name \"\""},
      {"/x", "invalid tenant name \"\""},
      {"acme/", "invalid adapter name \"\""},
      {"a/b/c", "invalid adapter name \"b/c\""},
      {"Acme/x", "invalid tenant name \"Acme\""},
      {"acme/../x", "invalid adapter name \"../x\""},
  };
  for (const Case& c : kCases) {
    absl::StatusOr<AdapterRef> ref = ParseAdapterRef(c.text, "acme");
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(ref.status().message(), HasSubstr(c.message)) << c.text;
  }
}

}  // namespace
}  // namespace loraplex::service
