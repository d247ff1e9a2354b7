#include "engine/tokenizer/sentencepiece_model.h"

#include <sentencepiece_processor.h>

#include <utility>

namespace loraplex::engine {

SentencePieceModel::SentencePieceModel(
    std::unique_ptr<sentencepiece::SentencePieceProcessor> processor)
    : processor_(std::move(processor)) {}

SentencePieceModel::~SentencePieceModel() = default;

std::unique_ptr<SentencePieceModel> SentencePieceModel::Load(
    const std::string& path, std::string* error) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const sentencepiece::util::Status status = processor->Load(path);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::unique_ptr<SentencePieceModel>(
      new SentencePieceModel(std::move(processor)));
}

bool SentencePieceModel::Encode(std::string_view text, std::vector<int>* ids,
                                std::string* error) const {
  const sentencepiece::util::Status status = processor_->Encode(text, ids);
  if (!status.ok()) {
    *error = status.ToString();
    return false;
  }
  return true;
}

std::string SentencePieceModel::Decode(const std::vector<int>& ids) const {
  return processor_->DecodeIds(ids);
}

int SentencePieceModel::piece_count() const {
  return processor_->GetPieceSize();
}

bool SentencePieceModel::IsControl(int id) const {
  return processor_->IsControl(id);
}

const std::string& SentencePieceModel::IdToPiece(int id) const {
  return processor_->IdToPiece(id);
}

int SentencePieceModel::PieceToId(std::string_view piece) const {
  // SentencePiece answers the unknown token's id for unknown pieces.
  const int id = processor_->PieceToId(piece);
  return id >= 0 && processor_->IdToPiece(id) == piece ? id : -1;
}

int SentencePieceModel::bos_id() const { return processor_->bos_id(); }

int SentencePieceModel::eos_id() const { return processor_->eos_id(); }

}  // namespace loraplex::engine
