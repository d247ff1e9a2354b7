// Tests of the deployment tests' own helper: PromQL reference extraction.
// (Exposition parsing and HTTP GET are tools/metrics_client's, tested in
// tests/tools; child processes are tests/support's, tested there.)
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/deploy/promql_references.h"

namespace loraplex::deploy_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

TEST(PromqlReferencesTest, FindsMetricsSelectorsAndGrouping) {
  const PromqlReferences refs = FindPromqlReferences(
      "histogram_quantile(0.99, sum by (le, tenant) (rate("
      "loraplex_ttft_seconds_bucket{instance=~\"$instance\", code!=\"OK\"}"
      "[$__rate_interval]))) / on (job) group_left sum(loraplex_x_total)",
      "loraplex_");
  EXPECT_THAT(refs.metrics, UnorderedElementsAre("loraplex_ttft_seconds_bucket",
                                                 "loraplex_x_total"));
  EXPECT_THAT(refs.selector_labels.at("loraplex_ttft_seconds_bucket"),
              UnorderedElementsAre("instance", "code"));
  EXPECT_THAT(refs.grouping_labels,
              UnorderedElementsAre("le", "tenant", "job"));
  EXPECT_THAT(refs.recorded, IsEmpty());
}

TEST(PromqlReferencesTest, IgnoresStringsFunctionsVariablesAndOtherPrefixes) {
  const PromqlReferences refs = FindPromqlReferences(
      "label_replace(up{job=\"loraplex_not_a_metric\"}, \"x\", '$1', "
      "'loraplex_in_quotes', \"(.*)\") and ${loraplex_variable} > 0 and "
      "loraplex:requests:rate5m offset 5m",
      "loraplex_");
  EXPECT_THAT(refs.metrics, IsEmpty());
  EXPECT_THAT(refs.recorded, ElementsAre("loraplex:requests:rate5m"));
  EXPECT_THAT(refs.selector_labels, IsEmpty());  // up is not a loraplex series.
}

}  // namespace
}  // namespace loraplex::deploy_test
