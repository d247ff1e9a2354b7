// The benchmarks' command line: --NAME VALUE or --NAME=VALUE for integer and
// string options, --help to list them with their defaults.
#ifndef LORAPLEX_BENCH_BENCH_FLAGS_H_
#define LORAPLEX_BENCH_BENCH_FLAGS_H_

#include <map>
#include <optional>
#include <string>

namespace loraplex::bench {

// Sets the options named on the command line. Returns the exit code when
// the program should stop (0 after --help, 2 on a bad flag), nullopt to run.
std::optional<int> ParseBenchFlags(
    int argc, char** argv, const std::string& program,
    const std::map<std::string, int64_t*>& ints,
    const std::map<std::string, std::string*>& strings);

}  // namespace loraplex::bench

#endif  // LORAPLEX_BENCH_BENCH_FLAGS_H_
