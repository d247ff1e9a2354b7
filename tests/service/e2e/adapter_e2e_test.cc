// AdapterService end to end: the upload -> list -> generate -> delete cycle,
// all-or-nothing uploads (sha256, malformed adapters, protocol errors,
// limits), pagination, LoadAdapter, and deleting an adapter in use.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/grpc/proto_conversion.h"
#include "tests/engine/runtime/fixture_cases.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// Greedy reference output of the qv-r8 fixture adapter on prompt [369].
const std::vector<int32_t> kQvR8On369 = {271, 356, 455, 441, 8,   77, 262, 43,
                                         26,  262, 43,  26,  190, 26, 32,  43};

class AdapterTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(TestServerOptions(registry_.path())); }

  void StartServer(const ServerOptions& options) {
    server_.reset();
    server_ = TestServer::Start(options);
    ASSERT_NE(server_, nullptr);
  }

  std::vector<std::string> ListNames(const std::string& api_key = "") {
    std::unique_ptr<grpc::ClientContext> context = NewContext(api_key);
    v1::ListAdaptersRequest request;
    v1::ListAdaptersResponse response;
    const grpc::Status status =
        server_->adapters().ListAdapters(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    std::vector<std::string> names;
    for (const v1::Adapter& adapter : response.adapters()) {
      names.push_back(adapter.owner() + "/" + adapter.name());
    }
    return names;
  }

  grpc::Status Get(const std::string& name, v1::Adapter* adapter = nullptr) {
    v1::Adapter ignored;
    v1::GetAdapterRequest request;
    request.set_name(name);
    return server_->adapters().GetAdapter(NewContext().get(), request,
                                          adapter ? adapter : &ignored);
  }

  // Nothing half-written anywhere in the registry.
  void ExpectNoStagingLeft() {
    EXPECT_TRUE(WaitFor([&] {
      return DirEntries(registry_.Join(".staging")).empty();
    })) << "staging: "
        << ::testing::PrintToString(DirEntries(registry_.Join(".staging")));
  }

  loraplex::testing::TempDir registry_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(AdapterTest, UploadListGenerateDeleteThenNotFound) {
  const AdapterFiles files = FixtureAdapter("qv-r8");
  UploadOptions options;
  options.description = "support bot";
  v1::Adapter uploaded;
  grpc::Status status =
      Upload(server_->adapters(), "my-adapter", files, options, &uploaded);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(uploaded.name(), "my-adapter");
  EXPECT_EQ(uploaded.owner(), "default");  // Open mode.
  EXPECT_EQ(uploaded.description(), "support bot");
  EXPECT_EQ(uploaded.visibility(), v1::VISIBILITY_PRIVATE);
  EXPECT_EQ(uploaded.version().size(), 32u);
  EXPECT_EQ(uploaded.rank(), 8);
  EXPECT_EQ(uploaded.lora_alpha(), 16);
  EXPECT_FALSE(uploaded.use_rslora());
  EXPECT_THAT(uploaded.target_modules(),
              UnorderedElementsAre("q_proj", "v_proj"));
  EXPECT_EQ(uploaded.num_modules(), 4);  // 2 layers x q, v.
  EXPECT_EQ(uploaded.size_bytes(), files.config.size() + files.weights.size());
  ASSERT_EQ(uploaded.files_size(), 2);
  EXPECT_EQ(uploaded.files(0).filename(), "adapter_config.json");
  EXPECT_EQ(uploaded.files(0).sha256(), Sha256Hex(files.config));
  EXPECT_EQ(uploaded.files(1).sha256(), Sha256Hex(files.weights));
  EXPECT_GT(uploaded.create_time().seconds(), 1700000000);

  EXPECT_THAT(ListNames(), ElementsAre("default/my-adapter"));
  v1::Adapter got;
  ASSERT_TRUE(Get("my-adapter", &got).ok());
  // The stored fields are what the upload returned; serving_state is this
  // server's view of the adapter now, which the upload does not report.
  EXPECT_FALSE(uploaded.has_serving_state());
  ASSERT_TRUE(got.has_serving_state());
  const v1::AdapterServingState fresh = got.serving_state();
  got.clear_serving_state();
  EXPECT_EQ(got.SerializeAsString(), uploaded.SerializeAsString());
  // Registered, never used: only on disk, unpinned, no use yet.
  EXPECT_EQ(fresh.residency(), v1::ADAPTER_RESIDENCY_DISK);
  EXPECT_EQ(fresh.running_requests(), 0);
  EXPECT_FALSE(fresh.pinned());
  EXPECT_FALSE(fresh.has_last_use_time());
  EXPECT_EQ(fresh.requests(), 0u);
  EXPECT_EQ(fresh.prompt_tokens(), 0u);
  EXPECT_EQ(fresh.completion_tokens(), 0u);
  ASSERT_TRUE(Get("default/my-adapter").ok());

  v1::GenerateResponse response;
  status = Generate(server_->generation(), GreedyRequest("my-adapter", {369}),
                    "", &response);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_THAT(TokenIds(response), ElementsAreArray(kQvR8On369));
  // After one finished request: on the device, released, counted.
  ASSERT_TRUE(Get("my-adapter", &got).ok());
  const v1::AdapterServingState used = got.serving_state();
  EXPECT_EQ(used.residency(), v1::ADAPTER_RESIDENCY_DEVICE);
  EXPECT_EQ(used.running_requests(), 0);
  EXPECT_FALSE(used.pinned());
  EXPECT_TRUE(used.has_last_use_time());
  EXPECT_GE(used.last_use_time().seconds(), uploaded.create_time().seconds());
  EXPECT_EQ(used.requests(), 1u);
  EXPECT_EQ(used.prompt_tokens(), 1u);
  EXPECT_EQ(used.completion_tokens(),
            static_cast<uint64_t>(response.token_ids_size()));
  got.clear_serving_state();
  EXPECT_EQ(got.SerializeAsString(), uploaded.SerializeAsString());

  v1::DeleteAdapterRequest del;
  del.set_name("my-adapter");
  v1::DeleteAdapterResponse deleted;
  status = server_->adapters().DeleteAdapter(NewContext().get(), del, &deleted);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(deleted.adapter().version(), uploaded.version());

  EXPECT_EQ(Get("my-adapter").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Generate(server_->generation(), GreedyRequest("my-adapter", {369}))
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(server_->adapters()
                .DeleteAdapter(NewContext().get(), del, &deleted)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(ListNames(), IsEmpty());
  EXPECT_EQ(server_->app().engine().Stats().registered_adapters, 0);

  // The name is free again, under a new version.
  v1::Adapter again;
  ASSERT_TRUE(
      Upload(server_->adapters(), "my-adapter", files, {}, &again).ok());
  EXPECT_NE(again.version(), uploaded.version());
  ASSERT_TRUE(Generate(server_->generation(),
                       GreedyRequest("my-adapter", {369}), "", &response)
                  .ok());
  EXPECT_THAT(TokenIds(response), ElementsAreArray(kQvR8On369));
}

TEST_F(AdapterTest, Sha256MismatchIsDataLossAndStoresNothing) {
  AdapterFiles files = FixtureAdapter("qv-r8");
  std::vector<v1::UploadAdapterRequest> messages =
      UploadMessages("bad-sha", files);
  // Declare the digest of other bytes.
  messages[0].mutable_header()->mutable_files(1)->set_sha256(
      Sha256Hex("something else"));
  const grpc::Status status = UploadRaw(server_->adapters(), messages);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS)
      << Describe(status);
  EXPECT_THAT(status.error_message(),
              HasSubstr("sha256 mismatch for adapter_model.safetensors"));
  EXPECT_THAT(ListNames(), IsEmpty());
  EXPECT_EQ(Get("bad-sha").error_code(), grpc::StatusCode::NOT_FOUND);
  ExpectNoStagingLeft();
  EXPECT_THAT(DirEntries(registry_.Join("adapters/default")), IsEmpty());
}

struct MalformedCase {
  const char* what;
  AdapterFiles files;
  const char* message;
};

TEST_F(AdapterTest, MalformedAdaptersAreInvalidArgumentWithTheReason) {
  const AdapterFiles good = FixtureAdapter("qv-r8");
  RandomAdapterSpec wide;
  wide.extra_in_features = 3;
  RandomAdapterSpec nan;
  nan.nan_value = true;
  RandomAdapterSpec rank32;
  rank32.rank = 32;  // The test server's limit is 16.
  std::string truncated = good.weights.substr(0, good.weights.size() / 2);
  const std::vector<MalformedCase> cases = {
      {"bad JSON", {"{\"r\": 8, oops", good.weights}, "adapter_config.json"},
      {"config not an object", {"[1, 2]", good.weights}, "object"},
      {"DoRA",
       {AdapterConfigJson(8, 16, {"q_proj", "v_proj"}, "\"use_dora\": true"),
        good.weights},
       "DoRA"},
      {"unknown target module",
       {AdapterConfigJson(8, 16, {"q_proj", "w_proj"}), good.weights},
       "w_proj"},
      {"target without weights",
       {AdapterConfigJson(8, 16, {"q_proj", "v_proj", "k_proj"}), good.weights},
       "self_attn.k_proj.lora_A.weight' is missing"},
      {"rank differs from config",
       {AdapterConfigJson(4, 16, {"q_proj", "v_proj"}), good.weights},
       "has shape [8, 64], expected [4, 64]"},
      {"wrong shape", RandomAdapter(wide), "expected [4, 64]"},
      {"NaN weight", RandomAdapter(nan), "contains NaN or Inf"},
      {"rank over the server's max", RandomAdapter(rank32),
       "has rank 32; this server accepts at most 16"},
      {"truncated safetensors", {good.config, truncated}, ""},
      {"not safetensors at all", {good.config, std::string(64, 'x')}, ""},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.what);
    const grpc::Status status =
        Upload(server_->adapters(), "malformed", c.files);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr("invalid adapter: "));
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
    // The server's paths are not the client's business.
    EXPECT_THAT(status.error_message(), Not(HasSubstr(registry_.path())));
  }
  EXPECT_THAT(ListNames(), IsEmpty());
  ExpectNoStagingLeft();
  EXPECT_EQ(server_->app().engine().Stats().registered_adapters, 0);
}

