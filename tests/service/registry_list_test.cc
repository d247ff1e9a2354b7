// FilesystemAdapterRegistry: listing and pagination, per-tenant limits,
// name collisions (also under concurrency).
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/registry/filesystem_adapter_registry.h"
#include "tests/service/registry_test_util.h"

namespace loraplex::service {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::AdapterBytes;
using testing_util::ListDirOrEmpty;
using testing_util::LoadFixtureAdapter;
using testing_util::OptionsFor;
using testing_util::SpecFor;
using testing_util::TempDir;
using testing_util::UploadAdapter;

const Principal kAcme{"acme", Role::kTenant};
const Principal kGlobex{"globex", Role::kTenant};
const Principal kAdmin{"ops", Role::kAdmin};

ListQuery Query(const Principal& viewer, int32_t page_size = 0,
                const std::string& page_token = "",
                const std::string& tenant = "") {
  ListQuery query;
  query.viewer = viewer;
  query.page_size = page_size;
  query.page_token = page_token;
  query.tenant = tenant;
  return query;
}

std::vector<std::string> Names(const std::vector<AdapterRecord>& records) {
  std::vector<std::string> names;
  for (const AdapterRecord& record : records) {
    names.push_back(record.ref().ToString());
  }
  return names;
}

class RegistryListTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(OptionsFor(dir_.path())); }

  void Open(FilesystemAdapterRegistryOptions options) {
    registry_.reset();
    auto registry = FilesystemAdapterRegistry::Open(std::move(options));
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  void Upload(const std::string& tenant, const std::string& name,
              Visibility visibility = Visibility::kPrivate) {
    absl::StatusOr<AdapterRecord> record =
        UploadAdapter(*registry_, SpecFor(tenant, name, qv_, visibility), qv_);
    ASSERT_TRUE(record.ok())
        << tenant << "/" << name << ": " << record.status();
  }

  // Every page of `query` in turn.
  std::vector<std::string> ListAllPages(ListQuery query, int* pages) {
    std::vector<std::string> names;
    *pages = 0;
    do {
      absl::StatusOr<AdapterPage> page = registry_->List(query);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) {
        break;
      }
      ++*pages;
      for (const std::string& name : Names(page->records)) {
        names.push_back(name);
      }
      query.page_token = page->next_page_token;
    } while (!query.page_token.empty() && *pages < 100);
    return names;
  }

  TempDir dir_;
  std::unique_ptr<FilesystemAdapterRegistry> registry_;
  const AdapterBytes qv_ = LoadFixtureAdapter("qv-r8");
};

TEST_F(RegistryListTest, ListsWhatTheViewerMayReadInTenantNameOrder) {
  Upload("globex", "zeta", Visibility::kPublic);
  Upload("acme", "private-b");
  Upload("acme", "public-a", Visibility::kPublic);
  Upload("globex", "hidden");
  // "a-b" sorts before "a" + "/" as a string; the order is by tenant first.
  Upload("a-b", "x");
  Upload("a", "x");

  absl::StatusOr<AdapterPage> acme = registry_->List(Query(kAcme));
  ASSERT_TRUE(acme.ok()) << acme.status();
  EXPECT_THAT(Names(acme->records),
              ElementsAre("acme/private-b", "acme/public-a", "globex/zeta"));
  EXPECT_TRUE(acme->next_page_token.empty());

  absl::StatusOr<AdapterPage> admin = registry_->List(Query(kAdmin));
  ASSERT_TRUE(admin.ok());
  EXPECT_THAT(Names(admin->records),
              ElementsAre("a/x", "a-b/x", "acme/private-b", "acme/public-a",
                          "globex/hidden", "globex/zeta"));

  absl::StatusOr<AdapterPage> only_globex =
      registry_->List(Query(kAcme, 0, "", "globex"));
  ASSERT_TRUE(only_globex.ok());
  EXPECT_THAT(Names(only_globex->records), ElementsAre("globex/zeta"));
  absl::StatusOr<AdapterPage> none =
      registry_->List(Query(kAcme, 0, "", "nobody"));
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(none->records, IsEmpty());
}

