// loraplex-server: flags -> ServerApp; SIGTERM/SIGINT -> graceful shutdown,
// exit 0. A second signal during shutdown exits at once (status 1). SIGHUP
// reloads the API key file.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/common/logging.h"
#include "service/server/server_app.h"
#include "service/server/server_flags.h"

namespace {

std::string EnvOrEmpty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// Blocks the signals main handles in this thread and every thread started
// after it, so that they are only ever taken by sigwait below.
sigset_t BlockHandledSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Serves SIGHUPs (key reloads) until a shutdown signal arrives; returns it.
int WaitForShutdownSignal(const sigset_t& signals,
                          loraplex::service::ServerApp& app) {
  while (true) {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) return signal_number;
    loraplex::LogInfo("SIGHUP received: reloading the API key file");
    app.ReloadApiKeys().IgnoreError();  // Logged; the old keys stay.
  }
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t signals = BlockHandledSignals();
  loraplex::service::FlagEnvironment environment;
  environment.default_model_dir = LORAPLEX_DEFAULT_MODEL_DIR;
  environment.env_model = EnvOrEmpty("LORAPLEX_MODEL");
  environment.xdg_state_home = EnvOrEmpty("XDG_STATE_HOME");

  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<loraplex::service::ParsedFlags> flags =
      loraplex::service::ParseServerFlags(args, environment);
  if (!flags.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(flags.status().message()).c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(loraplex::service::ServerUsage(environment).c_str(), stdout);
    return 0;
  }

  absl::StatusOr<std::unique_ptr<loraplex::service::ServerApp>> app =
      loraplex::service::ServerApp::Start(flags->options);
  if (!app.ok()) {
    loraplex::LogError("cannot start: %s", app.status().ToString());
    return 1;
  }

  const int signal_number = WaitForShutdownSignal(signals, **app);
  loraplex::LogInfo(
      "%s received: shutting down gracefully (a second signal "
      "exits at once)",
      strsignal(signal_number));
  std::thread([signals] {
    int again = SIGHUP;
    while (again == SIGHUP) sigwait(&signals, &again);  // Too late to reload.
    loraplex::LogWarning("%s received again: exiting now", strsignal(again));
    _exit(1);
  }).detach();
  (*app)->Shutdown(flags->options.shutdown_grace);
  app->reset();
  return 0;
}
