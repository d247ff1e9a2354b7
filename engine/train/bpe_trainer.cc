#include "engine/train/bpe_trainer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

// An adjacent pair of token ids, ordered as (left, right).
using PairKey = uint64_t;

PairKey MakePair(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}
int32_t LeftOf(PairKey pair) { return static_cast<int32_t>(pair >> 32); }
int32_t RightOf(PairKey pair) {
  return static_cast<int32_t>(pair & 0xFFFFFFFFu);
}

struct Word {
  std::vector<int32_t> symbols;
  int64_t count = 0;
};

struct Candidate {
  int64_t count = 0;
  PairKey pair = 0;
};
// Max-heap order: highest count first, then the smallest pair.
struct CandidateOrder {
  bool operator()(const Candidate& x, const Candidate& y) const {
    if (x.count != y.count) return x.count < y.count;
    return x.pair > y.pair;
  }
};

// Pair statistics over all words, updated as merges are applied.
struct PairStats {
  absl::flat_hash_map<PairKey, int64_t> counts;
  // Words that contain (or once contained) each pair.
  absl::flat_hash_map<PairKey, std::vector<int32_t>> words_with;
};

PairStats CountPairs(const std::vector<Word>& words) {
  PairStats stats;
  for (size_t w = 0; w < words.size(); ++w) {
    const std::vector<int32_t>& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const PairKey pair = MakePair(s[i], s[i + 1]);
      stats.counts[pair] += words[w].count;
      std::vector<int32_t>& list = stats.words_with[pair];
      if (list.empty() || list.back() != static_cast<int32_t>(w)) {
        list.push_back(static_cast<int32_t>(w));
      }
    }
  }
  return stats;
}

// Replaces every (left, right) in `word` by `merged`, left to right without
// overlap, adjusting the counts of the pairs around each replacement (as HF
// tokenizers' BPE trainer does). Pairs that now contain `merged` are
// appended to `created`.
void MergeWord(int32_t word_index, Word& word, PairKey pair, int32_t merged,
               PairStats& stats, std::vector<PairKey>& created) {
  const int32_t left = LeftOf(pair);
  const int32_t right = RightOf(pair);
  std::vector<int32_t>& s = word.symbols;
  const int64_t c = word.count;
  auto add = [&](PairKey p, int64_t delta) {
    stats.counts[p] += delta;
    if (delta > 0) {
      stats.words_with[p].push_back(word_index);
      created.push_back(p);
    }
  };
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] != left || s[i + 1] != right) continue;
    stats.counts[pair] -= c;
    if (i > 0) {
      add(MakePair(s[i - 1], left), -c);
      add(MakePair(s[i - 1], merged), c);
    }
    if (i + 2 < s.size()) {
      add(MakePair(right, s[i + 2]), -c);
      add(MakePair(merged, s[i + 2]), c);
    }
    s[i] = merged;
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(i) + 1);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeTrainer>> BpeTrainer::Create(
    const BpeTrainerOptions& options) {
  if (options.bos_token.empty() || options.eos_token.empty() ||
      options.bos_token == options.eos_token) {
    return absl::InvalidArgumentError(
        "BOS and EOS tokens must be distinct and non-empty");
  }
  // The pre-tokenizer that WriteHfTokenizerFiles declares, built by the
  // engine's tokenizer library: training and encoding split text alike.
  const nlohmann::json config = {{"type", "ByteLevel"},
                                 {"add_prefix_space", false},
                                 {"trim_offsets", true},
                                 {"use_regex", true}};
  ASSIGN_OR_RETURN(std::unique_ptr<PreTokenizer> pre_tokenizer,
                   ParsePreTokenizer(config, "pre_tokenizer"));
  return std::unique_ptr<BpeTrainer>(
      new BpeTrainer(options, std::move(pre_tokenizer)));
}

BpeTrainer::BpeTrainer(const BpeTrainerOptions& options,
                       std::unique_ptr<PreTokenizer> pre_tokenizer)
    : options_(options), pre_tokenizer_(std::move(pre_tokenizer)) {}

