// Tests of the shared test helpers themselves: child processes (output,
// exit codes, signals, the environment, input) and the loraplex-server
// start-up line.
#include <signal.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace loraplex::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kSafetyNet = absl::Seconds(60);

TEST(ChildProcessTest, MissingExecutableIsNotFound) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({"/nonexistent/server"});
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(child.status().message(), HasSubstr("/nonexistent/server"));
}

TEST(ChildProcessTest, CapturesStdoutStderrAndTheExitCode) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      {"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ((*child)->WaitForExit(kSafetyNet), 3);
  EXPECT_FALSE((*child)->Running());
  EXPECT_EQ((*child)->Describe(), "exited with code 3");
  EXPECT_EQ((*child)->out(), "hello\n");
  EXPECT_EQ((*child)->err(), "oops\n");
}

TEST(ChildProcessTest, RunProcessPassesInputAndEnvironment) {
  setenv("LORAPLEX_SUPPORT_TEST_REMOVED", "still here", 1);
  ChildOptions options;
  options.input = "line one\n";
  options.env = {{"LORAPLEX_SUPPORT_TEST_SET", "set value"},
                 {"LORAPLEX_SUPPORT_TEST_REMOVED", std::nullopt}};
  absl::StatusOr<ProcessResult> result =
      RunProcess({"/bin/sh", "-c",
                  "read line; echo \"$line|$LORAPLEX_SUPPORT_TEST_SET|"
                  "${LORAPLEX_SUPPORT_TEST_REMOVED:-unset}\""},
                 options, kSafetyNet);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->out, "line one|set value|unset\n");
}

TEST(ChildProcessTest, RunProcessKillsWhatRunsTooLong) {
  absl::StatusOr<ProcessResult> result =
      RunProcess({"/bin/sh", "-c", "echo started >&2; exec sleep 600"}, {},
                 absl::Milliseconds(200));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("ran longer than"));
}

TEST(ChildProcessTest, WaitForTextEndsWhenTheTextArrivesOrTheChildExits) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      {"/bin/sh", "-c", "echo ready >&2; read line; echo \"got $line\""});
  ASSERT_TRUE(child.ok()) << child.status();
  // Stdin is /dev/null: `read` fails at once and the shell goes on.
  EXPECT_TRUE((*child)->WaitForText("ready", kSafetyNet));
  EXPECT_TRUE((*child)->WaitForText("got", kSafetyNet));
  EXPECT_FALSE((*child)->WaitForText("never printed", kSafetyNet));
  EXPECT_EQ((*child)->WaitForExit(kSafetyNet), 0);
}

TEST(ChildProcessTest, StopEndsAChildThatExitsOnSigterm) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      {"/bin/sh", "-c",
       "trap 'exit 0' TERM; echo trapped; while :; do sleep 0.05; done"});
  ASSERT_TRUE(child.ok()) << child.status();
  // The trap is set once it says so.
  ASSERT_TRUE((*child)->WaitForText("trapped", kSafetyNet));
  EXPECT_TRUE((*child)->Running());
  EXPECT_EQ((*child)->Stop(kSafetyNet), 0);
  EXPECT_FALSE((*child)->was_killed());
  EXPECT_FALSE((*child)->Running());
}

TEST(ChildProcessTest, StopKillsAChildThatIgnoresSigterm) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      {"/bin/sh", "-c",
       "trap '' TERM; echo ignoring; while :; do sleep 0.05; done"});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->WaitForText("ignoring", kSafetyNet));
  EXPECT_EQ((*child)->Stop(absl::Milliseconds(300)), 128 + SIGKILL);
  EXPECT_TRUE((*child)->was_killed());
  EXPECT_EQ((*child)->Describe(), "killed by signal 9");
}

TEST(TempDirTest, IsCreatedAndRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    ASSERT_FALSE(path.empty());
    absl::StatusOr<ProcessResult> touched =
        RunProcess({"/bin/sh", "-c",
                    "mkdir \"$1/sub\" && touch \"$1/sub/file\"", "sh", path});
    ASSERT_TRUE(touched.ok() && touched->exit_code == 0);
    EXPECT_EQ(dir.Join("sub"), path + "/sub");
  }
  absl::StatusOr<ProcessResult> gone =
      RunProcess({"/bin/sh", "-c", "test -e \"$1\"", "sh", path});
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->exit_code, 1);
}

TEST(ParseStartupLineTest, ReadsBothPortsOnceTheLineIsComplete) {
  int port = 0, metrics_port = 0;
  const std::string line =
      "2024-01-01 I loraplex-server listening on 127.0.0.1:0 (port 41234); "
      "metrics on port 40321 at /metrics";
  EXPECT_FALSE(ParseStartupLine("model: x\n" + line, &port, &metrics_port));
  ASSERT_TRUE(
      ParseStartupLine("model: x\n" + line + "\n", &port, &metrics_port));
  EXPECT_EQ(port, 41234);
  EXPECT_EQ(metrics_port, 40321);
  ASSERT_TRUE(ParseStartupLine(
      "loraplex-server listening on [::]:5 (port 5); metrics disabled\n", &port,
      &metrics_port));
  EXPECT_EQ(port, 5);
  EXPECT_EQ(metrics_port, 0);
}

TEST(ParseStartupLineTest, ReadsTheHttpApiPort) {
  int port = 0, metrics_port = 0, http_port = -1;
  ASSERT_TRUE(ParseStartupLine(
      "loraplex-server listening on 127.0.0.1:0 (port 41234); metrics on port "
      "40321 at /metrics; HTTP API on port 38000 at /v1\n",
      &port, &metrics_port, &http_port));
  EXPECT_EQ(metrics_port, 40321);
  EXPECT_EQ(http_port, 38000);
  ASSERT_TRUE(ParseStartupLine(
      "loraplex-server listening on [::]:5 (port 5); metrics disabled; HTTP "
      "API disabled\n",
      &port, &metrics_port, &http_port));
  EXPECT_EQ(metrics_port, 0);
  EXPECT_EQ(http_port, 0);
  // A line without the HTTP part (an older server) has no HTTP port.
  EXPECT_FALSE(ParseStartupLine(
      "loraplex-server listening on [::]:5 (port 5); metrics disabled\n", &port,
      &metrics_port, &http_port));
}

}  // namespace
}  // namespace loraplex::testing
