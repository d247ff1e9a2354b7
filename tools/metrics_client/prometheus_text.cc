#include "tools/metrics_client/prometheus_text.h"

#include <cctype>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace loraplex::metrics_client {
namespace {

bool IsNameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsNameChar(char c) {
  return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c));
}

// Consumes a metric or label name from the front of `text`.
std::string ConsumeName(absl::string_view& text) {
  size_t n = 0;
  if (!text.empty() && IsNameStart(text[0])) {
    while (n < text.size() && IsNameChar(text[n])) ++n;
  }
  std::string name(text.substr(0, n));
  text.remove_prefix(n);
  return name;
}

// Consumes a quoted label value with \\, \" and \n escapes.
bool ConsumeQuoted(absl::string_view& text, std::string* value) {
  if (!absl::ConsumePrefix(&text, "\"")) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') {
      text.remove_prefix(i + 1);
      return true;
    }
    if (text[i] == '\\' && i + 1 < text.size()) {
      ++i;
      value->push_back(text[i] == 'n' ? '\n' : text[i]);
    } else {
      value->push_back(text[i]);
    }
  }
  return false;
}

bool ParseLabels(absl::string_view& text,
                 std::map<std::string, std::string>* labels) {
  if (!absl::ConsumePrefix(&text, "{")) return true;  // No labels.
  while (true) {
    text = absl::StripLeadingAsciiWhitespace(text);
    if (absl::ConsumePrefix(&text, "}")) return true;
    const std::string name = ConsumeName(text);
    std::string value;
    if (name.empty() || !absl::ConsumePrefix(&text, "=") ||
        !ConsumeQuoted(text, &value)) {
      return false;
    }
    (*labels)[name] = value;
    text = absl::StripLeadingAsciiWhitespace(text);
    absl::ConsumePrefix(&text, ",");
  }
}

bool ParseValue(absl::string_view text, double* value) {
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  if (fields.empty() || fields.size() > 2) return false;  // value [timestamp]
  const std::string field(fields[0]);
  if (field == "+Inf" || field == "-Inf" || field == "NaN") {
    *value = std::strtod(field == "+Inf" ? "inf" : field.c_str(), nullptr);
    return true;
  }
  return absl::SimpleAtod(field, value);
}

}  // namespace

absl::StatusOr<ScrapedMetrics> ScrapedMetrics::Parse(absl::string_view text) {
  ScrapedMetrics metrics;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    auto bad_line = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metrics line ", line_number, ": ", why, ": \"", line, "\""));
    };
    if (absl::ConsumePrefix(&line, "#")) {
      line = absl::StripLeadingAsciiWhitespace(line);
      if (!absl::ConsumePrefix(&line, "TYPE ")) continue;  // HELP, comments.
      const std::vector<absl::string_view> fields =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (fields.size() != 2) return bad_line("malformed TYPE");
      metrics.family_types_[std::string(fields[0])] = std::string(fields[1]);
      continue;
    }
    Sample sample;
    absl::string_view rest = line;
    sample.name = ConsumeName(rest);
    if (sample.name.empty()) return bad_line("no metric name");
    if (!ParseLabels(rest, &sample.labels)) return bad_line("bad labels");
    if (!ParseValue(rest, &sample.value)) return bad_line("bad value");
    metrics.samples_.push_back(std::move(sample));
  }
  return metrics;
}

std::set<std::string> ScrapedMetrics::SeriesNames() const {
  std::set<std::string> names;
  for (const Sample& sample : samples_) names.insert(sample.name);
  for (const auto& [family, type] : family_types_) {
    if (type == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        names.insert(family + suffix);
      }
    } else if (type == "summary") {
      names.insert({family, family + "_sum", family + "_count"});
    } else {
      names.insert(family);
    }
  }
  return names;
}

std::set<std::string> ScrapedMetrics::LabelNames(
    const std::string& series_name) const {
  std::set<std::string> names;
  for (const Sample& sample : samples_) {
    if (sample.name != series_name) continue;
    for (const auto& [name, value] : sample.labels) names.insert(name);
  }
  return names;
}

std::optional<double> ScrapedMetrics::Sum(
    const std::string& series_name,
    const std::map<std::string, std::string>& labels) const {
  std::optional<double> sum;
  for (const Sample& sample : samples_) {
    if (sample.name != series_name) continue;
    bool matches = true;
    for (const auto& [name, value] : labels) {
      auto it = sample.labels.find(name);
      if (it == sample.labels.end() || it->second != value) matches = false;
    }
    if (matches) sum = sum.value_or(0) + sample.value;
  }
  return sum;
}

}  // namespace loraplex::metrics_client
