// A loraplex-server child with RLIMIT_NOFILE 256 (set before exec), pushed
// the ways that used to take it down (issue: "File descriptors and idle
// uploads"): 200 uploads that send a header and then nothing, and 300 raw
// TCP connections. Note [Upload limits] bounds the uploads (and they hold
// no descriptor while idle); Note [File descriptor budget] and Note
// [Accepting connections] keep connections below the limit. Throughout,
// generation with adapters that are not cached yet works, and afterwards
// the server still accepts new connections (gRPC 1.51's own listener gave
// up for good after one EMFILE).
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_callback.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/e2e/e2e_test_util.h"
#include "tests/support/child_process.h"
#include "tests/support/server_process.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;

constexpr int kFileLimit = 256;
constexpr int kIdleUploads = 200;
constexpr int kUploadsPerTenant = 4;  // The server's default.
constexpr int kRawConnections = 300;

// Greedy reference output of the qv-r8 fixture adapter on prompt [369].
const std::vector<int32_t> kQvR8On369 = {271, 356, 455, 441, 8,   77, 262, 43,
                                         26,  262, 43,  26,  190, 26, 32,  43};

// One upload that sends its header and then nothing, until cancelled.
class IdleUpload final
    : public grpc::ClientWriteReactor<v1::UploadAdapterRequest> {
 public:
  IdleUpload(v1::AdapterService::Stub& stub, v1::UploadAdapterRequest header)
      : header_(std::move(header)) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::minutes(10));
    stub.async()->UploadAdapter(&context_, &response_, this);
    StartWrite(&header_);
    StartCall();
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
  }
  void Cancel() { context_.TryCancel(); }
  bool done() const {
    absl::MutexLock lock(&mu_);
    return status_.has_value();
  }
  grpc::Status AwaitStatus() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::optional<grpc::Status>* status) {
          return status->has_value();
        },
        &status_));
    return *status_;
  }

 private:
  grpc::ClientContext context_;
  v1::UploadAdapterRequest header_;
  v1::Adapter response_;
  mutable absl::Mutex mu_;
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
};

// Opens a TCP connection to 127.0.0.1:`port` and sends the HTTP/2 client
// preface with an empty SETTINGS frame; -1 on failure.
int OpenRawConnection(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    close(fd);
    return -1;
  }
  static const char kPreface[] =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
  if (send(fd, kPreface, sizeof(kPreface) - 1, MSG_NOSIGNAL) < 0) {
    // The server may have closed it already; that shows when it is read.
  }
  return fd;
}

// Waits until the server has either answered (sent data: it took the
// connection) or closed each connection; the number it closed, or -1 if
// some got neither within the safety net.
int CountClosedByServer(const std::vector<int>& fds) {
  std::vector<pollfd> waiting;
  for (int fd : fds) waiting.push_back({fd, POLLIN, 0});
  int closed = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!waiting.empty() && absl::Now() < deadline) {
    if (poll(waiting.data(), waiting.size(), 1000) < 0 && errno != EINTR) {
      return -1;
    }
    std::vector<pollfd> still;
    for (const pollfd& entry : waiting) {
      if (entry.revents == 0) {
        still.push_back({entry.fd, POLLIN, 0});
        continue;
      }
      char byte = 0;
      if (recv(entry.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) ++closed;
    }
    waiting.swap(still);
  }
  return waiting.empty() ? closed : -1;
}

class FdExhaustionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The test itself needs room for its raw connections.
    rlimit limit{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
    if (limit.rlim_cur < 4096 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = std::min<rlim_t>(4096, limit.rlim_max);
      ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
    }
    // `ulimit -n` in the shell sets the soft and hard limits; the server
    // is exec'd under them.
    absl::StatusOr<std::unique_ptr<loraplex::testing::ChildProcess>> child =
        loraplex::testing::ChildProcess::Start(
            {"/bin/sh", "-c",
             absl::StrCat("ulimit -n ", kFileLimit, " && exec \"$0\" \"$@\""),
             loraplex::testing::ServerBinary(), "--listen=127.0.0.1:0",
             "--metrics-listen=127.0.0.1:0", "--http-listen=none",
             "--model=" + FixtureModelDir(),
             "--registry-dir=" + dir_.Join("registry"),
             "--seed-adapters=", "--device=cpu", "--threads=1",
             "--shutdown-grace=5s", "--upload-idle-timeout=10m"});
    ASSERT_TRUE(child.ok()) << child.status();
    server_ = *std::move(child);
    ASSERT_TRUE(server_->WaitForOutput(
        [&](const std::string& out, const std::string& err) {
          return loraplex::testing::ParseStartupLine(err + out, &port_,
                                                     &metrics_port_);
        },
        absl::Seconds(180)))
        << server_->err();
    channel_ = NewChannel();
    generation_ = v1::GenerationService::NewStub(channel_);
    adapters_ = v1::AdapterService::NewStub(channel_);
  }

  // A channel of its own (a new connection, not shared with others).
  std::shared_ptr<grpc::Channel> NewChannel() {
    grpc::ChannelArguments arguments;
    arguments.SetInt("loraplex.test.channel", ++channels_);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_),
                                     grpc::InsecureChannelCredentials(),
                                     arguments);
  }

  // Generates with `adapter` (not cached yet) and checks the output.
  void ExpectGenerates(v1::GenerationService::Stub& stub,
                       const std::string& adapter,
                       bool wait_for_ready = false) {
    std::unique_ptr<grpc::ClientContext> context = NewContext();
    context->set_wait_for_ready(wait_for_ready);
    v1::GenerateResponse response;
    const grpc::Status status = stub.Generate(
        context.get(), GreedyRequest(adapter, {369}, 16), &response);
    ASSERT_TRUE(status.ok()) << adapter << ": " << Describe(status) << "\n"
                             << server_->err();
    if (adapter == "qv") {
      EXPECT_EQ(TokenIds(response), kQvR8On369);
    }
  }

  loraplex::testing::TempDir dir_;
  std::unique_ptr<loraplex::testing::ChildProcess> server_;
  int port_ = 0;
  int metrics_port_ = 0;
  int channels_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
  std::unique_ptr<v1::AdapterService::Stub> adapters_;
};

