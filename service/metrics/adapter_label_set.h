// Which adapters get their own `adapter` label on the per-adapter metric
// series: a bounded set, following recent use. See Note [Adapter metric
// labels]. Plain C++, not thread-safe (ServerMetrics calls it under its
// mutex).
#ifndef LORAPLEX_SERVICE_METRICS_ADAPTER_LABEL_SET_H_
#define LORAPLEX_SERVICE_METRICS_ADAPTER_LABEL_SET_H_

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/time/time.h"

namespace loraplex::service {

// The label value of every adapter that holds no label of its own.
inline constexpr char kOtherAdapterLabel[] = "other";

// Note [Adapter metric labels]
// With --metrics-adapter-labels=N (0, the default, turns the per-adapter
// families off), the loraplex_adapter_* series carry the label adapter =
// "<owner>/<name>" for at most N adapters at a time, and adapter="other"
// for all other adapters' traffic: at most N + 1 label values per family
// whatever the number of adapters, so thousands of adapters cannot blow up
// Prometheus's cardinality. (Adapter names always hold a '/', so "other"
// is never an adapter.)
// Which N: the most used recently. Each adapter's score is its uses (a
// finished generation; a mix counts for each adapter) in the current
// period of 60 s plus half its score at the end of the previous period.
// While fewer than N adapters hold a label, an adapter gets one at its
// first use. At the end of each period, an unlabelled adapter whose score
// is more than twice the lowest labelled score takes that label, and so on
// while such pairs remain (the factor two keeps adapters of similar use
// from trading labels every period). So labels change only at period ends,
// at most N per period: the series churn is bounded too.
// An adapter that loses its label has its series removed from /metrics
// (Prometheus marks them stale); its later traffic counts under "other",
// which therefore only grows. One that gains a label starts new series at
// zero, which rate() and increase() handle as any new series. Sums over the
// label are right for rates; a raw sum of counters drops when a label is
// removed.
// Memory: an unlabelled adapter whose score has decayed below 1/16 (unused
// for about four periods) is forgotten, so the table holds the adapters
// used in the last few minutes, not every adapter ever seen.
class AdapterLabelSet {
 public:
  struct Options {
    int32_t max_labels = 1;  // N >= 1.
    absl::Duration period = absl::Seconds(60);
    std::function<absl::Time()> clock;  // Empty = absl::Now.
  };
  explicit AdapterLabelSet(const Options& options);

  struct Use {
    std::string label;  // The adapter itself or kOtherAdapterLabel.
    // Adapters that lost their label at a period end this call crossed:
    // their series must be removed.
    std::vector<std::string> demoted;
  };
  // Counts one use of `adapter` ("<owner>/<name>").
  Use Record(const std::string& adapter);

  // The adapters holding a label now (any order).
  std::vector<std::string> Labelled() const;
  // Adapters whose score is tracked (labelled or not).
  size_t tracked() const { return scores_.size(); }

 private:
  struct Entry {
    double score = 0;
    bool labelled = false;
  };

  absl::Time Now() const;
  // Ends the periods that have passed by `now`; appends demoted adapters.
  void EndPeriods(absl::Time now, std::vector<std::string>& demoted);

  const Options options_;
  std::unordered_map<std::string, Entry> scores_;
  int32_t labelled_ = 0;
  absl::Time period_end_;
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_METRICS_ADAPTER_LABEL_SET_H_
