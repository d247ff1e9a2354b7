#include "tests/deploy/promql_references.h"

#include <cctype>
#include <vector>

#include "absl/strings/match.h"

namespace loraplex::deploy_test {
namespace {

bool IsNameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsNameChar(char c) {
  return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c));
}

enum class TokenKind { kName, kVariable, kString, kNumber, kPunct };

struct Token {
  TokenKind kind;
  std::string text;
};

std::vector<Token> Lex(absl::string_view expr) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < expr.size()) {
    const char c = expr[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '"' || c == '\'' || c == '`') {
      size_t j = i + 1;
      while (j < expr.size() && expr[j] != c) j += (expr[j] == '\\') ? 2 : 1;
      tokens.push_back(
          {TokenKind::kString, std::string(expr.substr(i, j - i + 1))});
      i = j + 1;
    } else if (c == '$') {
      size_t j = i + 1;
      while (j < expr.size() &&
             (IsNameChar(expr[j]) || expr[j] == '{' || expr[j] == '}')) {
        ++j;
      }
      tokens.push_back(
          {TokenKind::kVariable, std::string(expr.substr(i, j - i))});
      i = j;
    } else if (IsNameStart(c)) {
      size_t j = i;
      while (j < expr.size() && IsNameChar(expr[j])) ++j;
      tokens.push_back({TokenKind::kName, std::string(expr.substr(i, j - i))});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t j = i;  // Numbers and durations (5m, 1.5, 1e3).
      while (j < expr.size() &&
             (std::isalnum(static_cast<unsigned char>(expr[j])) ||
              expr[j] == '.')) {
        ++j;
      }
      tokens.push_back(
          {TokenKind::kNumber, std::string(expr.substr(i, j - i))});
      i = j;
    } else {
      tokens.push_back({TokenKind::kPunct, std::string(1, c)});
      ++i;
    }
  }
  return tokens;
}

bool IsGroupingKeyword(const std::string& name) {
  return name == "by" || name == "without" || name == "on" ||
         name == "ignoring" || name == "group_left" || name == "group_right";
}

bool IsPunct(const std::vector<Token>& tokens, size_t i, char c) {
  return i < tokens.size() && tokens[i].kind == TokenKind::kPunct &&
         tokens[i].text[0] == c;
}

// Reads "(a, b, c)" starting at tokens[i] == "("; returns the index after ")".
size_t ReadNameList(const std::vector<Token>& tokens, size_t i,
                    std::set<std::string>* names) {
  for (++i; i < tokens.size() && !IsPunct(tokens, i, ')'); ++i) {
    if (tokens[i].kind == TokenKind::kName) names->insert(tokens[i].text);
  }
  return i + 1;
}

// Reads a "{name op value, ...}" selector starting at "{"; returns the index
// after "}". Label names are the names directly before an operator.
size_t ReadSelector(const std::vector<Token>& tokens, size_t i,
                    std::set<std::string>* labels) {
  for (++i; i < tokens.size() && !IsPunct(tokens, i, '}'); ++i) {
    if (tokens[i].kind == TokenKind::kName &&
        (IsPunct(tokens, i + 1, '=') || IsPunct(tokens, i + 1, '!'))) {
      labels->insert(tokens[i].text);
    }
  }
  return i + 1;
}

}  // namespace

PromqlReferences FindPromqlReferences(absl::string_view expr,
                                      absl::string_view metric_prefix) {
  PromqlReferences refs;
  const std::vector<Token> tokens = Lex(expr);
  size_t i = 0;
  while (i < tokens.size()) {
    const Token& token = tokens[i];
    if (token.kind != TokenKind::kName) {
      if (IsPunct(tokens, i, '{')) {  // A selector without a metric name.
        i = ReadSelector(tokens, i, &refs.selector_labels[""]);
        continue;
      }
      ++i;
      continue;
    }
    if (IsGroupingKeyword(token.text) && IsPunct(tokens, i + 1, '(')) {
      i = ReadNameList(tokens, i + 1, &refs.grouping_labels);
      continue;
    }
    if (IsPunct(tokens, i + 1, '(')) {  // A function or aggregation call.
      ++i;
      continue;
    }
    const bool wanted = absl::StartsWith(token.text, metric_prefix) ||
                        absl::StrContains(token.text, ':');
    if (wanted) {
      (absl::StrContains(token.text, ':') ? refs.recorded : refs.metrics)
          .insert(token.text);
    }
    if (IsPunct(tokens, i + 1, '{')) {
      std::set<std::string>& labels = refs.selector_labels[token.text];
      i = ReadSelector(tokens, i + 1, &labels);
      if (!wanted) refs.selector_labels.erase(token.text);
      continue;
    }
    ++i;
  }
  refs.selector_labels.erase("");
  return refs;
}

}  // namespace loraplex::deploy_test
