// Requests that do not parse (Note [Raw requests] in
// service/grpc/raw_messages.h), sent as raw bytes over a real channel: a
// string field with invalid UTF-8 (ff fe, a lone surrogate ed a0 80), or
// bytes that are no protobuf at all, are INVALID_ARGUMENT naming the field
// (never UNIMPLEMENTED with an empty message), for every RPC kind.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kGenerate[] = "/loraplex.v1.GenerationService/Generate";
constexpr char kGenerateStream[] =
    "/loraplex.v1.GenerationService/GenerateStream";
constexpr char kUpload[] = "/loraplex.v1.AdapterService/UploadAdapter";
constexpr char kGet[] = "/loraplex.v1.AdapterService/GetAdapter";
constexpr char kList[] = "/loraplex.v1.AdapterService/ListAdapters";
constexpr char kDelete[] = "/loraplex.v1.AdapterService/DeleteAdapter";
constexpr char kLoad[] = "/loraplex.v1.AdapterService/LoadAdapter";

// Invalid UTF-8: a byte-order mark's bytes read as UTF-8, and a lone
// surrogate (U+D800) in UTF-8's form.
const std::string kFfFe = "ab\xff\xfe";
const std::string kLoneSurrogate = "a\xed\xa0\x80z";
// No protobuf: a tag with field number 0 and an unterminated varint.
const std::string kGarbage("\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11);

// A length-delimited field: the wire bytes protoc would write.
std::string Field(int number, const std::string& bytes) {
  std::string out;
  out.push_back(static_cast<char>((number << 3) | 2));
  out.push_back(static_cast<char>(bytes.size()));  // < 128 here.
  return out + bytes;
}

struct RawResult {
  grpc::Status status;
  int replies = 0;
};

// Sends `messages` (raw bytes) on `method`, closes the sending side, reads
// every reply and returns the call's status.
RawResult RawCall(const std::shared_ptr<grpc::Channel>& channel,
                  const std::string& method,
                  const std::vector<std::string>& messages) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &queue);
  // One operation at a time: each Next() returns the one just started.
  const auto await = [&queue] {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(queue.Next(&tag, &ok));
    return ok;
  };
  RawResult result;
  call->StartCall(nullptr);
  if (await()) {
    for (const std::string& message : messages) {
      grpc::Slice slice(message);
      call->Write(grpc::ByteBuffer(&slice, 1), nullptr);
      if (!await()) break;  // The server ended the call already.
    }
    call->WritesDone(nullptr);
    await();
    grpc::ByteBuffer reply;
    while (true) {
      call->Read(&reply, nullptr);
      if (!await()) break;
      ++result.replies;
    }
  }
  call->Finish(&result.status, nullptr);
  await();
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  return result;
}

class MalformedRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = TestServer::Start(TestServerOptions(registry_.path()));
    ASSERT_NE(server_, nullptr);
  }

  // `method` answers `messages` with INVALID_ARGUMENT saying `what`.
  void ExpectInvalid(const std::string& method,
                     const std::vector<std::string>& messages,
                     const std::string& what) {
    const RawResult result = RawCall(server_->channel(), method, messages);
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << Describe(result.status);
    EXPECT_THAT(result.status.error_message(), HasSubstr(what)) << method;
    EXPECT_EQ(result.replies, 0) << method;
  }

  loraplex::testing::TempDir registry_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(MalformedRequestTest, GenerateNamesTheFieldWithInvalidUtf8) {
  const std::string prompt = Field(2, kFfFe);  // text
  const std::string adapter = Field(1, kLoneSurrogate);
  // stopping { stop_strings: "ok", stop_strings: <bad> }
  const std::string stop =
      Field(5, Field(2, "ok") + Field(2, kFfFe)) + Field(2, "fine");
  for (const char* method : {kGenerate, kGenerateStream}) {
    ExpectInvalid(method, {prompt},
                  "request is not a valid loraplex.v1.GenerateRequest: field "
                  "text is not valid UTF-8");
    ExpectInvalid(method, {Field(2, kLoneSurrogate)},
                  "field text is not valid UTF-8");
    ExpectInvalid(method, {adapter}, "field adapter is not valid UTF-8");
    ExpectInvalid(method, {stop},
                  "field stopping.stop_strings[1] is not valid UTF-8");
    ExpectInvalid(method, {kGarbage},
                  "request is not a valid loraplex.v1.GenerateRequest: it is "
                  "not a protobuf message of that type");
  }
}

