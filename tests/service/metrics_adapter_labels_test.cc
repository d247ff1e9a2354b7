// Note [Adapter metric labels]: the per-adapter series stay bounded (at most
// N adapters plus "other") however many adapters there are, follow recent
// use, do not flap, and forget adapters no longer used.
#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "service/metrics/adapter_label_set.h"
#include "service/metrics/server_metrics.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kPeriod = absl::Seconds(60);

// A clock the test moves by hand.
class FakeClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  std::function<absl::Time()> AsFunction() {
    return [this] { return Now(); };
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'000'000);
};

std::string Adapter(int i) {
  return "t" + std::to_string(i % 7) + "/a" + std::to_string(i);
}

class AdapterLabelSetTest : public ::testing::Test {
 protected:
  AdapterLabelSet MakeSet(int32_t n) {
    return AdapterLabelSet({n, kPeriod, clock_.AsFunction()});
  }
  // Records `uses` uses of `adapter`, collecting demotions.
  void Use(AdapterLabelSet& set, const std::string& adapter, int uses = 1) {
    for (int i = 0; i < uses; ++i) {
      AdapterLabelSet::Use use = set.Record(adapter);
      demoted_.insert(demoted_.end(), use.demoted.begin(), use.demoted.end());
    }
  }

  FakeClock clock_;
  std::vector<std::string> demoted_;
};

TEST_F(AdapterLabelSetTest, TheFirstNAdaptersGetLabelsAtOnceTheRestAreOther) {
  AdapterLabelSet set = MakeSet(2);
  EXPECT_EQ(set.Record("acme/a").label, "acme/a");
  EXPECT_EQ(set.Record("acme/b").label, "acme/b");
  EXPECT_EQ(set.Record("acme/c").label, kOtherAdapterLabel);
  EXPECT_EQ(set.Record("acme/a").label, "acme/a");
  EXPECT_THAT(set.Labelled(), UnorderedElementsAre("acme/a", "acme/b"));
}

TEST_F(AdapterLabelSetTest, ThousandsOfAdaptersNeverHoldMoreThanNLabels) {
  AdapterLabelSet set = MakeSet(5);
  std::set<std::string> labels_seen_in_a_period;
  for (int period = 0; period < 20; ++period) {
    labels_seen_in_a_period.clear();
    for (int i = 0; i < 3000; ++i) {
      // A shifting popular set over a long tail.
      const int adapter = (i % 3 == 0) ? period + i % 4 : i;
      labels_seen_in_a_period.insert(set.Record(Adapter(adapter)).label);
    }
    EXPECT_LE(set.Labelled().size(), 5u);
    // The adapter label values used in one period: labels change only at
    // period ends, so at most the N labelled adapters plus "other".
    EXPECT_LE(labels_seen_in_a_period.size(), 5u + 1u) << "period " << period;
    clock_.Advance(kPeriod);
  }
}

TEST_F(AdapterLabelSetTest,
       AMuchMoreUsedAdapterTakesTheWeakestLabelAtThePeriodEnd) {
  AdapterLabelSet set = MakeSet(2);
  Use(set, "acme/a", 10);
  Use(set, "acme/b", 1);
  Use(set, "acme/hot", 30);  // Unlabelled: both labels were taken.
  EXPECT_EQ(set.Record("acme/hot").label, kOtherAdapterLabel);
  clock_.Advance(kPeriod);
  const AdapterLabelSet::Use use = set.Record("acme/hot");
  EXPECT_EQ(use.label, "acme/hot");
  EXPECT_THAT(use.demoted, UnorderedElementsAre("acme/b"));
  EXPECT_THAT(set.Labelled(), UnorderedElementsAre("acme/a", "acme/hot"));
}

TEST_F(AdapterLabelSetTest, AdaptersOfSimilarUseDoNotTradeLabels) {
  AdapterLabelSet set = MakeSet(1);
  // "b" is used a little more than "a" every period, never twice as much.
  for (int period = 0; period < 10; ++period) {
    Use(set, "acme/a", 10);
    Use(set, "acme/b", 15);
    clock_.Advance(kPeriod);
  }
  Use(set, "acme/a", 1);
  EXPECT_TRUE(demoted_.empty());
  EXPECT_THAT(set.Labelled(), UnorderedElementsAre("acme/a"));
}

