// Uploads through FilesystemAdapterRegistry: the happy path, every way an
// upload can fail, and that a failed or dropped upload leaves nothing.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/sha256.h"
#include "service/registry/filesystem_adapter_registry.h"
#include "tests/service/registry_test_util.h"

namespace loraplex::service {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::AdapterBytes;
using testing_util::ListDirOrEmpty;
using testing_util::LoadFixtureAdapter;
using testing_util::OptionsFor;
using testing_util::ReadFileOrDie;
using testing_util::SpecFor;
using testing_util::TempDir;
using testing_util::UploadAdapter;

int64_t OpenFileDescriptors() {
  return static_cast<int64_t>(ListDirOrEmpty("/proc/self/fd").size());
}

// While it lives, every file descriptor of the process is in use: the soft
// RLIMIT_NOFILE is lowered to what is open plus a few, and those few are
// taken. Restores both on destruction.
class DescriptorExhaustion {
 public:
  DescriptorExhaustion() {
    if (getrlimit(RLIMIT_NOFILE, &saved_) != 0) return;
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(OpenFileDescriptors() + 8);
    if (setrlimit(RLIMIT_NOFILE, &lowered) != 0) return;
    lowered_ = true;
    while (true) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      taken_.push_back(fd);
    }
    ok_ = errno == EMFILE;
  }
  ~DescriptorExhaustion() {
    for (int fd : taken_) close(fd);
    if (lowered_) setrlimit(RLIMIT_NOFILE, &saved_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool lowered_ = false;
  bool ok_ = false;
  std::vector<int> taken_;
};

class RegistryUploadTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(OptionsFor(dir_.path())); }

  void Open(FilesystemAdapterRegistryOptions options) {
    registry_.reset();
    auto registry = FilesystemAdapterRegistry::Open(std::move(options));
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  // Nothing committed for the tenant, and no upload left behind.
  void ExpectNothingStored(const std::string& tenant) {
    EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/adapters/" + tenant), IsEmpty());
    EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/.staging"), IsEmpty());
    EXPECT_TRUE(registry_->ListAll().empty());
  }

  TempDir dir_;
  std::unique_ptr<FilesystemAdapterRegistry> registry_;
  const AdapterBytes qv_ = LoadFixtureAdapter("qv-r8");
};

TEST_F(RegistryUploadTest, UploadGetListDelete) {
  const absl::Time before = absl::Now();
  absl::StatusOr<AdapterRecord> record = UploadAdapter(
      *registry_, SpecFor("acme", "support", qv_, Visibility::kPublic), qv_);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->tenant, "acme");
  EXPECT_EQ(record->name, "support");
  EXPECT_EQ(record->description, "test adapter support");
  EXPECT_EQ(record->visibility, Visibility::kPublic);
  EXPECT_TRUE(IsVersionId(record->version)) << record->version;
  EXPECT_EQ(record->engine_adapter_id(), "acme/support@" + record->version);
  EXPECT_GE(record->created_at, before);
  EXPECT_LE(record->created_at, absl::Now());
  EXPECT_THAT(
      record->files,
      ElementsAre(
          AdapterFileRecord{kAdapterConfigFilename, Sha256Hex(qv_.config),
                            qv_.config.size()},
          AdapterFileRecord{kAdapterWeightsFilename, Sha256Hex(qv_.weights),
                            qv_.weights.size()}));
  EXPECT_EQ(record->size_bytes(), qv_.config.size() + qv_.weights.size());
  // The summary is the engine validator's.
  EXPECT_EQ(record->summary.max_rank, 8);
  EXPECT_EQ(record->summary.lora_alpha, 16);
  EXPECT_FALSE(record->summary.use_rslora);
  EXPECT_THAT(record->summary.targets, ElementsAre("q_proj", "v_proj"));

  const std::string dir = registry_->adapter_dir(*record);
  EXPECT_EQ(dir, dir_.path() + "/adapters/acme/support@" + record->version);
  EXPECT_EQ(ReadFileOrDie(dir + "/adapter_config.json"), qv_.config);
  EXPECT_EQ(ReadFileOrDie(dir + "/adapter_model.safetensors"), qv_.weights);

