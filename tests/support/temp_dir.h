// The one temporary-directory helper of the tests: a fresh directory,
// removed with everything in it when the object goes away. Header-only, so
// that every test target (the sanitizer builds' too) can use it without
// linking anything.
#ifndef LORAPLEX_TESTS_SUPPORT_TEMP_DIR_H_
#define LORAPLEX_TESTS_SUPPORT_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "gtest/gtest.h"

namespace loraplex::testing {

class TempDir {
 public:
  // Under $TEST_TMPDIR, else $TMPDIR, else /tmp. A failure to create it
  // fails the test (and leaves path() empty).
  TempDir() {
    std::string base = "/tmp";
    for (const char* variable : {"TEST_TMPDIR", "TMPDIR"}) {
      const char* value = std::getenv(variable);
      if (value != nullptr && *value != '\0') {
        base = value;
        break;
      }
    }
    std::string pattern = base + "/loraplex_test_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << pattern;
      return;
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string Join(std::string_view name) const {
    return path_ + "/" + std::string(name);
  }

 private:
  std::string path_;
};

}  // namespace loraplex::testing

#endif  // LORAPLEX_TESTS_SUPPORT_TEMP_DIR_H_
