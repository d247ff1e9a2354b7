// FilesystemAdapterRegistry::Open(): restarts serve what was committed, and
// whatever a crash or a disk problem left behind is cleaned up or
// quarantined instead of served.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/registry/filesystem_adapter_registry.h"
#include "tests/service/registry_test_util.h"

namespace loraplex::service {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using testing_util::AdapterBytes;
using testing_util::ListDirOrEmpty;
using testing_util::LoadFixtureAdapter;
using testing_util::OptionsFor;
using testing_util::ReadFileOrDie;
using testing_util::SpecFor;
using testing_util::TempDir;
using testing_util::UploadAdapter;
using testing_util::WriteFileOrDie;

constexpr char kSomeVersion[] = "0123456789abcdef0123456789abcdef";

void ExpectSameRecord(const AdapterRecord& a, const AdapterRecord& b) {
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.visibility, b.visibility);
  EXPECT_EQ(a.files, b.files);
  EXPECT_EQ(a.summary.max_rank, b.summary.max_rank);
  EXPECT_EQ(a.summary.lora_alpha, b.summary.lora_alpha);
  EXPECT_EQ(a.summary.use_rslora, b.summary.use_rslora);
  EXPECT_EQ(a.summary.targets, b.summary.targets);
  EXPECT_EQ(a.summary.num_modules, b.summary.num_modules);
  EXPECT_EQ(a.summary.weight_bytes, b.summary.weight_bytes);
  EXPECT_EQ(a.created_at, b.created_at);
}

class RegistryRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(bool verify_checksums = true) {
    registry_.reset();
    FilesystemAdapterRegistryOptions options = OptionsFor(dir_.path());
    options.verify_checksums_on_open = verify_checksums;
    auto registry = FilesystemAdapterRegistry::Open(std::move(options));
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  AdapterRecord Upload(const std::string& tenant, const std::string& name,
                       const AdapterBytes& bytes,
                       Visibility visibility = Visibility::kPrivate) {
    absl::StatusOr<AdapterRecord> record = UploadAdapter(
        *registry_, SpecFor(tenant, name, bytes, visibility), bytes);
    EXPECT_TRUE(record.ok()) << record.status();
    return record.ok() ? *record : AdapterRecord();
  }

  std::string Path(const std::string& relative) const {
    return dir_.path() + "/" + relative;
  }

  const RegistryRecoveryReport& report() const {
    return registry_->recovery_report();
  }

  TempDir dir_;
  std::unique_ptr<FilesystemAdapterRegistry> registry_;
  const AdapterBytes qv_ = LoadFixtureAdapter("qv-r8");
  const AdapterBytes all_ = LoadFixtureAdapter("all-r16");
  const AdapterBytes rslora_ = LoadFixtureAdapter("attn-r4-rslora");
};

TEST_F(RegistryRecoveryTest, ReopenServesEverythingCommitted) {
  const std::vector<AdapterRecord> before = {
      Upload("acme", "qv", qv_, Visibility::kPublic),
      Upload("acme", "all", all_), Upload("globex", "rslora", rslora_)};
  Reopen();
  EXPECT_EQ(report().adapters_loaded, 3);
  EXPECT_EQ(report().staged_uploads_removed, 0);
  EXPECT_EQ(report().trash_entries_removed, 0);
  EXPECT_THAT(report().quarantined, IsEmpty());
  const std::vector<AdapterRecord> after = registry_->ListAll();
  ASSERT_EQ(after.size(), 3u);
  // ListAll is in (tenant, name) order.
  ExpectSameRecord(after[0], before[1]);
  ExpectSameRecord(after[1], before[0]);
  ExpectSameRecord(after[2], before[2]);
  EXPECT_TRUE(after[2].summary.use_rslora);
  EXPECT_EQ(after[1].summary.max_rank, 8);
  EXPECT_EQ(after[0].summary.max_rank, 16);
  EXPECT_EQ(registry_->adapter_dir(after[0]),
            Path("adapters/acme/all@" + before[1].version));
}