  absl::StatusOr<AdapterRecord> got = registry_->Get({"acme", "support"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->version, record->version);
  ASSERT_EQ(registry_->ListAll().size(), 1u);
  ListQuery query;
  query.viewer = Principal{"globex", Role::kTenant};
  absl::StatusOr<AdapterPage> page = registry_->List(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 1u);
  EXPECT_EQ(page->records[0].version, record->version);

  absl::StatusOr<AdapterRecord> deleted =
      registry_->Delete({"acme", "support"});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->engine_adapter_id(), record->engine_adapter_id());
  absl::StatusOr<AdapterRecord> gone = registry_->Get({"acme", "support"});
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gone.status().message(), "adapter \"acme/support\" not found");
  EXPECT_EQ(registry_->Delete({"acme", "support"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry_->ListAll().empty());
  // Note [Deleting an adapter in use]: readable until released.
  EXPECT_EQ(ReadFileOrDie(dir + "/adapter_model.safetensors"), qv_.weights);
  registry_->ReleaseDeletedFiles(*deleted);
  ExpectNothingStored("acme");
  EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/.trash"), IsEmpty());
}

// Note [Idempotent upload]: a client that cannot tell whether its upload
// committed (cancelled right after the last chunk) uploads again and gets
// the stored adapter; an upload that differs in anything is refused.
TEST_F(RegistryUploadTest, IdenticalReuploadReturnsTheStoredAdapter) {
  absl::StatusOr<AdapterRecord> first =
      UploadAdapter(*registry_, SpecFor("acme", "bot", qv_), qv_);
  ASSERT_TRUE(first.ok()) << first.status();

  UploadSpec retry = SpecFor("acme", "bot", qv_);
  for (AdapterFileRecord& file : retry.files) {
    file.sha256 = absl::AsciiStrToUpper(file.sha256);  // Case is no matter.
  }
  absl::StatusOr<std::unique_ptr<StagedUpload>> upload =
      registry_->BeginUpload(retry);
  ASSERT_TRUE(upload.ok()) << upload.status();
  ASSERT_TRUE(
      (*upload)->WriteChunk(kAdapterConfigFilename, 0, qv_.config).ok());
  ASSERT_TRUE(
      (*upload)->WriteChunk(kAdapterWeightsFilename, 0, qv_.weights).ok());
  absl::StatusOr<AdapterRecord> second = (*upload)->Finish();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE((*upload)->created_new());
  EXPECT_EQ(second->version, first->version);
  EXPECT_EQ(second->created_at, first->created_at);
  EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/.staging"), IsEmpty());
  EXPECT_EQ(ListDirOrEmpty(dir_.path() + "/adapters/acme").size(), 1u);

  // The bytes are still checked against the declared digests.
  absl::StatusOr<std::unique_ptr<StagedUpload>> liar =
      registry_->BeginUpload(SpecFor("acme", "bot", qv_));
  ASSERT_TRUE(liar.ok()) << liar.status();
  std::string wrong = qv_.weights;
  wrong[wrong.size() / 2] ^= 1;
  ASSERT_TRUE((*liar)->WriteChunk(kAdapterConfigFilename, 0, qv_.config).ok());
  ASSERT_TRUE((*liar)->WriteChunk(kAdapterWeightsFilename, 0, wrong).ok());
  EXPECT_EQ((*liar)->Finish().status().code(), absl::StatusCode::kDataLoss);

  UploadSpec other_description = SpecFor("acme", "bot", qv_);
  other_description.description = "a new description";
  UploadSpec other_visibility =
      SpecFor("acme", "bot", qv_, Visibility::kPublic);
  const AdapterBytes all = LoadFixtureAdapter("all-r16");
  UploadSpec other_files = SpecFor("acme", "bot", all);
  for (const UploadSpec& spec :
       {other_description, other_visibility, other_files}) {
    absl::StatusOr<std::unique_ptr<StagedUpload>> refused =
        registry_->BeginUpload(spec);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  }
  EXPECT_EQ(registry_->Get({"acme", "bot"})->version, first->version);
}

// Note [Staged files hold no descriptor]: an upload waiting for its next
// chunk costs no file descriptor (hundreds of idle uploads used to exhaust
// the process's descriptors).
TEST_F(RegistryUploadTest, IdleUploadsHoldNoFileDescriptor) {
  const int64_t before = OpenFileDescriptors();
  std::vector<std::unique_ptr<StagedUpload>> uploads;
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<std::unique_ptr<StagedUpload>> upload =
        registry_->BeginUpload(
            SpecFor("acme", "idle-" + std::to_string(i), qv_));
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE((*upload)
                    ->WriteChunk(kAdapterWeightsFilename, 0,
                                 absl::string_view(qv_.weights).substr(0, 10))
                    .ok());
    uploads.push_back(*std::move(upload));
  }
  EXPECT_EQ(OpenFileDescriptors(), before);
  // And they still complete.
  ASSERT_TRUE(
      uploads[0]->WriteChunk(kAdapterConfigFilename, 0, qv_.config).ok());
  ASSERT_TRUE(uploads[0]
                  ->WriteChunk(kAdapterWeightsFilename, 10,
                               absl::string_view(qv_.weights).substr(10))
                  .ok());
  absl::StatusOr<AdapterRecord> record = uploads[0]->Finish();
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(ReadFileOrDie(registry_->adapter_dir(*record) +
                          "/adapter_model.safetensors"),
            qv_.weights);
}

