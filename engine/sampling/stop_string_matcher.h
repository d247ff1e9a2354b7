// Stop strings over streamed text: holds back just enough text that a stop
// string split across tokens is still caught, and cuts the output before it.
#ifndef LORAPLEX_ENGINE_SAMPLING_STOP_STRING_MATCHER_H_
#define LORAPLEX_ENGINE_SAMPLING_STOP_STRING_MATCHER_H_

#include <string>
#include <string_view>
#include <vector>

namespace loraplex::engine {

// Push() emits everything except (a) the longest tail of the text so far that
// is the beginning of some stop string (at most longest stop - 1 bytes),
// moved back to a UTF-8 character boundary, and (b) a character at the very
// end whose UTF-8 bytes have not all arrived yet, so emitted text never ends
// inside a character. When stop strings match in overlapping places, the
// one that starts earliest in the text wins. Empty stop strings are ignored.
// Not thread-safe; one per sequence.
class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stop_strings);

  struct Result {
    std::string text;      // Safe to emit now (never part of a stop string).
    bool stopped = false;  // A stop string matched; `text` ends before it.
  };

  // Appends newly decoded text. Once stopped, further calls return nothing.
  Result Push(std::string_view piece);
  // End of generation without a match: releases the held-back text.
  std::string Flush();

 private:
  // Length of the longest suffix of pending_ that is a proper prefix of a
  // stop string.
  size_t LongestPartialStop() const;

  std::vector<std::string> stops_;
  size_t max_stop_len_ = 0;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_SAMPLING_STOP_STRING_MATCHER_H_