TEST_F(FdExhaustionTest, IdleUploadsAndConnectionFloodsNeitherExhaustNorWedge) {
  for (const auto& [name, fixture] :
       {std::pair<const char*, const char*>{"qv", "qv-r8"},
        {"all", "all-r16"},
        {"rslora", "attn-r4-rslora"}}) {
    const grpc::Status uploaded =
        Upload(*adapters_, name, FixtureAdapter(fixture));
    ASSERT_TRUE(uploaded.ok()) << Describe(uploaded);
  }

  // Uploads that send a header and then nothing: the tenant's first four
  // are held, every other one is refused at once.
  const v1::UploadAdapterRequest header =
      UploadMessages("idle", FixtureAdapter("qv-r8"))[0];
  std::vector<std::unique_ptr<IdleUpload>> uploads;
  for (int i = 0; i < kIdleUploads; ++i) {
    v1::UploadAdapterRequest message = header;
    message.mutable_header()->set_name(absl::StrCat("idle-", i));
    uploads.push_back(std::make_unique<IdleUpload>(*adapters_, message));
  }
  // The held ones never end by themselves; every other one ends at once.
  // Waits for at least that many (not exactly: an upload that ends when it
  // should not shows below with its status), and on failure cancels them
  // all first: a reactor must not be destroyed while its call runs.
  const auto ended = [&] {
    int done = 0;
    for (const auto& upload : uploads) done += upload->done() ? 1 : 0;
    return done;
  };
  const bool settled =
      WaitFor([&] { return ended() >= kIdleUploads - kUploadsPerTenant; },
              absl::Seconds(120));
  if (!settled) {
    const int done = ended();
    // What the server says it ended: fewer than the refusals it should have
    // made means calls did not reach it (or were not answered); as many
    // means their statuses did not reach this client.
    const std::string metrics = HttpGet(metrics_port_, "/metrics");
    const auto count = [&](const std::string& code) {
      return MetricValue(metrics, "loraplex_requests_total",
                         {{"rpc", "UploadAdapter"}, {"code", code}})
          .value_or(0);
    };
    for (const std::unique_ptr<IdleUpload>& upload : uploads) upload->Cancel();
    for (const std::unique_ptr<IdleUpload>& upload : uploads) {
      upload->AwaitStatus();
    }
    FAIL() << done << " of " << kIdleUploads << " uploads ended within 120 s, "
           << "not " << kIdleUploads - kUploadsPerTenant
           << "; the server counts " << count("RESOURCE_EXHAUSTED")
           << " refused and " << count("OK") << " OK UploadAdapter calls\n"
           << server_->err();
  }
  EXPECT_EQ(ended(), kIdleUploads - kUploadsPerTenant);
  for (const std::unique_ptr<IdleUpload>& upload : uploads) {
    if (!upload->done()) continue;
    const grpc::Status status = upload->AwaitStatus();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr("--max-uploads-per-tenant"));
  }
  EXPECT_EQ(DirEntries(dir_.Join("registry/.staging")).size(),
            static_cast<size_t>(kUploadsPerTenant));

  // While they are held, an adapter that is not cached loads.
  ExpectGenerates(*generation_, "qv");
  for (const std::unique_ptr<IdleUpload>& upload : uploads) upload->Cancel();
  for (const std::unique_ptr<IdleUpload>& upload : uploads) {
    const grpc::StatusCode code = upload->AwaitStatus().error_code();
    EXPECT_TRUE(code == grpc::StatusCode::CANCELLED ||
                code == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << code;
  }
  ExpectGenerates(*generation_, "all");

  // A flood of connections: the server takes what its descriptor budget
  // allows and closes the rest at once, and keeps serving.
  std::vector<int> raw;
  for (int i = 0; i < kRawConnections; ++i) {
    const int fd = OpenRawConnection(port_);
    ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
    raw.push_back(fd);
  }
  const int closed = CountClosedByServer(raw);
  EXPECT_GT(closed, 0) << "every connection was taken: the budget is off";
  ASSERT_GE(closed, 0) << "some connections were neither taken nor closed: "
                          "the server stopped accepting\n"
                       << server_->err();
  EXPECT_TRUE(
      server_->WaitForText("refusing new connections", absl::Seconds(60)))
      << server_->err();
  ExpectGenerates(*generation_, "rslora");  // Uncached, during the flood.
  for (int fd : raw) close(fd);

  // And it accepts new connections afterwards. (A connection that comes
  // while the server still counts the flood's descriptors may be closed
  // once; the call waits for the channel to connect, as a client that
  // retries would.)
  std::shared_ptr<grpc::Channel> fresh = NewChannel();
  std::unique_ptr<v1::GenerationService::Stub> stub =
      v1::GenerationService::NewStub(fresh);
  ExpectGenerates(*stub, "qv", /*wait_for_ready=*/true);
  EXPECT_THAT(server_->err(), ::testing::Not(HasSubstr("Too many open files")));
  EXPECT_EQ(server_->Stop(absl::Seconds(60)), 0) << server_->err();
}

}  // namespace
}  // namespace loraplex::service::e2e
