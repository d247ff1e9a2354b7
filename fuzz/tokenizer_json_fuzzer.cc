// Fuzzes HfTokenizer::Create (tokenizer.json: BPE model, added tokens,
// normalizer, pre-tokenizer, post-processor, decoder) and, when it loads,
// encodes the input's second part and decodes the result, checking the
// contracts tokenizer.h states: ids in the vocabulary, Decode and the
// incremental detokenizer agree and produce valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "engine/tokenizer/hf_tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace loraplex::engine;

void CheckDecoding(const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                   bool skip_special) {
  const std::string text = tokenizer.Decode(ids, skip_special);
  LORAPLEX_FUZZ_CHECK(utf8::IsValid(text));
  IncrementalDetokenizer incremental(tokenizer, skip_special);
  std::string streamed;
  for (int32_t id : ids) streamed += incremental.Push(id);
  streamed += incremental.Flush();
  if (streamed != text) {
    std::fprintf(stderr, "Decode:   \"%s\"\nstreamed: \"%s\"\nids:",
                 absl::CEscape(text).c_str(), absl::CEscape(streamed).c_str());
    for (int32_t id : ids) std::fprintf(stderr, " %d", id);
    std::fprintf(stderr, "\n");
  }
  LORAPLEX_FUZZ_CHECK(streamed == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const loraplex::fuzz::TwoParts parts = loraplex::fuzz::SplitInput(data, size);
  auto tokenizer = HfTokenizer::Create(parts.first, TokenizerConfig());
  if (!tokenizer.ok()) return 0;
  const Tokenizer& t = **tokenizer;
  // The tokenizer is what is fuzzed; 1 KiB of text exercises it and keeps
  // each run short (every id is pushed through the detokenizer).
  const std::string_view text = parts.second.substr(0, 1024);
  for (bool special : {false, true}) {
    auto ids = t.Encode(text, special);
    if (!ids.ok()) {
      LORAPLEX_FUZZ_CHECK(!utf8::IsValid(text));
      continue;
    }
    for (int32_t id : *ids) {
      LORAPLEX_FUZZ_CHECK(id >= 0 && id < t.vocab_size());
    }
    CheckDecoding(t, *ids, /*skip_special=*/special);
  }
  // Arbitrary ids, some outside the vocabulary.
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < text.size() && ids.size() < 64; i += 2) {
    ids.push_back(static_cast<int32_t>(static_cast<uint8_t>(text[i]) << 8 |
                                       static_cast<uint8_t>(text[i + 1])) %
                      (t.vocab_size() + 8) -
                  4);
  }
  CheckDecoding(t, ids, /*skip_special=*/false);
  return 0;
}
