// Note [Incremental detokenization]
// Text for a growing id sequence is found by decoding a short window, as
// Hugging Face text-generation-inference and vLLM do. The window starts at
// prefix_offset_ (one emission back) so that decoders which treat the first
// token specially (SentencePiece and Metaspace drop its leading space; Strip
// trims it) treat it the same in both decodes:
//   prefix_text = Decode(ids[prefix_offset_, read_offset_))
//   new_text    = Decode(ids[prefix_offset_, end))
// new_text minus prefix_text is final once new_text is longer and does not
// end in U+FFFD (the mark of a character whose bytes have not all arrived),
// and the last id is not one whose text later ids may still change
// (Tokenizer::DecodeMayChangeAfter: a ByteFallback run, decoded as a whole,
// ends only at a token that is not a byte token).
// Then the window moves: read_offset_ = end, and prefix_offset_ =
// read_offset_ (the old one) if the ids from there decode, on their own, to
// some text. That keeps a decoder that trims the start of the text (Strip
// with "start" > 1 trims several leading spaces, maybe several tokens) from
// trimming past the window's prefix: trimming stopped inside prefix_text.
// Every window starts where emitted text ended on a whole character, so
// decoding from there is prefix-stable and the emitted pieces add up to
// Decode(all ids). Ids that Decode drops anyway (outside the vocabulary, or
// special ones when skipping them) never enter the window, so its length is
// the tokens since the last emission plus one emission: O(1) per token for
// real text.
#include <string>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace loraplex::engine {
namespace {

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Length of the longest common prefix of a and b, moved back to a character
// boundary of both.
size_t CommonPrefixLength(const std::string& a, const std::string& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  while (n > 0 && n < b.size() &&
         (static_cast<unsigned char>(b[n]) & 0xC0) == 0x80) {
    --n;
  }
  return n;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer,
                                               bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDetokenizer::Push(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size()) return std::string();
  if (skip_special_tokens_ && tokenizer_.IsSpecial(id)) return std::string();
  ids_.push_back(id);
  return TakeText(/*flush=*/false);
}

std::string IncrementalDetokenizer::Flush() {
  if (read_offset_ == ids_.size()) return std::string();
  return TakeText(/*flush=*/true);
}

std::string IncrementalDetokenizer::TakeText(bool flush) {
  // Checked before decoding anything: a long ByteFallback run then costs
  // one decode when it ends, not one per token.
  if (!flush && tokenizer_.DecodeMayChangeAfter(ids_.back())) {
    return std::string();
  }
  const absl::Span<const int32_t> ids(ids_);
  const std::string prefix_text = tokenizer_.Decode(
      ids.subspan(prefix_offset_, read_offset_ - prefix_offset_),
      skip_special_tokens_);
  const std::string new_text =
      tokenizer_.Decode(ids.subspan(prefix_offset_), skip_special_tokens_);
  size_t emitted = prefix_text.size();
  if (!flush) {
    if (new_text.size() <= prefix_text.size() ||
        utf8::EndsWithReplacementChar(new_text) ||
        !StartsWith(new_text, prefix_text)) {
      return std::string();
    }
  } else if (!StartsWith(new_text, prefix_text)) {
    // Only a decoder that rewrites earlier text gets here (none of the
    // supported ones does); emit from where the texts differ.
    emitted = CommonPrefixLength(prefix_text, new_text);
  }
  if (!tokenizer_.Decode(ids.subspan(read_offset_), skip_special_tokens_)
           .empty()) {
    prefix_offset_ = read_offset_;
  }
  read_offset_ = ids_.size();
  return new_text.substr(emitted);
}

}  // namespace loraplex::engine