// A staging directory whose removal fails (here for want of descriptors:
// remove_all needs one per directory level) is removed later, before the
// next upload, instead of waiting for a restart.
TEST_F(RegistryUploadTest, FailedStagingCleanupIsRetriedBeforeTheNextUpload) {
  {
    absl::StatusOr<std::unique_ptr<StagedUpload>> upload =
        registry_->BeginUpload(SpecFor("acme", "bot", qv_));
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE(
        (*upload)->WriteChunk(kAdapterConfigFilename, 0, qv_.config).ok());
    DescriptorExhaustion exhausted;
    ASSERT_TRUE(exhausted.ok());
    upload->reset();  // Dropped while no descriptor is free.
  }
  EXPECT_EQ(ListDirOrEmpty(dir_.path() + "/.staging").size(), 1u);
  EXPECT_EQ(registry_->pending_removals(), 1u);
  ASSERT_TRUE(UploadAdapter(*registry_, SpecFor("acme", "bot", qv_), qv_).ok());
  EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/.staging"), IsEmpty());
  EXPECT_EQ(registry_->pending_removals(), 0u);
}

TEST_F(RegistryUploadTest, ReuploadAfterDeleteGetsANewVersionAndPath) {
  absl::StatusOr<AdapterRecord> first =
      UploadAdapter(*registry_, SpecFor("acme", "bot", qv_), qv_);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(registry_->Delete({"acme", "bot"}).ok());
  absl::StatusOr<AdapterRecord> second =
      UploadAdapter(*registry_, SpecFor("acme", "bot", qv_), qv_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->version, first->version);
  EXPECT_NE(second->engine_adapter_id(), first->engine_adapter_id());
  EXPECT_NE(registry_->adapter_dir(*second), registry_->adapter_dir(*first));
}

TEST_F(RegistryUploadTest, ChunkSizeDoesNotMatter) {
  for (size_t chunk : {size_t{1} << 20, size_t{7}}) {
    const std::string name = "chunked-" + std::to_string(chunk);
    absl::StatusOr<AdapterRecord> record =
        UploadAdapter(*registry_, SpecFor("acme", name, qv_), qv_, chunk);
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(ReadFileOrDie(registry_->adapter_dir(*record) +
                            "/adapter_model.safetensors"),
              qv_.weights);
  }
}

