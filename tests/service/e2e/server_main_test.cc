// The loraplex-server executable itself: --help, a bad flag, and a real
// start (port from its start-up line) -> a call -> SIGTERM -> exit 0.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util/test_files.h"
#include "tests/service/e2e/e2e_test_util.h"

namespace loraplex::service::e2e {
namespace {

using ::testing::HasSubstr;

const char kServerBinary[] = LORAPLEX_BINARY_DIR "/service/server/loraplex-server";

// A child process running loraplex-server with its stderr and stdout on a
// pipe.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(kServerBinary));
      for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execv(kServerBinary, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    output_fd_ = fds[0];
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (output_fd_ >= 0) ::close(output_fd_);
  }

  // Reads output until it contains `text` or `timeout` passes.
  bool WaitForOutput(const std::string& text, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (output_.find(text) == std::string::npos) {
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) return false;
      pollfd pfd{output_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
      char buffer[4096];
      const ssize_t got = ::read(output_fd_, buffer, sizeof(buffer));
      if (got <= 0) return false;  // Exited.
      output_.append(buffer, static_cast<size_t>(got));
    }
    return true;
  }
  // Waits for the exit; returns the exit status (or -signal).
  int Wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    WaitForOutput("\x01", absl::Seconds(1));  // Drain what is left.
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  void Signal(int signal_number) { ::kill(pid_, signal_number); }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int output_fd_ = -1;
  std::string output_;
};

TEST(ServerMainTest, HelpListsTheFlagsAndExitsZero) {
  ServerProcess server({"--help"});
  EXPECT_EQ(server.Wait(), 0);
  EXPECT_THAT(server.output(), HasSubstr("--max-resident-adapters="));
  EXPECT_THAT(server.output(), HasSubstr("models/demo"));
}

TEST(ServerMainTest, BadFlagExitsTwo) {
  ServerProcess server({"--max-batch-size=zero"});
  EXPECT_EQ(server.Wait(), 2);
  EXPECT_THAT(server.output(), HasSubstr("error: --max-batch-size"));
}

TEST(ServerMainTest, UnloadableModelExitsOne) {
  loraplex::testing::TempDir dir;
  ServerProcess server({"--model=" + dir.Join("missing"),
                        "--registry-dir=" + dir.Join("registry"),
                        "--metrics-listen="});
  EXPECT_EQ(server.Wait(), 1);
  EXPECT_THAT(server.output(), HasSubstr("cannot start"));
}

TEST(ServerMainTest, ServesThenShutsDownGracefullyOnSigterm) {
  loraplex::testing::TempDir dir;
  ServerProcess server({"--listen=127.0.0.1:0", "--metrics-listen=",
                        "--model=" + FixtureModelDir(), "--device=cpu",
                        "--threads=1", "--registry-dir=" + dir.Join("registry"),
                        "--shutdown-grace=5s"});
  ASSERT_TRUE(server.WaitForOutput("; metrics", absl::Seconds(60)))
      << server.output();
  EXPECT_THAT(server.output(), HasSubstr("NO --api-keys GIVEN"));
  const std::string& out = server.output();
  const size_t at = out.find("(port ");
  ASSERT_NE(at, std::string::npos) << out;
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      out.substr(at + 6, out.find(')', at) - at - 6), &port));

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::GenerationService::NewStub(channel);
  v1::GenerateResponse response;
  const grpc::Status status =
      Generate(*stub, GreedyRequest("", {369}, 16), "", &response);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(response.token_ids(0), 139);  // The reference greedy output.

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0) << server.output();
  EXPECT_THAT(server.output(), HasSubstr("shutting down gracefully"));
  EXPECT_THAT(server.output(), HasSubstr("shut down"));
}

}  // namespace
}  // namespace loraplex::service::e2e
