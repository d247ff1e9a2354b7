#include "engine/tokenizer/bpe_model.h"

#include <cstdio>
#include <limits>
#include <queue>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/json_fields.h"
#include "engine/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

// A merge waiting in the queue: the pair that starts at symbol `pos`.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  // std::priority_queue pops the largest: make that the lowest rank, then
  // the leftmost position.
  bool operator<(const Candidate& other) const {
    if (rank != other.rank) return rank > other.rank;
    return pos > other.pos;
  }
};

// The two tokens of merges[i], in either serialization: ["a", "b"] or the
// legacy "a b".
absl::StatusOr<std::pair<std::string, std::string>> MergePair(
    const nlohmann::json& merge, absl::string_view path, size_t i) {
  if (merge.is_string()) {
    const std::string line = merge.get<std::string>();
    const size_t space = line.find(' ');
    if (space != std::string::npos &&
        line.find(' ', space + 1) == std::string::npos) {
      return std::make_pair(line.substr(0, space), line.substr(space + 1));
    }
  } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
             merge[1].is_string()) {
    return std::make_pair(merge[0].get<std::string>(),
                          merge[1].get<std::string>());
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, "[", i, "] must be \"a b\" or [\"a\", \"b\"]"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(
    const nlohmann::json& model, absl::string_view path) {
  // Files from tokenizers before 0.9 have no "type"; theirs is BPE when
  // there are merges.
  const bool legacy_bpe =
      json_fields::Optional(model, "type") == nullptr &&
      json_fields::Optional(model, "merges") != nullptr;
  ASSIGN_OR_RETURN(std::string type,
                   legacy_bpe ? absl::StatusOr<std::string>("BPE")
                              : json_fields::RequiredString(model, "type", path));
  if (type != "BPE") {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " type \"", type, "\" is not supported (supported: BPE)"));
  }
  if (const nlohmann::json* dropout = json_fields::Optional(model, "dropout")) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".dropout must be null: BPE dropout makes encoding random"));
    }
  }
  std::unique_ptr<BpeModel> bpe(new BpeModel());
  ASSIGN_OR_RETURN(bpe->continuing_subword_prefix_,
                   json_fields::OptionalString(
                       model, "continuing_subword_prefix", path, ""));
  ASSIGN_OR_RETURN(
      bpe->end_of_word_suffix_,
      json_fields::OptionalString(model, "end_of_word_suffix", path, ""));
  ASSIGN_OR_RETURN(bpe->fuse_unk_,
                   json_fields::OptionalBool(model, "fuse_unk", path, false));
  ASSIGN_OR_RETURN(
      bpe->byte_fallback_,
      json_fields::OptionalBool(model, "byte_fallback", path, false));
  ASSIGN_OR_RETURN(
      bpe->ignore_merges_,
      json_fields::OptionalBool(model, "ignore_merges", path, false));
  ASSIGN_OR_RETURN(const nlohmann::json* vocab,
                   json_fields::Required(model, "vocab", path));
  RETURN_IF_ERROR(bpe->ParseVocab(*vocab, json_fields::Join(path, "vocab")));
  ASSIGN_OR_RETURN(const nlohmann::json* merges,
                   json_fields::Required(model, "merges", path));
  RETURN_IF_ERROR(bpe->ParseMerges(*merges, json_fields::Join(path, "merges")));

  ASSIGN_OR_RETURN(std::string unk_token,
                   json_fields::OptionalString(model, "unk_token", path, ""));
  if (!unk_token.empty()) {
    bpe->unk_id_ = bpe->TokenToId(unk_token);
    if (!bpe->unk_id_) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".unk_token \"", unk_token, "\" is not in the vocabulary"));
    }
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    bpe->byte_token_ids_[b] = bpe->TokenToId(name).value_or(-1);
  }
  return bpe;
}

absl::Status BpeModel::ParseVocab(const nlohmann::json& vocab,
                                  absl::string_view path) {
  if (!vocab.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " must be an object"));
  }
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() >= std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, "[\"", token, "\"] must be a non-negative 32-bit integer"));
    }
    if (!utf8::IsValid(token)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " has a token that is not UTF-8"));
    }
    const auto token_id = static_cast<int32_t>(id.get<int64_t>());
    vocab_[token] = token_id;
    id_to_token_[token_id] = token;
    id_limit_ = std::max(id_limit_, token_id + 1);
  }
  return absl::OkStatus();
}