TEST_F(AdapterLabelSetTest, UnusedAdaptersAreForgottenAndLabelsFollowNewUse) {
  AdapterLabelSet set = MakeSet(1);
  Use(set, "acme/old", 100);
  for (int i = 0; i < 500; ++i) Use(set, Adapter(i));
  EXPECT_EQ(set.tracked(), 501u);
  // Ten idle periods: the tail decays below the threshold and is dropped;
  // the labelled adapter is kept (it holds a label).
  clock_.Advance(10 * kPeriod);
  Use(set, "acme/new", 1);
  EXPECT_EQ(set.tracked(), 2u);
  // The old label's score has decayed to ~0.1; one period of use by
  // another adapter takes it over.
  Use(set, "acme/new", 5);
  clock_.Advance(kPeriod);
  const AdapterLabelSet::Use use = set.Record("acme/new");
  EXPECT_EQ(use.label, "acme/new");
  EXPECT_THAT(use.demoted, UnorderedElementsAre("acme/old"));
  EXPECT_TRUE(demoted_.empty());
}

std::string Scrape(prometheus::Registry& registry) {
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, registry.Collect());
  return text.str();
}

TEST(ServerMetricsAdapterLabelsTest, OffByDefault) {
  prometheus::Registry registry;
  auto metrics = ServerMetrics::Create(registry);
  ASSERT_TRUE(metrics.ok());
  EXPECT_FALSE((*metrics)->labels_adapters());
  (*metrics)->RecordAdapterGeneration({"acme/a"}, {3, 2}, {});
  EXPECT_THAT(Scrape(registry), Not(HasSubstr("loraplex_adapter_requests")));
  ServerMetricsOptions negative;
  negative.adapter_labels = -1;
  EXPECT_FALSE(ServerMetrics::Create(registry, negative).ok());
}

TEST(ServerMetricsAdapterLabelsTest,
     SeriesByAdapterWithTheRestAsOtherAndDemotedSeriesRemoved) {
  prometheus::Registry registry;
  FakeClock clock;
  ServerMetricsOptions options;
  options.adapter_labels = 1;
  options.clock = clock.AsFunction();
  auto created = ServerMetrics::Create(registry, options);
  ASSERT_TRUE(created.ok()) << created.status();
  ServerMetrics& metrics = **created;
  ASSERT_TRUE(metrics.labels_adapters());
  engine::GenerationTimings timings;
  timings.first_token = absl::Milliseconds(30);
  // A mix counts for each adapter.
  metrics.RecordAdapterGeneration({"acme/a", "acme/b"}, {5, 2}, timings);
  metrics.RecordAdapterGeneration({"acme/b"}, {5, 3}, timings);
  std::string text = Scrape(registry);
  EXPECT_THAT(
      text,
      HasSubstr("\nloraplex_adapter_requests_total{adapter=\"acme/a\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("\nloraplex_adapter_requests_total{adapter=\"other\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "\nloraplex_adapter_completion_tokens_total{adapter=\"other\"} 5\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "\nloraplex_adapter_prompt_tokens_total{adapter=\"acme/a\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("loraplex_adapter_time_to_first_token_seconds_"
                              "count{adapter=\"acme/a\"} 1\n"));
  // acme/b, used more than twice as often, takes the label at the period
  // end; acme/a's series leave /metrics.
  metrics.RecordAdapterGeneration({"acme/b"}, {5, 3}, timings);
  clock.Advance(kPeriod);
  metrics.RecordAdapterGeneration({"acme/b"}, {5, 3}, timings);
  text = Scrape(registry);
  EXPECT_THAT(text, Not(HasSubstr("adapter=\"acme/a\"")));
  EXPECT_THAT(
      text,
      HasSubstr("\nloraplex_adapter_requests_total{adapter=\"acme/b\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("\nloraplex_adapter_requests_total{adapter=\"other\"} 3\n"));
}

}  // namespace
}  // namespace loraplex::service
