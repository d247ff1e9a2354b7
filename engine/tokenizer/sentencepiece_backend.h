// The interface between SentencePieceModel and libsentencepiece.
//
// Debian's libsentencepiece carries a private copy of protobuf-lite 3.14 and
// exports its symbols. A process that also has libprotobuf 3.21 (LibTorch and
// gRPC bring it) cannot link both into the global symbol scope: whichever
// comes first, the other's code binds to the wrong protobuf and either
// crashes at start-up or refuses to load models ("compiled against 3.14").
// So sentencepiece_backend.cc, the only code that includes
// sentencepiece_processor.h, is built as a module
// (libloraplex_sentencepiece.so) that sentencepiece_model.cc loads with
// RTLD_LOCAL | RTLD_DEEPBIND: inside the module sentencepiece binds to its own
// protobuf, outside nothing sees it. Everything crosses this boundary through
// virtual calls, which need no symbol lookup. (Sanitizer builds have no
// libprotobuf and link it directly: ASan does not support RTLD_DEEPBIND.)
//
// No Abseil here either: Debian's sentencepiece_processor.h declares
// absl::string_view itself, which clashes with Abseil's.
#ifndef LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_BACKEND_H_
#define LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_BACKEND_H_

#include <string>
#include <string_view>
#include <vector>

namespace loraplex::engine {

// See SentencePieceModel for what each method means.
class SentencePieceBackend {
 public:
  virtual ~SentencePieceBackend() = default;
  virtual bool Encode(std::string_view text, std::vector<int>* ids,
                      std::string* error) const = 0;
  virtual std::string Decode(const std::vector<int>& ids) const = 0;
  virtual int piece_count() const = 0;
  virtual bool IsControl(int id) const = 0;
  virtual const std::string& IdToPiece(int id) const = 0;
  virtual int PieceToId(std::string_view piece) const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
};

// The module's one exported function: loads a tokenizer.model file; null,
// with *error set, on failure.
using LoadSentencePieceBackendFn =
    SentencePieceBackend* (*)(const char* path, std::string* error);
inline constexpr char kLoadSentencePieceBackendSymbol[] =
    "loraplex_load_sentencepiece_backend";

}  // namespace loraplex::engine

extern "C" loraplex::engine::SentencePieceBackend*
loraplex_load_sentencepiece_backend(const char* path, std::string* error);

#endif  // LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_BACKEND_H_
