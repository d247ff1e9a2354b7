// Unicode data for NFC/NFD, generated into unicode_nfc_tables.cc by
// generate_unicode_nfc_tables.py (the project does not link ICU).
#ifndef LORAPLEX_ENGINE_TOKENIZER_UNICODE_NFC_TABLES_H_
#define LORAPLEX_ENGINE_TOKENIZER_UNICODE_NFC_TABLES_H_

#include <cstddef>
#include <cstdint>

namespace loraplex::engine::unicode_tables {

// Code points first..last (inclusive) have canonical combining class `ccc`;
// every code point not covered has class 0. Sorted, non-overlapping.
struct CombiningClassRange {
  char32_t first;
  char32_t last;
  uint8_t ccc;
};

// The canonical decomposition mapping of `code_point` (not applied
// recursively): `first`, then `second` unless it is 0 (a singleton).
// `composes` marks primary composites, which NFC recomposes from the pair.
// Sorted by code_point; Hangul syllables are not listed (algorithmic).
struct CanonicalMapping {
  char32_t code_point;
  char32_t first;
  char32_t second;
  bool composes;
};

extern const char kUnicodeVersion[];
extern const CombiningClassRange kCombiningClassRanges[];
extern const size_t kCombiningClassRangeCount;
extern const CanonicalMapping kCanonicalMappings[];
extern const size_t kCanonicalMappingCount;

}  // namespace loraplex::engine::unicode_tables

#endif  // LORAPLEX_ENGINE_TOKENIZER_UNICODE_NFC_TABLES_H_
