#include "service/metrics/adapter_label_set.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/time/clock.h"

namespace loraplex::service {
namespace {

constexpr double kForgetBelow = 1.0 / 16;
// A challenger needs more than this times the weakest labelled score.
constexpr double kSwapFactor = 2.0;

}  // namespace

AdapterLabelSet::AdapterLabelSet(const Options& options)
    : options_(options), period_end_(Now() + options.period) {}

absl::Time AdapterLabelSet::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

AdapterLabelSet::Use AdapterLabelSet::Record(const std::string& adapter) {
  Use use;
  EndPeriods(Now(), use.demoted);
  Entry& entry = scores_[adapter];
  entry.score += 1;
  if (!entry.labelled && labelled_ < options_.max_labels) {
    entry.labelled = true;
    ++labelled_;
  }
  use.label = entry.labelled ? adapter : kOtherAdapterLabel;
  return use;
}

std::vector<std::string> AdapterLabelSet::Labelled() const {
  std::vector<std::string> labelled;
  for (const auto& [adapter, entry] : scores_) {
    if (entry.labelled) labelled.push_back(adapter);
  }
  return labelled;
}

void AdapterLabelSet::EndPeriods(absl::Time now,
                                 std::vector<std::string>& demoted) {
  if (now < period_end_) return;
  absl::Duration rest;
  const int64_t periods =
      1 + absl::IDivDuration(now - period_end_, options_.period, &rest);
  period_end_ += options_.period * periods;
  const double decay =
      std::pow(0.5, static_cast<double>(std::min<int64_t>(periods, 64)));
  std::vector<std::pair<double, std::string>> labelled, challengers;
  for (auto it = scores_.begin(); it != scores_.end();) {
    Entry& entry = it->second;
    entry.score *= decay;
    if (!entry.labelled && entry.score < kForgetBelow) {
      it = scores_.erase(it);
      continue;
    }
    (entry.labelled ? labelled : challengers)
        .emplace_back(entry.score, it->first);
    ++it;
  }
  std::sort(labelled.begin(), labelled.end());          // Weakest first.
  std::sort(challengers.rbegin(), challengers.rend());  // Strongest first.
  size_t next = 0;
  for (size_t i = 0; i < labelled.size() && next < challengers.size(); ++i) {
    if (challengers[next].first <= kSwapFactor * labelled[i].first) break;
    scores_.at(labelled[i].second).labelled = false;
    scores_.at(challengers[next].second).labelled = true;
    demoted.push_back(labelled[i].second);
    ++next;
  }
}

}  // namespace loraplex::service