TEST_F(RegistryUploadTest, Sha256MismatchIsDataLossAndStoresNothing) {
  UploadSpec spec = SpecFor("acme", "bot", qv_);
  spec.files[0].sha256 = Sha256Hex("something else");  // the weights
  absl::StatusOr<AdapterRecord> record = UploadAdapter(*registry_, spec, qv_);
  EXPECT_EQ(record.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(record.status().message(),
              HasSubstr("sha256 mismatch for adapter_model.safetensors: "
                        "declared " +
                        Sha256Hex("something else") + ", received " +
                        Sha256Hex(qv_.weights)));
  ExpectNothingStored("acme");
}

TEST_F(RegistryUploadTest, UpperCaseDigestsAreAcceptedAndStoredLowerCase) {
  UploadSpec spec = SpecFor("acme", "bot", qv_);
  for (AdapterFileRecord& file : spec.files) {
    for (char& c : file.sha256) {
      c = static_cast<char>(toupper(c));
    }
  }
  absl::StatusOr<AdapterRecord> record = UploadAdapter(*registry_, spec, qv_);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->files[1].sha256, Sha256Hex(qv_.weights));
}

TEST_F(RegistryUploadTest, FileShorterThanDeclaredIsRejectedAtFinish) {
  UploadSpec spec = SpecFor("acme", "bot", qv_);
  spec.files[1].size_bytes += 10;  // the config
  absl::StatusOr<AdapterRecord> record = UploadAdapter(*registry_, spec, qv_);
  EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      record.status().message(),
      HasSubstr("adapter_config.json ended after " +
                std::to_string(qv_.config.size()) + " of its declared " +
                std::to_string(qv_.config.size() + 10) + " bytes"));
  ExpectNothingStored("acme");
}

TEST_F(RegistryUploadTest, FileLongerThanDeclaredIsRejectedAtOnce) {
  UploadSpec spec = SpecFor("acme", "bot", qv_);
  spec.files[0].size_bytes -= 1;  // the weights
  absl::StatusOr<AdapterRecord> record = UploadAdapter(*registry_, spec, qv_);
  EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(record.status().message(),
              HasSubstr("adapter_model.safetensors is longer than its "
                        "declared"));
  ExpectNothingStored("acme");
}

