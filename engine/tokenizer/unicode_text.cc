#include "engine/tokenizer/unicode_text.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/tokenizer/unicode_nfc_tables.h"
#include "engine/tokenizer/utf8.h"
#include "re2/re2.h"

namespace loraplex::engine::unicode {
namespace {

// Hangul syllables compose and decompose algorithmically (Unicode 3.12).
constexpr char32_t kHangulBase = 0xAC00;
constexpr char32_t kLeadBase = 0x1100;
constexpr char32_t kVowelBase = 0x1161;
constexpr char32_t kTrailBase = 0x11A7;
constexpr int kLeadCount = 19;
constexpr int kVowelCount = 21;
constexpr int kTrailCount = 28;
constexpr int kSyllableCount = kLeadCount * kVowelCount * kTrailCount;

bool IsHangulSyllable(char32_t c) {
  return c >= kHangulBase && c < kHangulBase + kSyllableCount;
}

uint8_t CombiningClass(char32_t c) {
  if (c < 0x300) return 0;
  using unicode_tables::CombiningClassRange;
  const CombiningClassRange* begin = unicode_tables::kCombiningClassRanges;
  const CombiningClassRange* end =
      begin + unicode_tables::kCombiningClassRangeCount;
  const CombiningClassRange* it = std::upper_bound(
      begin, end, c, [](char32_t value, const CombiningClassRange& r) {
        return value < r.first;
      });
  if (it == begin) return 0;
  --it;
  return c <= it->last ? it->ccc : 0;
}

const unicode_tables::CanonicalMapping* FindMapping(char32_t c) {
  using unicode_tables::CanonicalMapping;
  const CanonicalMapping* begin = unicode_tables::kCanonicalMappings;
  const CanonicalMapping* end = begin + unicode_tables::kCanonicalMappingCount;
  const CanonicalMapping* it = std::lower_bound(
      begin, end, c, [](const CanonicalMapping& m, char32_t value) {
        return m.code_point < value;
      });
  return it != end && it->code_point == c ? it : nullptr;
}

void AppendDecomposition(char32_t c, std::vector<char32_t>* out) {
  if (IsHangulSyllable(c)) {
    const int index = static_cast<int>(c - kHangulBase);
    out->push_back(kLeadBase + index / (kVowelCount * kTrailCount));
    out->push_back(kVowelBase +
                   (index % (kVowelCount * kTrailCount)) / kTrailCount);
    if (index % kTrailCount != 0)
      out->push_back(kTrailBase + index % kTrailCount);
    return;
  }
  const unicode_tables::CanonicalMapping* mapping = FindMapping(c);
  if (mapping == nullptr) {
    out->push_back(c);
    return;
  }
  AppendDecomposition(mapping->first, out);
  if (mapping->second != 0) AppendDecomposition(mapping->second, out);
}

// Full canonical decomposition followed by the canonical ordering algorithm
// (stable sort of each run of non-starters by combining class).
std::vector<char32_t> DecomposeAndOrder(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size())
    AppendDecomposition(utf8::DecodeAt(text, &pos), &out);
  size_t run_begin = 0;
  while (run_begin < out.size()) {
    if (CombiningClass(out[run_begin]) == 0) {
      ++run_begin;
      continue;
    }
    size_t run_end = run_begin;
    while (run_end < out.size() && CombiningClass(out[run_end]) != 0) ++run_end;
    std::stable_sort(out.begin() + run_begin, out.begin() + run_end,
                     [](char32_t a, char32_t b) {
                       return CombiningClass(a) < CombiningClass(b);
                     });
    run_begin = run_end;
  }
  return out;
}

uint64_t PairKey(char32_t first, char32_t second) {
  return (static_cast<uint64_t>(first) << 32) | second;
}

// Primary composites by their (first, second) decomposition.
const absl::flat_hash_map<uint64_t, char32_t>& CompositionTable() {
  static const auto* table = [] {
    auto* map = new absl::flat_hash_map<uint64_t, char32_t>();
    for (size_t i = 0; i < unicode_tables::kCanonicalMappingCount; ++i) {
      const auto& m = unicode_tables::kCanonicalMappings[i];
      if (m.composes) (*map)[PairKey(m.first, m.second)] = m.code_point;
    }
    return map;
  }();
  return *table;
}

// The primary composite of `first` and `second`, or 0 if there is none.
char32_t Compose(char32_t first, char32_t second) {
  if (first >= kLeadBase && first < kLeadBase + kLeadCount &&
      second >= kVowelBase && second < kVowelBase + kVowelCount) {
    return kHangulBase +
           ((first - kLeadBase) * kVowelCount + (second - kVowelBase)) *
               kTrailCount;
  }
  if (IsHangulSyllable(first) && (first - kHangulBase) % kTrailCount == 0 &&
      second > kTrailBase && second < kTrailBase + kTrailCount) {
    return first + (second - kTrailBase);
  }
  const auto& table = CompositionTable();
  const auto it = table.find(PairKey(first, second));
  return it == table.end() ? 0 : it->second;
}

// The canonical composition algorithm (UAX #15): a character combines with
// the last starter unless a character between them blocks it.
void ComposeInPlace(std::vector<char32_t>* chars) {
  std::vector<char32_t>& c = *chars;
  if (c.empty()) return;
  size_t starter = 0;
  size_t write = 1;
  // 256 blocks everything: the text starts with a non-starter.
  int last_class = CombiningClass(c[0]) == 0 ? 0 : 256;
  for (size_t read = 1; read < c.size(); ++read) {
    const char32_t ch = c[read];
    const int ch_class = CombiningClass(ch);
    const char32_t composite = Compose(c[starter], ch);
    if (composite != 0 && (last_class < ch_class || last_class == 0)) {
      c[starter] = composite;
      continue;
    }
    if (ch_class == 0) starter = write;
    last_class = ch_class;
    c[write++] = ch;
  }
  c.resize(write);
}

std::string Encode(const std::vector<char32_t>& chars) {
  std::string out;
  out.reserve(chars.size());
  for (char32_t c : chars) utf8::Append(c, &out);
  return out;
}

// NFC leaves text unchanged when every character is below U+0300 (UTF-8 lead
// bytes below 0xCC): nothing there combines with a preceding character, and
// the precomposed Latin letters there are already in NFC.
bool AllBelowCombiningMarks(std::string_view text) {
  return std::none_of(text.begin(), text.end(),
                      [](char b) { return static_cast<uint8_t>(b) >= 0xCC; });
}

}  // namespace

