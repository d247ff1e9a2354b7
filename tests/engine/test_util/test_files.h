// Test-only helpers for tests that need files on disk: a self-deleting
// temporary directory, whole-file read/write, and raw safetensors bytes for
// building malformed files (SafetensorsWriter only writes valid ones).
#ifndef LORAPLEX_TESTS_ENGINE_TEST_UTIL_TEST_FILES_H_
#define LORAPLEX_TESTS_ENGINE_TEST_UTIL_TEST_FILES_H_

#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace loraplex::testing {

// TempDir: tests/support/temp_dir.h (the one temporary-directory helper).

inline void WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot read " << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Copies the contents of directory `from` into directory `to` (created).
inline void CopyDirectory(const std::string& from, const std::string& to) {
  std::filesystem::create_directories(to);
  std::filesystem::copy(from, to,
                        std::filesystem::copy_options::recursive |
                            std::filesystem::copy_options::overwrite_existing);
}

// A safetensors file whose 8-byte prefix declares `declared_length` header
// bytes, followed by `header` and `data` as given.
inline std::string RawSafetensorsWithLength(uint64_t declared_length,
                                            std::string_view header,
                                            std::string_view data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<char>((declared_length >> (8 * i)) & 0xff);
  }
  bytes.append(header);
  bytes.append(data);
  return bytes;
}

inline std::string RawSafetensors(std::string_view header,
                                  std::string_view data) {
  return RawSafetensorsWithLength(header.size(), header, data);
}

// A status message as std::string, which gmock's string matchers take
// (Debian's absl::string_view is not std::string_view).
inline std::string MessageOf(const absl::Status& status) {
  return std::string(status.message());
}

// Little-endian bytes of values (the host is little-endian).
template <typename T>
std::string BytesOf(const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

}  // namespace loraplex::testing

#endif  // LORAPLEX_TESTS_ENGINE_TEST_UTIL_TEST_FILES_H_
