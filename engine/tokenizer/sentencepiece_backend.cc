// libsentencepiece behind SentencePieceBackend (see sentencepiece_backend.h
// for why this file is a module of its own).
#include "engine/tokenizer/sentencepiece_backend.h"

#include <sentencepiece_processor.h>

#include <memory>

namespace loraplex::engine {
namespace {

class ProcessorBackend final : public SentencePieceBackend {
 public:
  explicit ProcessorBackend(
      std::unique_ptr<sentencepiece::SentencePieceProcessor> processor)
      : processor_(std::move(processor)) {}

  bool Encode(std::string_view text, std::vector<int>* ids,
              std::string* error) const override {
    const sentencepiece::util::Status status = processor_->Encode(text, ids);
    if (!status.ok()) {
      *error = status.ToString();
      return false;
    }
    return true;
  }
  std::string Decode(const std::vector<int>& ids) const override {
    return processor_->DecodeIds(ids);
  }
  int piece_count() const override { return processor_->GetPieceSize(); }
  bool IsControl(int id) const override { return processor_->IsControl(id); }
  const std::string& IdToPiece(int id) const override {
    return processor_->IdToPiece(id);
  }
  int PieceToId(std::string_view piece) const override {
    return processor_->PieceToId(piece);
  }
  int bos_id() const override { return processor_->bos_id(); }
  int eos_id() const override { return processor_->eos_id(); }

 private:
  const std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace
}  // namespace loraplex::engine

extern "C" __attribute__((visibility("default")))
loraplex::engine::SentencePieceBackend*
loraplex_load_sentencepiece_backend(const char* path, std::string* error) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const sentencepiece::util::Status status = processor->Load(path);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return new loraplex::engine::ProcessorBackend(std::move(processor));
}