BpeTrainer::~BpeTrainer() = default;

absl::Status BpeTrainer::AddText(std::string_view text) {
  const size_t invalid = utf8::FirstInvalidOffset(text);
  if (invalid != text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8 at byte offset ", invalid));
  }
  std::vector<PreToken> pieces = {PreToken{std::string(text), true}};
  pre_tokenizer_->PreTokenize(&pieces);
  for (PreToken& piece : pieces) ++word_counts_[std::move(piece.text)];
  return absl::OkStatus();
}

absl::StatusOr<BpeVocabulary> BpeTrainer::Train() const {
  constexpr int32_t kNumSpecials = 2;
  const int32_t min_vocab = kNumSpecials + 256;
  if (options_.vocab_size < min_vocab) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocab size ", options_.vocab_size, " is too small: the 2 special ",
        "tokens and the 256-character byte alphabet need ", min_vocab));
  }
  BpeVocabulary vocab;
  vocab.bos_token = options_.bos_token;
  vocab.eos_token = options_.eos_token;
  vocab.tokens = {options_.bos_token, options_.eos_token};
  // The alphabet sorted by character, as HF's trainer orders it.
  std::vector<std::string> alphabet;
  for (int b = 0; b < 256; ++b) {
    alphabet.emplace_back(ByteLevelChar(static_cast<uint8_t>(b)));
  }
  std::sort(alphabet.begin(), alphabet.end());
  absl::flat_hash_map<std::string, int32_t> id_of_token;
  for (const std::string& text : alphabet) {
    id_of_token[text] = static_cast<int32_t>(vocab.tokens.size());
    vocab.tokens.push_back(text);
  }

  std::vector<Word> words;
  words.reserve(word_counts_.size());
  for (const auto& [text, count] : word_counts_) {
    Word word;
    word.count = count;
    const std::string_view chars = text;
    for (size_t pos = 0; pos < chars.size();) {
      const size_t length = utf8::ValidCharLength(chars.substr(pos));
      word.symbols.push_back(
          id_of_token.at(std::string(chars.substr(pos, length))));
      pos += length;
    }
    words.push_back(std::move(word));
  }
  PairStats stats = CountPairs(words);
  std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> queue;
  for (const auto& [pair, count] : stats.counts) queue.push({count, pair});

  std::vector<PairKey> created;
  while (static_cast<int32_t>(vocab.tokens.size()) < options_.vocab_size &&
         !queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    // Entries are pushed lazily: a pair's count only falls after it was
    // queued (pairs with the newest token are queued once, complete), so a
    // stale entry is re-queued with its current count.
    const int64_t current = stats.counts[top.pair];
    if (current != top.count) {
      if (current > 0) queue.push({current, top.pair});
      continue;
    }
    if (current < options_.min_frequency) break;
    const std::string& left = vocab.tokens[LeftOf(top.pair)];
    const std::string& right = vocab.tokens[RightOf(top.pair)];
    std::string merged_text = left + right;
    vocab.merges.emplace_back(left, right);
    auto [it, inserted] = id_of_token.try_emplace(
        merged_text, static_cast<int32_t>(vocab.tokens.size()));
    if (inserted) vocab.tokens.push_back(std::move(merged_text));
    const int32_t merged = it->second;

    std::vector<int32_t> targets = std::move(stats.words_with[top.pair]);
    stats.words_with.erase(top.pair);
    std::sort(targets.begin(), targets.end());
    targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
    created.clear();
    for (int32_t w : targets) {
      MergeWord(w, words[w], top.pair, merged, stats, created);
    }
    stats.counts.erase(top.pair);
    std::sort(created.begin(), created.end());
    created.erase(std::unique(created.begin(), created.end()), created.end());
    for (PairKey pair : created) queue.push({stats.counts[pair], pair});
  }
  return vocab;
}

}  // namespace loraplex::engine
