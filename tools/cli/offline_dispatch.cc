#include "tools/cli/offline_dispatch.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "tools/cli/cli_command.h"

namespace loraplex::cli {
namespace {

// The directory of the running executable ("" when /proc cannot say).
std::string OwnDirectory() {
  std::string path(4096, '\0');
  const ssize_t size = readlink("/proc/self/exe", path.data(), path.size());
  if (size <= 0 || static_cast<size_t>(size) >= path.size()) return "";
  path.resize(static_cast<size_t>(size));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

int ExecOfflineTool(const char* command, const std::vector<std::string>& args,
                    std::ostream& out, std::ostream& err) {
  const std::string directory = OwnDirectory();
  if (directory.empty()) {
    err << "loraplex: cannot find its own directory (/proc/self/exe), where "
        << kOfflineToolName << " runs `" << command << "`\n";
    return kExitFailure;
  }
  const std::string tool = absl::StrCat(directory, "/", kOfflineToolName);
  std::vector<std::string> words = {tool, command};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  // Nothing buffered may be lost with this process image.
  out.flush();
  err.flush();
  std::cout.flush();
  std::cerr.flush();
  execv(tool.c_str(), argv.data());
  const int error = errno;
  err << "loraplex: `" << command << "` runs in " << tool
      << ", which could not be started: " << std::strerror(error) << "\n";
  return kExitFailure;
}

}  // namespace

int RunBatchInOfflineTool(const std::vector<std::string>& args,
                          std::istream& /*in*/, std::ostream& out,
                          std::ostream& err) {
  return ExecOfflineTool("batch", args, out, err);
}

int RunTokenizeInOfflineTool(const std::vector<std::string>& args,
                             std::istream& /*in*/, std::ostream& out,
                             std::ostream& err) {
  return ExecOfflineTool("tokenize", args, out, err);
}

}  // namespace loraplex::cli
