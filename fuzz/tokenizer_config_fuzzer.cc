// Fuzzes ParseTokenizerConfig (tokenizer_config.json) and applies what it
// parses to a small byte-level BPE tokenizer (HfTokenizer::Create), as
// Tokenizer::Load does: add_bos_token/add_eos_token and special tokens
// given as strings or AddedToken objects.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/tokenizer/hf_tokenizer.h"
#include "engine/tokenizer/tokenizer_config.h"
#include "fuzz/fuzz_support.h"

namespace {

// A byte-level BPE over a few ASCII tokens with <s> and </s> added.
constexpr std::string_view kTokenizerJson = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<s>", "single_word": false, "lstrip": false,
     "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "</s>", "single_word": false, "lstrip": false,
     "rstrip": false, "normalized": false, "special": true}],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
                    "trim_offsets": true, "use_regex": true},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
               {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [{"Sequence": {"id": "A", "type_id": 0}},
             {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}},
  "decoder": {"type": "ByteLevel", "add_prefix_space": true,
              "trim_offsets": true, "use_regex": true},
  "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": {"<s>": 0, "</s>": 1, "a": 2, "b": 3, "c": 4, "ab": 5,
                      "\u0120": 6, "\u0120a": 7},
            "merges": ["a b", "\u0120 a"]}
})";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Without a config the tokenizer must load, or nothing is tested.
  if (!loraplex::engine::HfTokenizer::Create(
           kTokenizerJson, loraplex::engine::TokenizerConfig())
           .ok()) {
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loraplex::engine;
  auto config = ParseTokenizerConfig(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!config.ok()) return 0;
  auto tokenizer = HfTokenizer::Create(kTokenizerJson, *config);
  if (!tokenizer.ok()) return 0;  // E.g. a bos_token the vocabulary lacks.
  auto ids = (*tokenizer)->Encode("ab a", /*add_special_tokens=*/true);
  LORAPLEX_FUZZ_CHECK(ids.ok());
  for (int32_t id : *ids) {
    LORAPLEX_FUZZ_CHECK(id >= 0 && id < (*tokenizer)->vocab_size());
  }
  return 0;
}