TEST_F(MalformedRequestTest, AdapterCallsNameTheFieldWithInvalidUtf8) {
  ExpectInvalid(kGet, {Field(1, kFfFe)},
                "request is not a valid loraplex.v1.GetAdapterRequest: field "
                "name is not valid UTF-8");
  ExpectInvalid(kDelete, {Field(1, kLoneSurrogate)},
                "loraplex.v1.DeleteAdapterRequest: field name is not valid");
  ExpectInvalid(kLoad, {Field(1, kFfFe)},
                "loraplex.v1.LoadAdapterRequest: field name is not valid");
  ExpectInvalid(kList, {Field(2, kFfFe)},
                "loraplex.v1.ListAdaptersRequest: field page_token is not");
  for (const char* method : {kGet, kDelete, kLoad, kList}) {
    ExpectInvalid(method, {kGarbage}, "not a protobuf message of that type");
  }
}

TEST_F(MalformedRequestTest, UploadNamesTheFieldWithInvalidUtf8) {
  // header { name: <bad> }
  ExpectInvalid(kUpload, {Field(1, Field(1, kFfFe))},
                "request is not a valid loraplex.v1.UploadAdapterRequest: "
                "field header.name is not valid UTF-8");
  // header { files { filename: <bad> } }
  ExpectInvalid(kUpload, {Field(1, Field(1, "ok") + Field(5, Field(1, kFfFe)))},
                "field header.files[0].filename is not valid UTF-8");
  ExpectInvalid(kUpload, {kGarbage}, "not a protobuf message of that type");

  // A bad message after a good header ends the upload with the reason (it
  // used to look like the end of the stream and commit what had come).
  const std::vector<v1::UploadAdapterRequest> good =
      UploadMessages("late-garbage", FixtureAdapter("qv-r8"));
  std::vector<std::string> messages;
  for (const v1::UploadAdapterRequest& message : good) {
    messages.push_back(message.SerializeAsString());
  }
  messages.push_back(kGarbage);
  ExpectInvalid(kUpload, messages, "not a protobuf message of that type");
  // chunk { filename: <bad> }
  messages.back() = Field(2, Field(1, kLoneSurrogate));
  ExpectInvalid(kUpload, messages, "field chunk.filename is not valid UTF-8");
  v1::GetAdapterRequest get;
  get.set_name("late-garbage");
  v1::Adapter adapter;
  EXPECT_EQ(server_->adapters()
                .GetAdapter(NewContext().get(), get, &adapter)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(MalformedRequestTest, WellFormedRawRequestsAreServedAsUsual) {
  v1::GetAdapterRequest get;
  get.set_name("missing");
  RawResult result =
      RawCall(server_->channel(), kGet, {get.SerializeAsString()});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::NOT_FOUND)
      << Describe(result.status);
  // An empty message is a valid (empty) request.
  result = RawCall(server_->channel(), kList, {""});
  EXPECT_TRUE(result.status.ok()) << Describe(result.status);
  EXPECT_EQ(result.replies, 1);
  result = RawCall(server_->channel(), kGenerate,
                   {GreedyRequest("", {369}, 4).SerializeAsString()});
  EXPECT_TRUE(result.status.ok()) << Describe(result.status);
  EXPECT_EQ(result.replies, 1);
  result = RawCall(server_->channel(), kGenerateStream,
                   {GreedyRequest("", {369}, 4).SerializeAsString()});
  EXPECT_TRUE(result.status.ok()) << Describe(result.status);
  EXPECT_GE(result.replies, 2);  // A chunk and `finished`.
  // Valid UTF-8 outside ASCII parses; the field's own rule then applies.
  result = RawCall(
      server_->channel(), kGenerateStream,
      {GreedyRequest("\xc3\xa9t\xc3\xa9", {369}, 4).SerializeAsString()});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("invalid adapter name"));
  EXPECT_THAT(result.status.error_message(), Not(HasSubstr("UTF-8")));
}

}  // namespace
}  // namespace loraplex::service::e2e
