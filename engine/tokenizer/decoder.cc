#include "engine/tokenizer/decoder.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/json_fields.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/split_pattern.h"
#include "engine/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace loraplex::engine {
namespace {

class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(
      std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens)
      AppendByteLevelDecoded(token, &bytes);
    return {utf8::FromBytesLossy(bytes)};
  }
};

// "<0x41>" -> 0x41, as HF's ByteFallback decoder recognizes byte tokens.
std::optional<uint8_t> ByteToken(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') {
    return std::nullopt;
  }
  int value = 0;
  for (char c : token.substr(3, 2)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

class ByteFallbackDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(
      std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending_bytes;
    const auto flush = [&] {
      if (pending_bytes.empty()) return;
      if (utf8::IsValid(pending_bytes)) {
        out.push_back(pending_bytes);
      } else {
        // HF replaces each byte of an invalid run, not each invalid sequence.
        for (size_t i = 0; i < pending_bytes.size(); ++i) {
          out.emplace_back(utf8::kReplacementChar);
        }
      }
      pending_bytes.clear();
    };
    for (std::string& token : tokens) {
      if (std::optional<uint8_t> byte = ByteToken(token)) {
        pending_bytes.push_back(static_cast<char>(*byte));
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    return out;
  }
  bool MayChangeAfter(std::string_view last_token) const override {
    return ByteToken(last_token).has_value();
  }
};

class FuseDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(
      std::vector<std::string> tokens) const override {
    return {absl::StrJoin(tokens, "")};
  }
};

// Removes up to `start` leading and `stop` trailing `content` characters
// from every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, int64_t start, int64_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}

  std::vector<std::string> DecodeChain(
      std::vector<std::string> tokens) const override {
    for (std::string& token : tokens) {
      std::string_view text = token;
      for (int64_t i = 0;
           i < start_ && text.substr(0, content_.size()) == content_; ++i) {
        text.remove_prefix(content_.size());
      }
      for (int64_t i = 0;
           i < stop_ && text.size() >= content_.size() &&
           text.substr(text.size() - content_.size()) == content_;
           ++i) {
        text.remove_suffix(content_.size());
      }
      token = std::string(text);
    }
    return tokens;
  }

 private:
  std::string content_;
  int64_t start_;
  int64_t stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<SplitPattern> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}

  std::vector<std::string> DecodeChain(
      std::vector<std::string> tokens) const override {
    for (std::string& token : tokens) {
      std::string replaced;
      for (const PatternSpan& span : pattern_->FindMatches(token)) {
        if (span.is_match) {
          replaced += content_;
        } else {
          replaced.append(token, span.begin, span.end - span.begin);
        }
      }
      token = std::move(replaced);
    }
    return tokens;
  }

 private:
  std::unique_ptr<SplitPattern> pattern_;
  std::string content_;
};

// Replacement characters become spaces, except in the first token when the
// pre-tokenizer prepended one there (HF drops every one in that token).
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool drop_in_first_token)
      : replacement_(std::move(replacement)),
        drop_in_first_token_(drop_in_first_token) {}

  std::vector<std::string> DecodeChain(
      std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string_view space = i == 0 && drop_in_first_token_ ? "" : " ";
      std::string out;
      std::string_view text = tokens[i];
      size_t found;
      while ((found = text.find(replacement_)) != std::string_view::npos) {
        out.append(text.substr(0, found));
        out.append(space);
        text.remove_prefix(found + replacement_.size());
      }
      out.append(text);
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  std::string replacement_;
  bool drop_in_first_token_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps)
      : steps_(std::move(steps)) {}

  std::vector<std::string> DecodeChain(
      std::vector<std::string> tokens) const override {
    for (const auto& step : steps_)
      tokens = step->DecodeChain(std::move(tokens));
    return tokens;
  }
  // Steps before a ByteFallback leave byte tokens as they are (no supported
  // decoder produces or rewrites "<0x..>" text), so asking each is enough.
  bool MayChangeAfter(std::string_view last_token) const override {
    for (const auto& step : steps_) {
      if (step->MayChangeAfter(last_token)) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

absl::StatusOr<std::string> OneCharacter(const nlohmann::json& config,
                                         absl::string_view key,
                                         absl::string_view path) {
  ASSIGN_OR_RETURN(std::string value,
                   json_fields::RequiredString(config, key, path));
  if (value.empty() || utf8::ValidCharLength(value) != value.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(json_fields::Join(path, key), " must be one character"));
  }
  return value;
}

absl::StatusOr<std::unique_ptr<Decoder>> ParseStrip(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(std::string content, OneCharacter(config, "content", path));
  ASSIGN_OR_RETURN(int64_t start,
                   json_fields::OptionalInt(config, "start", path, 0));
  ASSIGN_OR_RETURN(int64_t stop,
                   json_fields::OptionalInt(config, "stop", path, 0));
  return std::make_unique<StripDecoder>(std::move(content), start, stop);
}

absl::StatusOr<std::unique_ptr<Decoder>> ParseReplace(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(const nlohmann::json* pattern_json,
                   json_fields::Required(config, "pattern", path));
  ASSIGN_OR_RETURN(
      std::unique_ptr<SplitPattern> pattern,
      ParseSplitPattern(*pattern_json, json_fields::Join(path, "pattern")));
  ASSIGN_OR_RETURN(std::string content,
                   json_fields::RequiredString(config, "content", path));
  return std::make_unique<ReplaceDecoder>(std::move(pattern),
                                          std::move(content));
}

absl::StatusOr<std::unique_ptr<Decoder>> ParseMetaspace(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(std::string replacement,
                   OneCharacter(config, "replacement", path));
  ASSIGN_OR_RETURN(
      std::string scheme,
      json_fields::OptionalString(config, "prepend_scheme", path, "always"));
  ASSIGN_OR_RETURN(std::optional<bool> add_prefix_space,
                   json_fields::MaybeBool(config, "add_prefix_space", path));
  const bool prepends = scheme != "never" && add_prefix_space != false;
  return std::make_unique<MetaspaceDecoder>(std::move(replacement), prepends);
}

absl::StatusOr<std::unique_ptr<Decoder>> ParseSequence(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(
      std::vector<std::unique_ptr<Decoder>> steps,
      json_fields::ParseList<Decoder>(config, "decoders", path, &ParseDecoder));
  return std::make_unique<SequenceDecoder>(std::move(steps));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(
    const nlohmann::json& config, absl::string_view path) {
  ASSIGN_OR_RETURN(std::string type,
                   json_fields::RequiredString(config, "type", path));
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return ParseStrip(config, path);
  if (type == "Replace") return ParseReplace(config, path);
  if (type == "Metaspace") return ParseMetaspace(config, path);
  if (type == "Sequence") return ParseSequence(config, path);
  return absl::InvalidArgumentError(absl::StrCat(
      path, " type \"", type,
      "\" is not supported (supported: ByteLevel, ByteFallback, Fuse, Strip, "
      "Replace, Metaspace, Sequence)"));
}

}  // namespace loraplex::engine
