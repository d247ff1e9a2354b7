#include "service/frontend/error_scrubber.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/registry/adapter_record.h"

namespace loraplex::service {
namespace {

// Characters that end a path inside a message.
bool EndsPath(char c) {
  return absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '"' ||
         c == '\'' || c == ',' || c == ';' || c == ':' || c == '(' ||
         c == ')' || c == '[' || c == ']';
}

std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// The spellings of `dir` a message may contain.
std::vector<std::string> Spellings(const std::string& dir) {
  std::vector<std::string> spellings;
  if (dir.empty()) return spellings;
  spellings.push_back(WithoutTrailingSlashes(dir));
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(dir, error);
  if (!error) {
    spellings.push_back(
        WithoutTrailingSlashes(absolute.lexically_normal().string()));
  }
  const std::filesystem::path canonical =
      std::filesystem::weakly_canonical(dir, error);
  if (!error) spellings.push_back(WithoutTrailingSlashes(canonical.string()));
  // "/" or "." would match everywhere: never a prefix.
  spellings.erase(std::remove_if(spellings.begin(), spellings.end(),
                                 [](const std::string& path) {
                                   return path == "/" || path == "." ||
                                          path.empty();
                                 }),
                  spellings.end());
  return spellings;
}

// "<name>@<32 hex digits>" -> "<name>": engine adapter ids lose their
// version.
std::string DropVersions(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t at = text.find('@', i);
    if (at == absl::string_view::npos) break;
    out.append(text.data() + i, at - i);
    const absl::string_view rest = text.substr(at + 1);
    const bool is_version =
        at > 0 && rest.size() >= 32 && IsVersionId(rest.substr(0, 32)) &&
        (rest.size() == 32 ||
         !absl::ascii_isalnum(static_cast<unsigned char>(rest[32])));
    if (is_version) {
      i = at + 1 + 32;
    } else {
      out.push_back('@');
      i = at + 1;
    }
  }
  out.append(text.data() + i, text.size() - i);
  return out;
}

}  // namespace

ErrorScrubber::ErrorScrubber(const std::string& registry_dir,
                             const std::string& model_dir) {
  for (std::string& path : Spellings(registry_dir)) {
    prefixes_.push_back(Prefix{std::move(path), Root::kRegistry});
  }
  for (std::string& path : Spellings(model_dir)) {
    // A bare relative model directory ("demo") is too likely a name too.
    if (path.front() != '/' && path.find('/') == std::string::npos) continue;
    prefixes_.push_back(Prefix{std::move(path), Root::kModel});
  }
  // Longest first, so that a directory inside another is matched whole.
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const Prefix& a, const Prefix& b) {
                     return a.path.size() > b.path.size();
                   });
}

std::string ErrorScrubber::Replace(Root root, absl::string_view relative) {
  if (root == Root::kModel) return absl::StrCat("<model>", relative);
  const std::vector<absl::string_view> parts =
      absl::StrSplit(relative, '/', absl::SkipEmpty());
  if (parts.size() >= 3 && parts[0] == "adapters") {
    const size_t at = parts[2].find('@');
    std::string out = absl::StrCat(parts[1], "/", parts[2].substr(0, at));
    for (size_t i = 3; i < parts.size(); ++i)
      absl::StrAppend(&out, "/", parts[i]);
    return out;
  }
  if (parts.size() >= 2 && parts[0] == ".staging") {
    std::string out = "<upload>";
    for (size_t i = 2; i < parts.size(); ++i)
      absl::StrAppend(&out, "/", parts[i]);
    return out;
  }
  return "<registry>";
}

std::string ErrorScrubber::Scrub(absl::string_view message) const {
  std::string out;
  size_t i = 0;
  while (i < message.size()) {
    // The earliest prefix occurrence that starts a path (not in the middle
    // of a longer name) and is followed by '/' or the end of the path.
    size_t best = absl::string_view::npos;
    const Prefix* best_prefix = nullptr;
    for (const Prefix& prefix : prefixes_) {
      size_t from = i;
      while (true) {
        const size_t found = message.find(prefix.path, from);
        if (found == absl::string_view::npos) break;
        const size_t end = found + prefix.path.size();
        const bool starts_path = found == 0 || EndsPath(message[found - 1]);
        // A relative spelling ("models/demo") alone could be a word or a
        // name (the tenant "demo"): only as a directory prefix.
        const bool relative = prefix.path.front() != '/';
        const bool whole =
            (end < message.size() && message[end] == '/') ||
            (!relative && (end == message.size() || EndsPath(message[end])));
        if (starts_path && whole) {
          if (found < best) {
            best = found;
            best_prefix = &prefix;
          }
          break;
        }
        from = found + 1;
      }
    }
    if (best_prefix == nullptr) break;
    out.append(message.data() + i, best - i);
    size_t end = best + best_prefix->path.size();
    while (end < message.size() && !EndsPath(message[end])) ++end;
    const absl::string_view relative = message.substr(
        best + best_prefix->path.size(), end - best - best_prefix->path.size());
    out += Replace(best_prefix->root, relative);
    i = end;
  }
  out.append(message.data() + i, message.size() - i);
  return DropVersions(out);
}

absl::Status ErrorScrubber::Scrub(const absl::Status& status) const {
  if (status.ok()) return status;
  return absl::Status(status.code(), Scrub(status.message()));
}

}  // namespace loraplex::service