absl::Status BpeModel::ParseMerges(const nlohmann::json& merges,
                                   absl::string_view path) {
  if (!merges.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " must be a list"));
  }
  const size_t prefix_length = continuing_subword_prefix_.size();
  for (size_t i = 0; i < merges.size(); ++i) {
    ASSIGN_OR_RETURN(auto pair, MergePair(merges[i], path, i));
    const auto& [left, right] = pair;
    const std::optional<int32_t> left_id = TokenToId(left);
    const std::optional<int32_t> right_id = TokenToId(right);
    // As in HF, the right part loses the continuing-subword prefix.
    std::string merged = right.size() >= prefix_length
                             ? left + right.substr(prefix_length)
                             : std::string();
    const std::optional<int32_t> merged_id = TokenToId(merged);
    if (!left_id || !right_id || !merged_id) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, "[", i, "] (\"", left, "\", \"", right,
                       "\") uses a token that is not in the vocabulary"));
    }
    // A repeated pair keeps its later rank, as HF's map does.
    merges_[PairKey(*left_id, *right_id)] =
        MergeResult{static_cast<int32_t>(i), *merged_id};
  }
  return absl::OkStatus();
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  const auto it = vocab_.find(absl::string_view(token.data(), token.size()));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  const auto it = id_to_token_.find(id);
  return it == id_to_token_.end() ? nullptr : &it->second;
}

const BpeModel::MergeResult* BpeModel::FindMerge(int32_t left,
                                                 int32_t right) const {
  const auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

std::vector<int32_t> BpeModel::InitialSymbols(std::string_view word) const {
  std::vector<int32_t> symbols;
  std::optional<int32_t> pending_unk;  // Held back so adjacent ones can fuse.
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t begin = pos;
    utf8::DecodeAt(word, &pos);
    std::string piece(word.substr(begin, pos - begin));
    if (begin > 0) piece.insert(0, continuing_subword_prefix_);
    if (pos == word.size()) piece += end_of_word_suffix_;
    if (std::optional<int32_t> id = TokenToId(piece)) {
      if (pending_unk)
        symbols.push_back(*std::exchange(pending_unk, std::nullopt));
      symbols.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes_known = true;
      for (char b : piece)
        all_bytes_known &= byte_token_ids_[static_cast<uint8_t>(b)] >= 0;
      if (all_bytes_known) {
        // HF does not flush a pending unknown token here; neither do we.
        for (char b : piece)
          symbols.push_back(byte_token_ids_[static_cast<uint8_t>(b)]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && !fuse_unk_) symbols.push_back(*pending_unk);
      pending_unk = unk_id_;
    }
  }
  if (pending_unk) symbols.push_back(*pending_unk);
  return symbols;
}

void BpeModel::MergeSymbols(std::vector<int32_t>* ids) const {
  const int32_t n = static_cast<int32_t>(ids->size());
  if (n < 2) return;
  std::vector<int32_t>& id = *ids;
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  std::priority_queue<Candidate> queue;
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
    if (i + 1 < n) {
      if (const MergeResult* m = FindMerge(id[i], id[i + 1])) {
        queue.push({m->rank, i, m->new_id});
      }
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int32_t right = next[top.pos];
    if (!alive[top.pos] || right < 0) continue;
    const MergeResult* current = FindMerge(id[top.pos], id[right]);
    if (current == nullptr || current->new_id != top.new_id)
      continue;  // Stale.
    id[top.pos] = top.new_id;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    if (prev[top.pos] >= 0) {
      if (const MergeResult* m = FindMerge(id[prev[top.pos]], id[top.pos])) {
        queue.push({m->rank, prev[top.pos], m->new_id});
      }
    }
    if (next[top.pos] >= 0) {
      if (const MergeResult* m = FindMerge(id[top.pos], id[next[top.pos]])) {
        queue.push({m->rank, top.pos, m->new_id});
      }
    }
  }
  size_t write = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (alive[i]) id[write++] = id[i];
  }
  id.resize(write);
}

std::vector<int32_t> BpeModel::TokenizeUncached(std::string_view word) const {
  std::vector<int32_t> symbols = InitialSymbols(word);
  MergeSymbols(&symbols);
  return symbols;
}

void BpeModel::Tokenize(std::string_view word,
                        std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (std::optional<int32_t> id = TokenToId(word)) {
      ids->push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    absl::ReaderMutexLock lock(&cache_mu_);
    const auto it = cache_.find(absl::string_view(word.data(), word.size()));
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> word_ids = TokenizeUncached(word);
  ids->insert(ids->end(), word_ids.begin(), word_ids.end());
  if (cacheable) {
    absl::MutexLock lock(&cache_mu_);
    if (cache_.size() < kCacheCapacity)
      cache_.emplace(word, std::move(word_ids));
  }
}

}  // namespace loraplex::engine