TEST_F(AdapterTest, MissingFileIsInvalidArgument) {
  std::vector<v1::UploadAdapterRequest> messages =
      UploadMessages("one-file", FixtureAdapter("qv-r8"));
  messages[0].mutable_header()->mutable_files()->RemoveLast();
  const grpc::Status status = UploadRaw(server_->adapters(), {messages[0]});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("must declare both adapter_config.json and "
                        "adapter_model.safetensors"));
}

TEST_F(AdapterTest, UploadProtocolErrorsAreInvalidArgument) {
  const AdapterFiles files = FixtureAdapter("qv-r8");
  const std::vector<v1::UploadAdapterRequest> good =
      UploadMessages("proto", files);
  const v1::UploadAdapterRequest& header = good[0];
  auto chunk = [](const std::string& filename, uint64_t offset,
                  const std::string& data) {
    v1::UploadAdapterRequest message;
    message.mutable_chunk()->set_filename(filename);
    message.mutable_chunk()->set_offset(offset);
    message.mutable_chunk()->set_data(data);
    return message;
  };
  v1::UploadAdapterRequest bad_visibility = header;
  bad_visibility.mutable_header()->set_visibility(
      static_cast<v1::Visibility>(7));
  v1::UploadAdapterRequest long_description = header;
  long_description.mutable_header()->set_description(std::string(1025, 'd'));
  v1::UploadAdapterRequest bad_owner = header;
  bad_owner.mutable_header()->set_owner("Not Valid");
  struct Case {
    const char* what;
    std::vector<v1::UploadAdapterRequest> messages;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"empty stream", {}, "ended before its header"},
      {"chunk first", {chunk("adapter_config.json", 0, "x")}, "header"},
      {"neither header nor chunk",
       {v1::UploadAdapterRequest()},
       "a header or a chunk"},
      {"second header", {header, header}, "second header"},
      {"undeclared file", {header, chunk("notes.txt", 0, "x")}, "notes.txt"},
      {"wrong offset",
       {header, chunk("adapter_config.json", 5, "x")},
       "offset 5, expected 0"},
      {"empty chunk", {header, chunk("adapter_config.json", 0, "")}, "1 to"},
      {"chunk over 1 MiB",
       {header,
        chunk("adapter_model.safetensors", 0, std::string((1 << 20) + 1, 'x'))},
       "1048576"},
      {"past the declared size",
       {header, chunk("adapter_config.json", 0, files.config + "xx")},
       "longer than its declared"},
      {"file ends short",
       {header, chunk("adapter_config.json", 0, files.config.substr(0, 10))},
       "ended after 10 of its declared"},
      {"unknown visibility", {bad_visibility}, "visibility"},
      {"description over 1024 bytes", {long_description}, "description"},
      {"invalid owner name", {bad_owner}, "Not Valid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const grpc::Status status = UploadRaw(server_->adapters(), c.messages);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
  EXPECT_THAT(ListNames(), IsEmpty());
  ExpectNoStagingLeft();
}

TEST_F(AdapterTest, UploadLimitsAndDuplicates) {
  ServerOptions options = TestServerOptions(registry_.path());
  options.max_upload_bytes = 100000;  // all-r16 is 148 KB, qv-r8 17 KB.
  options.max_adapters_per_tenant = 2;
  StartServer(options);
  grpc::Status status =
      Upload(server_->adapters(), "big", FixtureAdapter("all-r16"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("100000 bytes"));

  ASSERT_TRUE(Upload(server_->adapters(), "one", FixtureAdapter("qv-r8")).ok());
  status = Upload(server_->adapters(), "one", FixtureAdapter("attn-r4-rslora"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  ASSERT_TRUE(
      Upload(server_->adapters(), "two", FixtureAdapter("attn-r4-rslora"))
          .ok());
  status = Upload(server_->adapters(), "three", FixtureAdapter("qv-r8"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("already has 2 adapters"));
  EXPECT_THAT(ListNames(), ElementsAre("default/one", "default/two"));
  ExpectNoStagingLeft();
}

TEST_F(AdapterTest, ListPaginatesInNameOrder) {
  for (const char* name : {"e", "a", "d", "b", "c"}) {
    ASSERT_TRUE(
        Upload(server_->adapters(), name, FixtureAdapter("qv-r8")).ok());
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    v1::ListAdaptersRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    v1::ListAdaptersResponse response;
    ASSERT_TRUE(server_->adapters()
                    .ListAdapters(NewContext().get(), request, &response)
                    .ok());
    EXPECT_LE(response.adapters_size(), 2);
    for (const auto& adapter : response.adapters())
      seen.push_back(adapter.name());
    token = response.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_THAT(seen, ElementsAre("a", "b", "c", "d", "e"));
  EXPECT_EQ(pages, 3);

  v1::ListAdaptersRequest bad;
  v1::ListAdaptersResponse response;
  bad.set_page_size(-1);
  grpc::Status status =
      server_->adapters().ListAdapters(NewContext().get(), bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_size"));
  bad.set_page_size(0);
  bad.set_page_token("not a token");
  status = server_->adapters().ListAdapters(NewContext().get(), bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_token"));
  bad.set_page_token("");
  bad.set_owner("other");
  ASSERT_TRUE(server_->adapters()
                  .ListAdapters(NewContext().get(), bad, &response)
                  .ok());
  EXPECT_EQ(response.adapters_size(), 0);
}

TEST_F(AdapterTest, LoadAdapterMakesItResident) {
  ASSERT_TRUE(
      Upload(server_->adapters(), "warm", FixtureAdapter("all-r16")).ok());
  EXPECT_EQ(server_->app().engine().Stats().resident_adapters_device, 0);
  v1::LoadAdapterRequest request;
  request.set_name("warm");
  v1::LoadAdapterResponse response;
  const grpc::Status status =
      server_->adapters().LoadAdapter(NewContext().get(), request, &response);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(response.adapter().name(), "warm");
  EXPECT_GT(FromProtoDuration(response.load_time()), absl::ZeroDuration());
  EXPECT_EQ(server_->app().engine().Stats().resident_adapters_device, 1);
  // The next request finds it on the device.
  const std::string before = server_->ScrapeMetrics();
  ASSERT_TRUE(
      Generate(server_->generation(), GreedyRequest("warm", {369})).ok());
  const std::string after = server_->ScrapeMetrics();
  EXPECT_EQ(*MetricValue(after, "loraplex_adapter_cache_hits_total",
                         {{"tier", "device"}}),
            *MetricValue(before, "loraplex_adapter_cache_hits_total",
                         {{"tier", "device"}}) +
                1);

  request.set_name("cold");
  EXPECT_EQ(server_->adapters()
                .LoadAdapter(NewContext().get(), request, &response)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  request.set_name("Bad Name");
  EXPECT_EQ(server_->adapters()
                .LoadAdapter(NewContext().get(), request, &response)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AdapterTest, DeletingAnAdapterInUseLetsRunningRequestsFinish) {
  ASSERT_TRUE(
      Upload(server_->adapters(), "busy", FixtureAdapter("qv-r8")).ok());
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  auto reader = server_->generation().GenerateStream(
      context.get(), GreedyRequest("busy", {369}, 200));
  v1::GenerateStreamResponse message;
  ASSERT_TRUE(reader->Read(&message));  // Running, adapter in use.

  v1::DeleteAdapterRequest del;
  del.set_name("busy");
  v1::DeleteAdapterResponse deleted;
  ASSERT_TRUE(server_->adapters()
                  .DeleteAdapter(NewContext().get(), del, &deleted)
                  .ok());
  EXPECT_EQ(Generate(server_->generation(), GreedyRequest("busy", {369}))
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  std::vector<int32_t> ids(message.chunk().token_ids().begin(),
                           message.chunk().token_ids().end());
  std::optional<v1::GenerateFinished> finished;
  while (reader->Read(&message)) {
    if (message.has_finished()) finished = message.finished();
    ids.insert(ids.end(), message.chunk().token_ids().begin(),
               message.chunk().token_ids().end());
  }
  const grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(finished->finish_reason(), v1::FINISH_REASON_LENGTH);
  ASSERT_EQ(ids.size(), 200u);
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 16), kQvR8On369);
  // Once it finished the engine forgot the adapter.
  EXPECT_TRUE(WaitFor([&] {
    return server_->app().engine().Stats().resident_adapters_device == 0;
  }));
  EXPECT_EQ(server_->app().engine().Stats().registered_adapters, 0);
}

}  // namespace
}  // namespace loraplex::service::e2e
