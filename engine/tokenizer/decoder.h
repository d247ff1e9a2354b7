// Hugging Face tokenizers' decoders: token strings -> text.
// Supported types: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace,
// Sequence. Decoders work on the list of token strings and may change its
// length (Fuse joins everything); the final text is the list joined.
#ifndef LORAPLEX_ENGINE_TOKENIZER_DECODER_H_
#define LORAPLEX_ENGINE_TOKENIZER_DECODER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace loraplex::engine {

// Immutable after parsing; DecodeChain may be called from several threads.
class Decoder {
 public:
  virtual ~Decoder() = default;
  // HF's decode_chain. The result is valid UTF-8 (ByteLevel and
  // ByteFallback replace bytes that are not, as HF does).
  virtual std::vector<std::string> DecodeChain(
      std::vector<std::string> tokens) const = 0;
  // Whether the text of a token list ending in `last_token` may still
  // change when more tokens follow, beyond the U+FFFD that marks a
  // character whose bytes have not all arrived: true for a byte token
  // ("<0xE2>") under ByteFallback, which decodes a run of them as one and
  // replaces every token of a run that is not valid UTF-8.
  virtual bool MayChangeAfter(std::string_view last_token) const {
    return false;
  }
};

// Builds the decoder the JSON `config` describes; `path` names it in
// messages. INVALID_ARGUMENT for unsupported types and bad fields.
absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(
    const nlohmann::json& config, absl::string_view path);

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_DECODER_H_
