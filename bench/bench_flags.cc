#include "bench/bench_flags.h"

#include <iostream>

#include "absl/strings/numbers.h"

namespace loraplex::bench {

std::optional<int> ParseBenchFlags(
    int argc, char** argv, const std::string& program,
    const std::map<std::string, int64_t*>& ints,
    const std::map<std::string, std::string*>& strings) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help") {
      std::cout << program << " [--NAME VALUE ...]\n  integers:";
      for (const auto& [name, p] : ints)
        std::cout << " --" << name << "=" << *p;
      std::cout << "\n  strings:";
      for (const auto& [name, p] : strings) {
        std::cout << " --" << name << "=" << *p;
      }
      std::cout << "\n";
      return 0;
    }
    std::string name = arg.rfind("--", 0) == 0 ? arg.substr(2) : arg;
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    if (auto it = ints.find(name); it != ints.end()) {
      if (!absl::SimpleAtoi(value, it->second)) {
        std::cerr << "--" << name << " needs an integer\n";
        return 2;
      }
    } else if (auto st = strings.find(name); st != strings.end()) {
      *st->second = value;
    } else {
      std::cerr << "unknown flag " << arg << " (see --help)\n";
      return 2;
    }
  }
  return std::nullopt;
}

}  // namespace loraplex::bench
