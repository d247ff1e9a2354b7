#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/sha256.h"
#include "service/registry/adapter_record.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;

AdapterRecord SampleRecord() {
  AdapterRecord record;
  record.tenant = "acme";
  record.name = "support-bot";
  record.version = "00112233445566778899aabbccddeeff";
  record.description = "Caf\xc3\xa9 \"quoted\"\nsecond line";
  record.visibility = Visibility::kPublic;
  record.files = {{kAdapterConfigFilename, Sha256Hex("c"), 1},
                  {kAdapterWeightsFilename, Sha256Hex("w"), 1}};
  record.summary.max_rank = 16;
  record.summary.lora_alpha = 32.5;
  record.summary.use_rslora = true;
  record.summary.targets = {"q_proj", "v_proj"};
  record.summary.num_modules = 4;
  record.summary.weight_bytes = 1234;
  record.created_at = absl::FromUnixNanos(1795000000123456789);
  return record;
}

TEST(AdapterRecordTest, EngineIdIsUniqueOverTime) {
  const AdapterRecord record = SampleRecord();
  EXPECT_EQ(record.engine_adapter_id(),
            "acme/support-bot@00112233445566778899aabbccddeeff");
  EXPECT_EQ(record.size_bytes(), 2u);
  EXPECT_EQ(record.ref(), (AdapterRef{"acme", "support-bot"}));
}

TEST(AdapterRecordTest, JsonRoundTripsEveryField) {
  const AdapterRecord record = SampleRecord();
  absl::StatusOr<AdapterRecord> parsed =
      AdapterRecordFromJson(AdapterRecordToJson(record));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->tenant, record.tenant);
  EXPECT_EQ(parsed->name, record.name);
  EXPECT_EQ(parsed->version, record.version);
  EXPECT_EQ(parsed->description, record.description);
  EXPECT_EQ(parsed->visibility, record.visibility);
  EXPECT_EQ(parsed->files, record.files);
  EXPECT_EQ(parsed->summary.max_rank, 16);
  EXPECT_EQ(parsed->summary.lora_alpha, 32.5);
  EXPECT_TRUE(parsed->summary.use_rslora);
  EXPECT_EQ(parsed->summary.targets, record.summary.targets);
  EXPECT_EQ(parsed->summary.num_modules, 4);
  EXPECT_EQ(parsed->summary.weight_bytes, 1234u);
  EXPECT_EQ(parsed->created_at, record.created_at);  // Nanoseconds kept.
}

TEST(AdapterRecordTest, ParsingRejectsBadMetadata) {
  struct Case {
    const char* what;
    std::string from;
    std::string to;
    const char* message;
  };
  const std::string json = AdapterRecordToJson(SampleRecord());
  const Case kCases[] = {
      {"format", "\"format\": 1", "\"format\": 2", "unsupported format 2"},
      {"tenant", "\"tenant\": \"acme\"", "\"tenant\": \"../x\"",
       "invalid tenant name"},
      {"name", "\"name\": \"support-bot\"", "\"name\": 7",
       "adapter metadata: "},
      {"version", "00112233445566778899aabbccddeeff", "xyz", "bad version id"},
      {"visibility", "\"public\"", "\"everyone\"", "unknown visibility"},
      {"sha256", Sha256Hex("w"), "ABC", "bad sha256 for"},
      {"file name", "\"adapter_model.safetensors\"", "\"adapter_model.bin\"",
       "files must be exactly"},
      {"time", "\"created_at\": \"", "\"created_at\": \"yesterday",
       "bad created_at"},
      {"missing field", "\"summary\"", "\"summery\"", "adapter metadata: "},
  };
  for (const Case& c : kCases) {
    std::string changed = json;
    const size_t at = changed.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.what;
    changed.replace(at, c.from.size(), c.to);
    absl::StatusOr<AdapterRecord> parsed = AdapterRecordFromJson(changed);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << c.what;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.what;
  }
  EXPECT_THAT(AdapterRecordFromJson("{").status().message(),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(AdapterRecordFromJson("[]").status().message(),
              HasSubstr("adapter metadata: "));
}

TEST(AdapterRecordTest, VersionIdsAre32LowerCaseHexDigits) {
  EXPECT_TRUE(IsVersionId("00112233445566778899aabbccddeeff"));
  EXPECT_FALSE(IsVersionId("00112233445566778899AABBCCDDEEFF"));
  EXPECT_FALSE(IsVersionId("00112233445566778899aabbccddeef"));
  EXPECT_FALSE(IsVersionId("00112233445566778899aabbccddeefg"));
  EXPECT_TRUE(IsAdapterFilename("adapter_config.json"));
  EXPECT_FALSE(IsAdapterFilename("adapter_model.bin"));
}

}  // namespace
}  // namespace loraplex::service
