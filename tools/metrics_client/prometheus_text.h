// Parses the Prometheus text exposition format (what /metrics serves): the
// one parser the load generator, the benchmarks and the tests share (the
// deploy tests compare dashboards and rules against what the server
// exports).
#ifndef LORAPLEX_TOOLS_METRICS_CLIENT_PROMETHEUS_TEXT_H_
#define LORAPLEX_TOOLS_METRICS_CLIENT_PROMETHEUS_TEXT_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loraplex::metrics_client {

struct Sample {
  std::string name;  // As written: "x_bucket" for a histogram's bucket.
  std::map<std::string, std::string> labels;
  double value = 0;
};

class ScrapedMetrics {
 public:
  // Parses exposition text. INVALID_ARGUMENT naming the line for a sample
  // line that does not parse (bad name, unterminated label value, missing
  // or non-numeric value) or a malformed # TYPE line.
  static absl::StatusOr<ScrapedMetrics> Parse(absl::string_view text);

  // Every series name a PromQL query may use: the names of the samples,
  // plus <family>_bucket/_sum/_count for histogram families and
  // <family>_sum/_count for summaries (present even before any sample).
  std::set<std::string> SeriesNames() const;
  // Label names seen on samples of `series_name` (Prometheus adds job and
  // instance at scrape time; those are not included).
  std::set<std::string> LabelNames(const std::string& series_name) const;
  // Family name -> type, from # TYPE lines.
  const std::map<std::string, std::string>& family_types() const {
    return family_types_;
  }
  const std::vector<Sample>& samples() const { return samples_; }
  // Sum of the values of `series_name` samples whose labels include all of
  // `labels`; nullopt when none match.
  std::optional<double> Sum(
      const std::string& series_name,
      const std::map<std::string, std::string>& labels = {}) const;

 private:
  std::map<std::string, std::string> family_types_;
  std::vector<Sample> samples_;
};

}  // namespace loraplex::metrics_client

#endif  // LORAPLEX_TOOLS_METRICS_CLIENT_PROMETHEUS_TEXT_H_