bool IsWhiteSpace(char32_t c) {
  switch (c) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool IsWordChar(char32_t c) {
  if (c < 0x80) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
  }
  static const RE2* const kWordChar =
      new RE2(R"([\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}])");
  std::string encoded;
  utf8::Append(c, &encoded);
  return RE2::FullMatch(encoded, *kWordChar);
}

size_t LeadingWhiteSpaceLength(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = pos;
    if (!IsWhiteSpace(utf8::DecodeAt(text, &next))) break;
    pos = next;
  }
  return pos;
}

size_t TrailingWhiteSpaceStart(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    const size_t start = utf8::LastCharStart(text.substr(0, end));
    size_t pos = start;
    if (!IsWhiteSpace(utf8::DecodeAt(text, &pos))) break;
    end = start;
  }
  return end;
}

std::string ToNfc(std::string_view text) {
  if (AllBelowCombiningMarks(text)) return std::string(text);
  std::vector<char32_t> chars = DecomposeAndOrder(text);
  ComposeInPlace(&chars);
  return Encode(chars);
}

std::string ToNfd(std::string_view text) {
  bool ascii = std::none_of(text.begin(), text.end(), [](char b) {
    return static_cast<uint8_t>(b) >= 0x80;
  });
  if (ascii) return std::string(text);
  return Encode(DecomposeAndOrder(text));
}

}  // namespace loraplex::engine::unicode
