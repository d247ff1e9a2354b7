// Helpers shared by the libFuzzer targets in fuzz/: one input split into
// two files' contents, scratch files for APIs that read paths, and a check
// that turns a broken invariant into a crash libFuzzer reports.
#ifndef LORAPLEX_FUZZ_FUZZ_SUPPORT_H_
#define LORAPLEX_FUZZ_FUZZ_SUPPORT_H_

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace loraplex::fuzz {

// Crashes (so libFuzzer saves the input) when an invariant does not hold.
#define LORAPLEX_FUZZ_CHECK(condition)                                \
  do {                                                                \
    if (!(condition)) {                                               \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
                   __LINE__, #condition);                             \
      std::abort();                                                   \
    }                                                                 \
  } while (false)

// An input holding two documents: a 4-byte little-endian length n, then n
// bytes (fewer if the input ends first), then the second document. The
// seed corpora are written in this form by fuzz/make_seeds.py.
struct TwoParts {
  std::string_view first;
  std::string_view second;
};

inline TwoParts SplitInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  if (size < 4) return {std::string_view(), std::string_view(text, size)};
  const uint32_t n = static_cast<uint32_t>(data[0]) |
                     static_cast<uint32_t>(data[1]) << 8 |
                     static_cast<uint32_t>(data[2]) << 16 |
                     static_cast<uint32_t>(data[3]) << 24;
  const size_t first = std::min<size_t>(n, size - 4);
  return {std::string_view(text + 4, first),
          std::string_view(text + 4 + first, size - 4 - first)};
}

// A directory of this process's own (on /dev/shm when it exists, so files
// never reach a disk), removed when the process exits normally.
class ScratchDir {
 public:
  static const std::string& Path() {
    static ScratchDir dir;
    return dir.path_;
  }

 private:
  ScratchDir() {
    std::error_code error;
    const char* base =
        std::filesystem::is_directory("/dev/shm", error) ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(base) + "/loraplex_fuzz_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  std::string path_;
};

// Replaces `path` with exactly `bytes`.
inline void WriteWholeFile(const std::string& path, std::string_view bytes) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n =
        ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0) std::abort();
    written += static_cast<size_t>(n);
  }
  ::close(fd);
}

// ScratchDir::Path()/name, holding `bytes`.
inline std::string WriteScratchFile(const std::string& name,
                                    std::string_view bytes) {
  const std::string path = ScratchDir::Path() + "/" + name;
  WriteWholeFile(path, bytes);
  return path;
}

}  // namespace loraplex::fuzz

#endif  // LORAPLEX_FUZZ_FUZZ_SUPPORT_H_