TEST_F(RegistryListTest, PagesCoverEverythingOnceAndOnlyVisibleOnes) {
  std::vector<std::string> expected_for_acme;
  for (int i = 0; i < 9; ++i) {
    const std::string name = absl::StrCat("bot-", i);
    Upload("acme", name);
    expected_for_acme.push_back("acme/" + name);
    // Every third of globex's is public, so acme sees some of them.
    const bool shared = i % 3 == 0;
    Upload("globex", name, shared ? Visibility::kPublic : Visibility::kPrivate);
  }
  for (int i = 0; i < 9; i += 3) {
    expected_for_acme.push_back(absl::StrCat("globex/bot-", i));
  }
  int pages = 0;
  EXPECT_THAT(ListAllPages(Query(kAcme, 4), &pages),
              ElementsAreArray(expected_for_acme));
  EXPECT_EQ(pages, 3);  // 12 visible: 4 + 4 + 4, and no empty last page.
  EXPECT_EQ(ListAllPages(Query(kAdmin, 5), &pages).size(), 18u);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(ListAllPages(Query(kGlobex, 1, "", "acme"), &pages).size(), 0u);
}

TEST_F(RegistryListTest, TokensSurviveChangesBetweenPages) {
  for (const char* name : {"a", "b", "c", "d", "e"}) {
    Upload("acme", name);
  }
  absl::StatusOr<AdapterPage> first = registry_->List(Query(kAcme, 2));
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(Names(first->records), ElementsAre("acme/a", "acme/b"));
  // The page's last record goes away and one is added before the cursor.
  ASSERT_TRUE(registry_->Delete({"acme", "b"}).ok());
  Upload("acme", "aa");
  absl::StatusOr<AdapterPage> second =
      registry_->List(Query(kAcme, 2, first->next_page_token));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(Names(second->records), ElementsAre("acme/c", "acme/d"));
}

TEST_F(RegistryListTest, PageSizeDefaultsAndLimits) {
  EXPECT_EQ(*ResolvePageSize(0), kDefaultPageSize);
  EXPECT_EQ(*ResolvePageSize(7), 7);
  EXPECT_EQ(*ResolvePageSize(kMaxPageSize + 1), kMaxPageSize);
  for (int i = 0; i < kDefaultPageSize + 1; ++i) {
    Upload("acme", absl::StrCat("n", i));
  }
  absl::StatusOr<AdapterPage> page = registry_->List(Query(kAcme));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->records.size(), static_cast<size_t>(kDefaultPageSize));
  EXPECT_FALSE(page->next_page_token.empty());

  absl::StatusOr<AdapterPage> negative = registry_->List(Query(kAcme, -1));
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(negative.status().message(), HasSubstr("page_size"));
}

