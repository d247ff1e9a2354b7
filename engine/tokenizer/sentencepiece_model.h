// A thin wrapper around libsentencepiece's SentencePieceProcessor, reached
// through SentencePieceBackend (sentencepiece_backend.h explains why).
//
// Errors are plain strings here (no Abseil: see sentencepiece_backend.h);
// sentencepiece_tokenizer.cc turns them into absl::Status.
#ifndef LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_
#define LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loraplex::engine {

class SentencePieceBackend;

// Immutable after Load; every method is safe from several threads.
class SentencePieceModel {
 public:
  // Loads a tokenizer.model file. Null, with *error set, on failure.
  static std::unique_ptr<SentencePieceModel> Load(const std::string& path,
                                                  std::string* error);
  ~SentencePieceModel();

  // Encodes text to ids (no BOS/EOS). False, with *error set, on failure.
  bool Encode(std::string_view text, std::vector<int>* ids,
              std::string* error) const;
  // SentencePiece's own decoding: control pieces decode to nothing, byte
  // pieces to their bytes, the leading space of the first piece is dropped.
  // Every id must be in [0, piece_count()).
  std::string Decode(const std::vector<int>& ids) const;

  int piece_count() const;
  bool IsControl(int id) const;
  const std::string& IdToPiece(int id) const;
  // -1 when `piece` is not in the vocabulary.
  int PieceToId(std::string_view piece) const;
  int bos_id() const;  // -1 when the model has none.
  int eos_id() const;

 private:
  explicit SentencePieceModel(std::unique_ptr<SentencePieceBackend> backend);

  std::unique_ptr<SentencePieceBackend> backend_;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_
