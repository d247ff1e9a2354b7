#include "engine/sampling/stop_string_matcher.h"

#include <algorithm>

namespace loraplex::engine {
namespace {

bool IsContinuationByte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Bytes in the UTF-8 sequence that `lead` starts; 0 if it cannot start one.
size_t SequenceLength(char lead) {
  const unsigned char c = static_cast<unsigned char>(lead);
  if (c < 0x80) {
    return 1;
  }
  if ((c & 0xE0) == 0xC0) {
    return 2;
  }
  if ((c & 0xF0) == 0xE0) {
    return 3;
  }
  if ((c & 0xF8) == 0xF0) {
    return 4;
  }
  return 0;
}

// Where a character that is still being decoded starts at the end of
// `text` (a lead byte missing some continuation bytes), else text.size().
size_t IncompleteCharacterStart(const std::string& text) {
  for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    const char c = text[text.size() - back];
    if (IsContinuationByte(c)) {
      continue;
    }
    return SequenceLength(c) > back ? text.size() - back : text.size();
  }
  return text.size();
}

// Moves `pos` back to the start of the character it falls in (at most 3
// bytes: further back the text is not UTF-8 and any cut is as good).
size_t CharacterBoundaryAtOrBefore(const std::string& text, size_t pos) {
  for (int steps = 0; steps < 3 && pos > 0 && pos < text.size() &&
                      IsContinuationByte(text[pos]);
       ++steps) {
    --pos;
  }
  return pos;
}

}  // namespace

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings) {
  for (std::string& stop : stop_strings) {
    if (stop.empty()) {
      continue;  // Would match everywhere: ignored.
    }
    max_stop_len_ = std::max(max_stop_len_, stop.size());
    stops_.push_back(std::move(stop));
  }
}

size_t StopStringMatcher::LongestPartialStop() const {
  size_t longest = 0;
  for (const std::string& stop : stops_) {
    for (size_t len = std::min(stop.size() - 1, pending_.size()); len > longest;
         --len) {
      if (pending_.compare(pending_.size() - len, len, stop, 0, len) == 0) {
        longest = len;
        break;
      }
    }
  }
  return longest;
}

StopStringMatcher::Result StopStringMatcher::Push(std::string_view piece) {
  Result result;
  if (stopped_) {
    return result;
  }
  pending_.append(piece.data(), piece.size());
  // Held-back text holds no complete stop string, so a match found now is
  // new; the earliest one in the text wins.
  size_t earliest = std::string::npos;
  for (const std::string& stop : stops_) {
    earliest = std::min(earliest, pending_.find(stop));
  }
  if (earliest != std::string::npos) {
    result.text = pending_.substr(0, earliest);
    result.stopped = true;
    stopped_ = true;
    pending_.clear();
    return result;
  }
  size_t emit = pending_.size() - LongestPartialStop();
  emit = std::min(emit, IncompleteCharacterStart(pending_));
  emit = CharacterBoundaryAtOrBefore(pending_, emit);
  result.text = pending_.substr(0, emit);
  pending_.erase(0, emit);
  return result;
}

std::string StopStringMatcher::Flush() {
  std::string out;
  if (!stopped_) {
    out.swap(pending_);
  }
  pending_.clear();
  return out;
}

}  // namespace loraplex::engine