TEST_F(RegistryUploadTest, UploadsOverTheSizeLimitAreResourceExhausted) {
  FilesystemAdapterRegistryOptions options = OptionsFor(dir_.path());
  options.max_upload_bytes = qv_.config.size() + qv_.weights.size() - 1;
  Open(std::move(options));
  absl::StatusOr<std::unique_ptr<StagedUpload>> upload =
      registry_->BeginUpload(SpecFor("acme", "bot", qv_));
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(upload.status().message(),
              HasSubstr("exceed the server's upload limit of " +
                        std::to_string(options.max_upload_bytes) + " bytes"));
  ExpectNothingStored("acme");
  // A declared size near 2^64 cannot wrap the total around.
  UploadSpec huge = SpecFor("acme", "bot", qv_);
  huge.files[0].size_bytes = ~uint64_t{0};
  EXPECT_EQ(registry_->BeginUpload(huge).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(RegistryUploadTest, ValidatorRejectionPassesThroughAndStoresNothing) {
  FilesystemAdapterRegistryOptions options = OptionsFor(dir_.path());
  options.validator = testing_util::EngineValidator(/*max_rank=*/4);
  Open(std::move(options));
  absl::StatusOr<AdapterRecord> record =
      UploadAdapter(*registry_, SpecFor("acme", "bot", qv_), qv_);
  EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(record.status().message(), HasSubstr("rank"));
  // The message names the adapter, not the server's staging directory.
  EXPECT_THAT(record.status().message(), HasSubstr("acme/bot"));
  EXPECT_THAT(record.status().message(),
              ::testing::Not(HasSubstr(dir_.path())));
  ExpectNothingStored("acme");
}

TEST_F(RegistryUploadTest, AdapterThatDoesNotFitTheModelIsRejected) {
  // A real PEFT config whose rank disagrees with its weights' shapes.
  AdapterBytes broken = qv_;
  const size_t r = broken.config.find("\"r\": 8");
  ASSERT_NE(r, std::string::npos);
  broken.config.replace(r, 6, "\"r\": 4");
  absl::StatusOr<AdapterRecord> record =
      UploadAdapter(*registry_, SpecFor("acme", "bot", broken), broken);
  EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(record.status().message(), HasSubstr("adapter acme/bot: "));
  EXPECT_THAT(record.status().message(), HasSubstr("shape"));
  ExpectNothingStored("acme");
}

TEST_F(RegistryUploadTest, DroppedUploadLeavesNothing) {
  {
    absl::StatusOr<std::unique_ptr<StagedUpload>> upload =
        registry_->BeginUpload(SpecFor("acme", "bot", qv_));
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE((*upload)
                    ->WriteChunk(kAdapterWeightsFilename, 0,
                                 absl::string_view(qv_.weights).substr(0, 100))
                    .ok());
    EXPECT_EQ((*upload)->bytes_received(), 100u);
    EXPECT_EQ(ListDirOrEmpty(dir_.path() + "/.staging").size(), 1u);
  }  // The stream went away before Finish().
  ExpectNothingStored("acme");
  // The name is free.
  EXPECT_TRUE(UploadAdapter(*registry_, SpecFor("acme", "bot", qv_), qv_).ok());
}

TEST_F(RegistryUploadTest, BadChunksAbortTheUpload) {
  struct Case {
    std::string filename;
    uint64_t offset;
    std::string data;
    const char* message;
  };
  const Case kCases[] = {
      {"adapter_model.bin", 0, "x", "chunk for undeclared file"},
      {kAdapterConfigFilename, 1, "x", "at offset 1, expected 0"},
      {kAdapterConfigFilename, 0, "", "carries 0 bytes"},
      {kAdapterWeightsFilename, 0, std::string(kMaxUploadChunkBytes + 1, 'x'),
       "carries 1048577 bytes; chunks carry 1 to 1048576 bytes"},
  };
  for (const Case& c : kCases) {
    absl::StatusOr<std::unique_ptr<StagedUpload>> upload =
        registry_->BeginUpload(SpecFor("acme", "bot", qv_));
    ASSERT_TRUE(upload.ok()) << upload.status();
    const absl::Status status =
        (*upload)->WriteChunk(c.filename, c.offset, c.data);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
    // Aborted at once: later calls are refused and nothing is left.
    EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/.staging"), IsEmpty());
    EXPECT_EQ((*upload)->WriteChunk(kAdapterConfigFilename, 0, "x").code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ((*upload)->Finish().status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  ExpectNothingStored("acme");
}

TEST_F(RegistryUploadTest, FinishedUploadsRefuseMoreChunks) {
  absl::StatusOr<std::unique_ptr<StagedUpload>> upload =
      registry_->BeginUpload(SpecFor("acme", "bot", qv_));
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE(
      (*upload)->WriteChunk(kAdapterConfigFilename, 0, qv_.config).ok());
  ASSERT_TRUE(
      (*upload)->WriteChunk(kAdapterWeightsFilename, 0, qv_.weights).ok());
  ASSERT_TRUE((*upload)->Finish().ok());
  const absl::Status more =
      (*upload)->WriteChunk(kAdapterConfigFilename, 0, "x");
  EXPECT_EQ(more.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(more.message(), HasSubstr("already committed"));
  upload->reset();  // Destroying a committed upload keeps the adapter.
  EXPECT_TRUE(registry_->Get({"acme", "bot"}).ok());
}

TEST_F(RegistryUploadTest, InvalidSpecsAreRejectedBeforeAnythingIsWritten) {
  struct Case {
    const char* what;
    void (*mutate)(UploadSpec&);
    const char* message;
  };
  const Case kCases[] = {
      {"tenant", [](UploadSpec& s) { s.tenant = "Acme"; },
       "invalid tenant name"},
      {"name", [](UploadSpec& s) { s.name = ".."; }, "invalid adapter name"},
      {"long description",
       [](UploadSpec& s) { s.description = std::string(1025, 'd'); },
       "the description has 1025 bytes; at most 1024"},
      {"utf-8", [](UploadSpec& s) { s.description = "bad \xc3\x28 bytes"; },
       "not valid UTF-8"},
      {"overlong utf-8", [](UploadSpec& s) { s.description = "\xc0\xaf"; },
       "not valid UTF-8"},
      {"surrogate", [](UploadSpec& s) { s.description = "\xed\xa0\x80"; },
       "not valid UTF-8"},
      {"past U+10FFFF",
       [](UploadSpec& s) { s.description = "\xf4\x90\x80\x80"; },
       "not valid UTF-8"},
      {"truncated", [](UploadSpec& s) { s.description = "euro \xe2\x82"; },
       "not valid UTF-8"},
      {"missing file", [](UploadSpec& s) { s.files.pop_back(); },
       "must declare both"},
      {"duplicate file",
       [](UploadSpec& s) { s.files[1].filename = s.files[0].filename; },
       "is declared twice"},
      {"other file",
       [](UploadSpec& s) { s.files[0].filename = "adapter_model.bin"; },
       "unexpected file \"adapter_model.bin\""},
      {"bad digest", [](UploadSpec& s) { s.files[0].sha256 = "abc"; },
       "must be 64 hex digits"},
  };
  for (const Case& c : kCases) {
    UploadSpec spec = SpecFor("acme", "bot", qv_);
    c.mutate(spec);
    const absl::Status status = registry_->BeginUpload(spec).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(status.message(), HasSubstr(c.message)) << c.what;
  }
  UploadSpec unicode = SpecFor("acme", "bot", qv_);
  unicode.description =
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
  EXPECT_TRUE(ValidateUploadSpec(unicode, 1 << 30).ok());
  ExpectNothingStored("acme");
}

}  // namespace
}  // namespace loraplex::service

namespace loraplex::service {
namespace {

using testing_util::AdapterBytes;
using testing_util::LoadFixtureAdapter;
using testing_util::OptionsFor;
using testing_util::SpecFor;
using testing_util::TempDir;
using testing_util::UploadAdapter;
using testing_util::WriteFileOrDie;

// Compression at upload, with a stand-in compressor that replaces the
// staged all-r16 adapter by qv-r8 (the registry's side only: the real one
// is tested end to end in upload_compression_e2e_test.cc).
class RegistryCompressionTest : public ::testing::Test {
 protected:
  void Open(AdapterCompressor compressor) {
    registry_.reset();
    FilesystemAdapterRegistryOptions options = OptionsFor(dir_.path());
    options.compressor = std::move(compressor);
    options.verify_checksums_on_open = true;
    auto registry = FilesystemAdapterRegistry::Open(std::move(options));
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  AdapterCompressor ReplaceWithQv() {
    return [this](const std::string& staged_dir,
                  const CompressionRequest& request)
               -> absl::StatusOr<StoredCompression> {
      ++calls_;
      seen_ = request;
      WriteFileOrDie(staged_dir + "/" + kAdapterConfigFilename, qv_.config);
      WriteFileOrDie(staged_dir + "/" + kAdapterWeightsFilename, qv_.weights);
      StoredCompression stored;
      stored.compressed = true;
      stored.original_rank = 16;
      stored.retained_energy = 0.75;
      return stored;
    };
  }

  UploadSpec CompressedSpec() {
    UploadSpec spec = SpecFor("acme", "bot", all_);
    spec.compression.target = CompressionRequest::Target::kRank;
    spec.compression.rank = 8;
    return spec;
  }

  TempDir dir_;
  std::unique_ptr<FilesystemAdapterRegistry> registry_;
  const AdapterBytes qv_ = LoadFixtureAdapter("qv-r8");
  const AdapterBytes all_ = LoadFixtureAdapter("all-r16");
  int calls_ = 0;
  CompressionRequest seen_;
};

TEST_F(RegistryCompressionTest, StoresTheRewrittenFilesAndWhatWasUploaded) {
  Open(ReplaceWithQv());
  absl::StatusOr<AdapterRecord> record =
      UploadAdapter(*registry_, CompressedSpec(), all_);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(seen_.target, CompressionRequest::Target::kRank);
  EXPECT_EQ(seen_.rank, 8);
  // The stored files are the rewritten ones, hashed by the registry, and
  // validated: the summary is qv-r8's.
  EXPECT_EQ(record->files[0].sha256, Sha256Hex(qv_.config));
  EXPECT_EQ(record->files[1].sha256, Sha256Hex(qv_.weights));
  EXPECT_EQ(record->files[1].size_bytes, qv_.weights.size());
  EXPECT_EQ(record->summary.max_rank, 8);
  ASSERT_TRUE(record->compression.has_value());
  EXPECT_TRUE(record->compression->compressed);
  EXPECT_EQ(record->compression->original_rank, 16);
  EXPECT_EQ(record->compression->stored_rank, 8);
  EXPECT_EQ(record->compression->retained_energy, 0.75);
  EXPECT_EQ(record->compression->request, CompressedSpec().compression);
  ASSERT_EQ(record->compression->uploaded_files.size(), 2u);
  EXPECT_EQ(record->compression->uploaded_files[1].sha256,
            Sha256Hex(all_.weights));
  EXPECT_EQ(testing_util::ReadFileOrDie(registry_->adapter_dir(*record) + "/" +
                                        kAdapterWeightsFilename),
            qv_.weights);

  // Reopened (files checked against the stored hashes), it is the same.
  Open(ReplaceWithQv());
  EXPECT_TRUE(registry_->recovery_report().quarantined.empty());
  absl::StatusOr<AdapterRecord> reopened = registry_->Get({"acme", "bot"});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(reopened->files, record->files);
  ASSERT_TRUE(reopened->compression.has_value());
  EXPECT_EQ(reopened->compression->uploaded_files,
            record->compression->uploaded_files);
  EXPECT_EQ(reopened->compression->stored_rank, 8);

  // A retry sends the uploaded files with the same request; the stored
  // files, or the uploaded ones without the request, are another adapter.
  absl::StatusOr<AdapterRecord> retry =
      UploadAdapter(*registry_, CompressedSpec(), all_);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->version, record->version);
  EXPECT_EQ(
      registry_->BeginUpload(SpecFor("acme", "bot", all_)).status().code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry_->BeginUpload(SpecFor("acme", "bot", qv_)).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(RegistryCompressionTest, FailuresStoreNothing) {
  // No compressor: asking for compression is refused at Finish.
  Open(nullptr);
  absl::StatusOr<AdapterRecord> record =
      UploadAdapter(*registry_, CompressedSpec(), all_);
  EXPECT_EQ(record.status().code(), absl::StatusCode::kFailedPrecondition);
  // The compressor's error passes through, naming the adapter, not the
  // staging directory.
  Open([](const std::string& staged_dir,
          const CompressionRequest&) -> absl::StatusOr<StoredCompression> {
    return absl::InvalidArgumentError(staged_dir + ": cannot compress");
  });
  record = UploadAdapter(*registry_, CompressedSpec(), all_);
  EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(record.status().message(), "acme/bot: cannot compress");
  // A request outside its range is refused before anything is received.
  UploadSpec spec = CompressedSpec();
  spec.compression.rank = 0;
  EXPECT_EQ(registry_->BeginUpload(spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  spec.compression.target = CompressionRequest::Target::kEnergy;
  spec.compression.energy = 0;
  EXPECT_EQ(registry_->BeginUpload(spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry_->ListAll().empty());
  EXPECT_TRUE(testing_util::ListDirOrEmpty(dir_.path() + "/.staging").empty());
}

}  // namespace
}  // namespace loraplex::service