TEST_F(RegistryListTest, MalformedTokensAndTenantsAreInvalid) {
  for (const std::string& token :
       {std::string("not base64!"), EncodePageToken({"acme", "x"}) + "A",
        std::string("djE6"), /* "v1:" */
        std::string("eHg6YWNtZS94") /* "xx:acme/x" */}) {
    absl::StatusOr<AdapterPage> page = registry_->List(Query(kAcme, 0, token));
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument)
        << token;
    EXPECT_THAT(page.status().message(), HasSubstr("malformed page_token"));
  }
  EXPECT_EQ(*DecodePageToken(EncodePageToken({"acme", "x.y"})),
            (AdapterRef{"acme", "x.y"}));
  EXPECT_EQ(registry_->List(Query(kAcme, 0, "", "Acme")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryListTest, GetAndDeleteValidateNames) {
  EXPECT_EQ(registry_->Get({"acme", "../x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->Delete({"", "x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryListTest, NamesAreUniquePerTenant) {
  Upload("acme", "bot");
  Upload("globex", "bot");  // Another tenant may use the same name.
  UploadSpec other = SpecFor("acme", "bot", qv_);
  other.description = "another adapter";
  absl::StatusOr<std::unique_ptr<StagedUpload>> again =
      registry_->BeginUpload(other);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(),
              HasSubstr("adapter \"acme/bot\" already exists"));
}

TEST_F(RegistryListTest, PerTenantLimitIsResourceExhausted) {
  FilesystemAdapterRegistryOptions options = OptionsFor(dir_.path());
  options.max_adapters_per_tenant = 2;
  Open(std::move(options));
  Upload("acme", "one");
  Upload("acme", "two");
  Upload("globex", "one");  // Limits are per tenant.
  absl::StatusOr<std::unique_ptr<StagedUpload>> third =
      registry_->BeginUpload(SpecFor("acme", "three", qv_));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(),
              HasSubstr("tenant \"acme\" already has 2 adapters"));
  ASSERT_TRUE(registry_->Delete({"acme", "one"}).ok());
  Upload("acme", "three");
}

TEST_F(RegistryListTest, LimitAndNameAreCheckedAgainAtCommit) {
  FilesystemAdapterRegistryOptions options = OptionsFor(dir_.path());
  options.max_adapters_per_tenant = 1;
  Open(std::move(options));
  // Both begin while there is room; the first to finish takes it.
  auto first = registry_->BeginUpload(SpecFor("acme", "one", qv_));
  auto second = registry_->BeginUpload(SpecFor("acme", "two", qv_));
  UploadSpec other_one = SpecFor("acme", "one", qv_);
  other_one.description = "not the same adapter";
  auto same_name = registry_->BeginUpload(other_one);
  ASSERT_TRUE(first.ok() && second.ok() && same_name.ok());
  for (auto* upload : {&*first, &*second, &*same_name}) {
    ASSERT_TRUE(
        (*upload)->WriteChunk(kAdapterConfigFilename, 0, qv_.config).ok());
    ASSERT_TRUE(
        (*upload)->WriteChunk(kAdapterWeightsFilename, 0, qv_.weights).ok());
  }
  ASSERT_TRUE((*first)->Finish().ok());
  EXPECT_EQ((*same_name)->Finish().status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ((*second)->Finish().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/.staging"), IsEmpty());
  EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/adapters/acme").size(), 1u);
}

TEST_F(RegistryListTest, ConcurrentUploadsOfOneNameHaveExactlyOneWinner) {
  constexpr int kUploaders = 8;
  std::atomic<int> ok{0}, already_exists{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kUploaders; ++i) {
    threads.emplace_back([&, i] {
      // Different adapters (by description): not retries of each other.
      UploadSpec spec = SpecFor("acme", "contested", qv_);
      spec.description = "uploader " + std::to_string(i);
      absl::StatusOr<AdapterRecord> record =
          UploadAdapter(*registry_, spec, qv_, /*chunk=*/1024);
      if (record.ok()) {
        ++ok;
      } else if (record.status().code() == absl::StatusCode::kAlreadyExists) {
        ++already_exists;
      } else {
        ++other;
        ADD_FAILURE() << record.status();
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(already_exists.load(), kUploaders - 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/.staging"), IsEmpty());
  absl::StatusOr<AdapterRecord> stored = registry_->Get({"acme", "contested"});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(testing_util::ReadFileOrDie(registry_->adapter_dir(*stored) +
                                        "/adapter_model.safetensors"),
            qv_.weights);
}

// Note [Idempotent upload]: concurrent retries of one upload all succeed
// with the one stored adapter.
TEST_F(RegistryListTest, ConcurrentIdenticalUploadsAllGetTheOneStoredAdapter) {
  constexpr int kUploaders = 6;
  std::vector<absl::StatusOr<AdapterRecord>> results(
      kUploaders, absl::UnknownError("not run"));
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kUploaders; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<StagedUpload>> upload =
          registry_->BeginUpload(SpecFor("acme", "same", qv_));
      if (!upload.ok()) {
        results[i] = upload.status();
        return;
      }
      absl::Status written =
          (*upload)->WriteChunk(kAdapterConfigFilename, 0, qv_.config);
      if (written.ok()) {
        written =
            (*upload)->WriteChunk(kAdapterWeightsFilename, 0, qv_.weights);
      }
      results[i] = written.ok() ? (*upload)->Finish() : written;
      if (results[i].ok() && (*upload)->created_new()) ++created;
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(created.load(), 1);
  for (const absl::StatusOr<AdapterRecord>& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->version, results[0]->version);
  }
  EXPECT_THAT(ListDirOrEmpty(dir_.path() + "/.staging"), IsEmpty());
  EXPECT_EQ(ListDirOrEmpty(dir_.path() + "/adapters/acme").size(), 1u);
}

TEST_F(RegistryListTest, ConcurrentReadersSeeConsistentState) {
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      absl::StatusOr<AdapterPage> page = registry_->List(Query(kAdmin, 3));
      ASSERT_TRUE(page.ok());
      for (const AdapterRecord& record : page->records) {
        EXPECT_TRUE(IsVersionId(record.version));
      }
      registry_->Get({"acme", "n1"}).IgnoreError();
    }
  });
  for (int i = 0; i < 6; ++i) {
    Upload("acme", absl::StrCat("n", i));
  }
  ASSERT_TRUE(registry_->Delete({"acme", "n1"}).ok());
  ASSERT_TRUE(registry_->Delete({"acme", "n3"}).ok());
  done = true;
  reader.join();
}

}  // namespace
}  // namespace loraplex::service