TEST_F(RegistryRecoveryTest, CrashLeftoversAreRemovedOrQuarantined) {
  const AdapterRecord kept = Upload("acme", "kept", qv_);
  registry_.reset();
  // An upload that was being received when the process died.
  std::filesystem::create_directories(Path(".staging/0badc0de"));
  WriteFileOrDie(Path(".staging/0badc0de/adapter_model.safetensors"),
                 qv_.weights.substr(0, 100));
  // A deletion that was renamed away but not yet removed.
  std::filesystem::create_directories(Path(".trash/feedface"));
  WriteFileOrDie(Path(".trash/feedface/adapter_config.json"), qv_.config);
  // An adapter directory without its metadata file: never committed.
  const std::string half = std::string("half@") + kSomeVersion;
  std::filesystem::create_directories(Path("adapters/acme/" + half));
  WriteFileOrDie(Path("adapters/acme/" + half + "/adapter_config.json"),
                 qv_.config);
  WriteFileOrDie(Path("adapters/acme/" + half + "/adapter_model.safetensors"),
                 qv_.weights);

  Reopen();
  EXPECT_EQ(report().staged_uploads_removed, 1);
  EXPECT_EQ(report().trash_entries_removed, 1);
  EXPECT_EQ(report().adapters_loaded, 1);
  ASSERT_THAT(report().quarantined, SizeIs(1));
  EXPECT_THAT(report().quarantined[0], HasSubstr("adapters/acme/" + half));
  EXPECT_THAT(report().quarantined[0], HasSubstr("loraplex_adapter.json"));
  EXPECT_THAT(ListDirOrEmpty(Path(".staging")), IsEmpty());
  EXPECT_THAT(ListDirOrEmpty(Path(".trash")), IsEmpty());
  EXPECT_THAT(ListDirOrEmpty(Path("adapters/acme")),
              ElementsAre("kept@" + kept.version));
  const std::vector<std::string> quarantined =
      ListDirOrEmpty(Path(".quarantine"));
  ASSERT_THAT(quarantined, SizeIs(1));
  EXPECT_THAT(quarantined[0], EndsWith("-acme-" + half));
  EXPECT_EQ(registry_->Get({"acme", "half"}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_EQ(registry_->ListAll().size(), 1u);
  EXPECT_EQ(registry_->ListAll()[0].version, kept.version);
}

// Note [Deleting an adapter in use]: Delete is durable at once, while the
// files stay readable for requests still using them; a stop before they
// are released does not bring the adapter back, and the next start removes
// the files.
TEST_F(RegistryRecoveryTest,
       DeletedAdapterNeverComesBackThoughItsFilesWereInUse) {
  const AdapterRecord deleted = Upload("acme", "gone", qv_);
  const AdapterRecord kept = Upload("acme", "kept", all_);
  const std::string dir = registry_->adapter_dir(deleted);
  ASSERT_TRUE(registry_->Delete({"acme", "gone"}).ok());
  EXPECT_EQ(registry_->Get({"acme", "gone"}).status().code(),
            absl::StatusCode::kNotFound);
  // Still readable where the engine reads it...
  EXPECT_EQ(ReadFileOrDie(dir + "/adapter_model.safetensors"), qv_.weights);
  // ...while the name may be used again at once.
  const AdapterRecord again = Upload("acme", "gone", rslora_);
  EXPECT_NE(again.version, deleted.version);

  Reopen();  // Stopped before the engine released the old files.
  EXPECT_EQ(report().adapters_loaded, 2);
  EXPECT_EQ(report().trash_entries_removed, 1);
  EXPECT_THAT(report().quarantined, IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_THAT(ListDirOrEmpty(Path("adapters/acme")),
              ElementsAre("gone@" + again.version, "kept@" + kept.version));
  EXPECT_EQ(registry_->Get({"acme", "gone"})->version, again.version);
  // Releasing what the restart removed already is harmless.
  registry_->ReleaseDeletedFiles(deleted);
  EXPECT_EQ(registry_->pending_removals(), 0u);
}

TEST_F(RegistryRecoveryTest, CorruptedFileIsQuarantinedOthersServed) {
  const AdapterRecord bad = Upload("acme", "bad", qv_);
  const AdapterRecord good = Upload("acme", "good", qv_);
  const std::string weights =
      registry_->adapter_dir(bad) + "/adapter_model.safetensors";
  std::string bytes = ReadFileOrDie(weights);
  bytes[bytes.size() / 2] ^= 0x01;  // Same size, one bit flipped.
  WriteFileOrDie(weights, bytes);

  Reopen();
  ASSERT_THAT(report().quarantined, SizeIs(1));
  EXPECT_THAT(report().quarantined[0], HasSubstr("bad@" + bad.version));
  EXPECT_THAT(report().quarantined[0],
              HasSubstr("DATA_LOSS: adapter_model.safetensors does not match "
                        "its recorded size and sha256"));
  EXPECT_EQ(registry_->Get({"acme", "bad"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry_->Get({"acme", "good"}).ok());
  // The quarantined copy keeps the bytes for a person to look at.
  const std::vector<std::string> quarantined =
      ListDirOrEmpty(Path(".quarantine"));
  ASSERT_THAT(quarantined, SizeIs(1));
  EXPECT_EQ(ReadFileOrDie(Path(".quarantine/" + quarantined[0] +
                               "/adapter_model.safetensors")),
            bytes);
}

TEST_F(RegistryRecoveryTest, WithoutChecksumVerificationOnlySizesAreChecked) {
  const AdapterRecord flipped = Upload("acme", "flipped", qv_);
  const AdapterRecord truncated = Upload("acme", "truncated", qv_);
  const std::string flipped_path =
      registry_->adapter_dir(flipped) + "/adapter_model.safetensors";
  std::string bytes = ReadFileOrDie(flipped_path);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteFileOrDie(flipped_path, bytes);
  WriteFileOrDie(registry_->adapter_dir(truncated) + "/adapter_config.json",
                 "{}");

  Reopen(/*verify_checksums=*/false);
  EXPECT_TRUE(registry_->Get({"acme", "flipped"}).ok());
  EXPECT_EQ(registry_->Get({"acme", "truncated"}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_THAT(report().quarantined, SizeIs(1));
  EXPECT_THAT(report().quarantined[0],
              HasSubstr("adapter_config.json does not match"));
}

TEST_F(RegistryRecoveryTest, BadMetadataIsQuarantined) {
  const AdapterRecord garbled = Upload("acme", "garbled", qv_);
  const AdapterRecord impostor = Upload("acme", "impostor", qv_);
  const AdapterRecord other = Upload("globex", "other", qv_);
  WriteFileOrDie(registry_->adapter_dir(garbled) + "/loraplex_adapter.json",
                 "{not json");
  // Metadata that describes another adapter than its directory.
  WriteFileOrDie(
      registry_->adapter_dir(impostor) + "/loraplex_adapter.json",
      ReadFileOrDie(registry_->adapter_dir(other) + "/loraplex_adapter.json"));

  Reopen();
  EXPECT_EQ(report().adapters_loaded, 1);
  ASSERT_THAT(report().quarantined, SizeIs(2));
  EXPECT_THAT(report().quarantined[0], HasSubstr("not valid JSON"));
  EXPECT_THAT(report().quarantined[1],
              HasSubstr("the metadata describes globex/other@"));
  ASSERT_EQ(registry_->ListAll().size(), 1u);
  EXPECT_EQ(registry_->ListAll()[0].name, "other");
}

TEST_F(RegistryRecoveryTest, StrayEntriesAreQuarantined) {
  registry_.reset();
  std::filesystem::create_directories(Path("adapters/Bad-Tenant/x"));
  WriteFileOrDie(Path("adapters/notes.txt"), "hello");
  std::filesystem::create_directories(Path("adapters/acme/no-version"));
  WriteFileOrDie(Path("adapters/acme/stray-file"), "x");
  Reopen();
  EXPECT_EQ(report().adapters_loaded, 0);
  EXPECT_THAT(report().quarantined, SizeIs(4));
  EXPECT_THAT(ListDirOrEmpty(Path("adapters")), ElementsAre("acme"));
  EXPECT_THAT(ListDirOrEmpty(Path("adapters/acme")), IsEmpty());
  EXPECT_THAT(ListDirOrEmpty(Path(".quarantine")), SizeIs(4));
}

TEST_F(RegistryRecoveryTest, OfTwoCommittedVersionsTheNewerIsServed) {
  const AdapterRecord newer = Upload("acme", "bot", qv_);
  registry_.reset();
  // Forge an older committed version of the same name next to it.
  AdapterRecord older = newer;
  older.version = kSomeVersion;
  older.created_at = newer.created_at - absl::Hours(1);
  const std::string older_dir =
      Path(std::string("adapters/acme/bot@") + kSomeVersion);
  std::filesystem::create_directories(older_dir);
  WriteFileOrDie(older_dir + "/adapter_config.json", qv_.config);
  WriteFileOrDie(older_dir + "/adapter_model.safetensors", qv_.weights);
  WriteFileOrDie(older_dir + "/loraplex_adapter.json",
                 AdapterRecordToJson(older));

  Reopen();
  absl::StatusOr<AdapterRecord> served = registry_->Get({"acme", "bot"});
  ASSERT_TRUE(served.ok());
  EXPECT_EQ(served->version, newer.version);
  ASSERT_THAT(report().quarantined, SizeIs(1));
  EXPECT_THAT(report().quarantined[0], HasSubstr(kSomeVersion));
  EXPECT_THAT(report().quarantined[0], HasSubstr("a newer version"));
}

TEST_F(RegistryRecoveryTest, BadOptionsAreRejected) {
  FilesystemAdapterRegistryOptions no_root = OptionsFor("");
  EXPECT_EQ(FilesystemAdapterRegistry::Open(no_root).status().code(),
            absl::StatusCode::kInvalidArgument);
  FilesystemAdapterRegistryOptions no_validator = OptionsFor(Path("x"));
  no_validator.validator = nullptr;
  absl::Status status = FilesystemAdapterRegistry::Open(no_validator).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("validator"));
  FilesystemAdapterRegistryOptions negative = OptionsFor(Path("x"));
  negative.max_adapters_per_tenant = -1;
  EXPECT_EQ(FilesystemAdapterRegistry::Open(negative).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A root that is a file cannot hold a registry.
  WriteFileOrDie(Path("plain-file"), "x");
  status =
      FilesystemAdapterRegistry::Open(OptionsFor(Path("plain-file"))).status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("plain-file"));
}

}  // namespace
}  // namespace loraplex::service
