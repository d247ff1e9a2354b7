// Helpers shared by the tokenizer tests.
#ifndef LORAPLEX_TESTS_ENGINE_TOKENIZER_TOKENIZER_TEST_UTIL_H_
#define LORAPLEX_TESTS_ENGINE_TOKENIZER_TOKENIZER_TEST_UTIL_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine::testing {

inline std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// tests/data/fixtures/tokenizers/<name> (reference outputs of HF tokenizers
// 0.23.2 and sentencepiece 0.2.2; see tests/data/fixtures/README.md).
inline std::string TokenizerFixtureDir(const std::string& name) {
  return std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/tokenizers/" + name;
}

struct TokenizerCase {
  std::string text;
  std::vector<int32_t> ids;
  std::string decoded;
};

inline std::vector<TokenizerCase> LoadTokenizerCases(const std::string& name) {
  const nlohmann::json json = nlohmann::json::parse(
      ReadTestFile(TokenizerFixtureDir(name) + "/expected.json"));
  std::vector<TokenizerCase> cases;
  for (const auto& c : json.at("cases")) {
    cases.push_back({c.at("text").get<std::string>(),
                     c.at("ids").get<std::vector<int32_t>>(),
                     c.at("decoded").get<std::string>()});
  }
  return cases;
}

// An independent UTF-8 validator (RFC 3629), so the tests do not check the
// library with its own code.
inline bool IsStrictUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// Streams `ids` through an IncrementalDetokenizer; returns the pieces, the
// last one from Flush().
inline std::vector<std::string> StreamPieces(const Tokenizer& tokenizer,
                                             const std::vector<int32_t>& ids,
                                             bool skip_special_tokens) {
  IncrementalDetokenizer detokenizer(tokenizer, skip_special_tokens);
  std::vector<std::string> pieces;
  for (int32_t id : ids) pieces.push_back(detokenizer.Push(id));
  pieces.push_back(detokenizer.Flush());
  return pieces;
}

// A tokenizer.json whose BPE vocabulary is `tokens` (id = index) with
// `merges`; every other component is null, for tests to fill in.
inline nlohmann::json BpeTokenizerJson(
    const std::vector<std::string>& tokens,
    nlohmann::json merges = nlohmann::json::array()) {
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  return {{"version", "1.0"},
          {"added_tokens", nlohmann::json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"vocab", vocab},
            {"merges", merges}}}};
}

// Printable ASCII (id = code - 32, so ' ' is 0 and 'a' is 65).
inline std::vector<std::string> AsciiTokens() {
  std::vector<std::string> tokens;
  for (char c = ' '; c <= '~'; ++c) tokens.emplace_back(1, c);
  return tokens;
}
inline int32_t AsciiId(char c) { return c - ' '; }

inline nlohmann::json AddedTokenJson(int32_t id, const std::string& content,
                                     bool special) {
  return {{"id", id},          {"content", content}, {"single_word", false},
          {"lstrip", false},   {"rstrip", false},    {"normalized", !special},
          {"special", special}};
}

// Builds a tokenizer from `json`, failing the test if it cannot.
inline std::unique_ptr<Tokenizer> MustCreate(const nlohmann::json& json) {
  auto tokenizer = Tokenizer::FromHfJson(json.dump());
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

}  // namespace loraplex::engine::testing

#endif  // LORAPLEX_TESTS_ENGINE_TOKENIZER_TOKENIZER_TEST_UTIL_H_
