#include "tools/cli/command_line.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace loraplex::cli {

absl::StatusOr<CommandLine> CommandLine::Parse(
    const std::vector<std::string>& args, const std::vector<FlagSpec>& specs) {
  CommandLine cl;
  std::map<std::string, const FlagSpec*> by_name;
  for (const FlagSpec& spec : specs) {
    by_name[spec.name] = &spec;
    cl.defaults_[spec.name] = spec.default_value;
  }
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || !absl::StartsWith(arg, "--") || arg.size() == 2) {
      if (arg == "--") {
        only_positional = true;
        continue;
      }
      cl.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    const FlagSpec& spec = *it->second;
    if (spec.is_switch) {
      if (value && *value != "true" && *value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " takes no value (or =true/=false)"));
      }
      cl.values_[name] = {value.value_or("true")};
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    auto& values = cl.values_[name];
    if (!spec.repeated) values.clear();
    values.push_back(*value);
  }
  return cl;
}

bool CommandLine::Has(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && !it->second.empty();
}

std::string CommandLine::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end() && !it->second.empty()) return it->second.back();
  auto d = defaults_.find(name);
  return d == defaults_.end() ? "" : d->second;
}

absl::StatusOr<int64_t> CommandLine::GetInt(const std::string& name) const {
  int64_t v = 0;
  const std::string text = Get(name);
  if (!absl::SimpleAtoi(text, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an integer (got '", text, "')"));
  }
  return v;
}

absl::StatusOr<double> CommandLine::GetDouble(const std::string& name) const {
  double v = 0;
  const std::string text = Get(name);
  if (!absl::SimpleAtod(text, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a number (got '", text, "')"));
  }
  return v;
}

std::vector<std::string> CommandLine::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string FormatHelp(const std::string& usage, const std::string& summary,
                       const std::vector<FlagSpec>& specs) {
  std::string out = absl::StrCat("Usage: ", usage, "\n\n", summary, "\n");
  if (specs.empty()) return out;
  out += "\nFlags:\n";
  for (const FlagSpec& spec : specs) {
    std::string left = absl::StrCat("  --", spec.name, spec.is_switch ? "" : " V");
    if (left.size() < 26) left.resize(26, ' ');
    absl::StrAppend(&out, left, " ", spec.help);
    if (!spec.default_value.empty()) {
      absl::StrAppend(&out, " (default: ", spec.default_value, ")");
    }
    if (spec.repeated) out += " [repeatable]";
    out += "\n";
  }
  return out;
}

}  // namespace loraplex::cli
