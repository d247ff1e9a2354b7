// Deployment checks against a running stack (live_stack.h): the Grafana
// dashboard and the Prometheus rules use only series and labels that a real
// loraplex-server exports, and a real Prometheus scrapes the server, loads
// the shipped rules and evaluates them on its data.
#include "tests/deploy/live_stack.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/deploy/promql_references.h"
#include "tools/metrics_client/http_get.h"

namespace loraplex::deploy_test {
namespace {

constexpr char kSourceDir[] = LORAPLEX_SOURCE_DIR;
constexpr char kMetricPrefix[] = "loraplex_";
// Labels Prometheus attaches at scrape time.
const std::set<std::string> kTargetLabels = {"job", "instance"};

struct PanelQuery {
  std::string panel;
  std::string expr;
};

std::vector<PanelQuery> DashboardQueries() {
  std::ifstream in(std::string(kSourceDir) +
                   "/deploy/grafana/dashboards/loraplex.json");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json dashboard =
      nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  std::vector<PanelQuery> queries;
  if (dashboard.is_discarded()) return queries;
  std::vector<nlohmann::json> panels(dashboard["panels"].begin(),
                                     dashboard["panels"].end());
  for (size_t i = 0; i < panels.size(); ++i) {
    const nlohmann::json panel = panels[i];
    for (const auto& nested : panel.value("panels", nlohmann::json::array())) {
      panels.push_back(nested);
    }
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      queries.push_back({panel.value("title", ""), target.value("expr", "")});
    }
  }
  return queries;
}

// The dashboard's template variables and Grafana's interval, made concrete.
std::string Concrete(const std::string& expr) {
  return absl::StrReplaceAll(
      expr,
      {{"$__rate_interval", "1m"}, {"$instance", ".*"}, {"$tenant", ".*"}});
}

class LiveStackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    LiveStackOptions options;
    options.prometheus_path = LORAPLEX_PROMETHEUS_PATH;
    const std::string fixture =
        std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/hf-dev/llama-gqa";
    options.model_dir = fixture + "/model";
    options.adapter_dir = fixture + "/adapters/qv-r8";
    options.rules_file =
        std::string(kSourceDir) + "/deploy/prometheus/rules/loraplex.rules.yml";
    absl::StatusOr<std::unique_ptr<LiveStack>> stack =
        LiveStack::Start(options);
    start_status_ = new absl::Status(stack.status());
    if (stack.ok()) stack_ = stack->release();
  }

  static void TearDownTestSuite() {
    if (stack_ != nullptr) {
      const absl::Status stopped = stack_->Stop();
      EXPECT_TRUE(stopped.ok()) << "shutdown: " << stopped;
      delete stack_;
      stack_ = nullptr;
    }
    delete start_status_;
  }

  void SetUp() override { ASSERT_TRUE(start_status_->ok()) << *start_status_; }

  // Every series name a query may use, from the scrape after the traffic.
  static std::set<std::string> Exported() {
    return stack_->scrape().SeriesNames();
  }

  // Checks the metric and label names of one query against the scrape.
  static void ExpectExported(const std::string& where, const std::string& expr,
                             const std::set<std::string>& recorded) {
    const PromqlReferences refs = FindPromqlReferences(expr, kMetricPrefix);
    const std::set<std::string> exported = Exported();
    // up{job="loraplex"} is Prometheus's own series for the scrape target.
    EXPECT_FALSE(refs.metrics.empty() && refs.recorded.empty() &&
                 expr.find("up{job=\"loraplex\"}") == std::string::npos)
        << where << ": names no loraplex series: " << expr;
    std::set<std::string> known_labels = kTargetLabels;
    for (const std::string& metric : refs.metrics) {
      EXPECT_TRUE(exported.count(metric))
          << where << ": " << metric << " is not exported by loraplex-server";
      std::set<std::string> labels = stack_->scrape().LabelNames(metric);
      labels.insert(kTargetLabels.begin(), kTargetLabels.end());
      known_labels.insert(labels.begin(), labels.end());
      auto selector = refs.selector_labels.find(metric);
      if (selector == refs.selector_labels.end()) continue;
      for (const std::string& label : selector->second) {
        EXPECT_TRUE(labels.count(label))
            << where << ": " << metric << " has no label \"" << label
            << "\" (has: " << absl::StrJoin(labels, ", ") << ")";
      }
    }
    for (const std::string& name : refs.recorded) {
      EXPECT_TRUE(recorded.count(name))
          << where << ": no recording rule defines " << name;
    }
    if (!refs.recorded.empty()) return;  // Recorded series: job, instance.
    for (const std::string& label : refs.grouping_labels) {
      EXPECT_TRUE(known_labels.count(label))
          << where << ": groups by \"" << label
          << "\", which none of its series has";
    }
  }

  static LiveStack* stack_;
  static absl::Status* start_status_;
};

LiveStack* LiveStackTest::stack_ = nullptr;
absl::Status* LiveStackTest::start_status_ = nullptr;

TEST_F(LiveStackTest, MetricsCountTheRequestsSent) {
  const ScrapedMetrics& scrape = stack_->scrape();
  using T = TrafficCounts;
  const int generates = T::kAcmeBaseGenerates + T::kAcmeAdapterGenerates;
  EXPECT_EQ(
      scrape.Sum("loraplex_requests_total",
                 {{"tenant", "acme"}, {"rpc", "Generate"}, {"code", "OK"}}),
      generates);
  EXPECT_EQ(scrape.Sum(
                "loraplex_requests_total",
                {{"tenant", "acme"}, {"rpc", "UploadAdapter"}, {"code", "OK"}}),
            1);
  EXPECT_EQ(scrape.Sum("loraplex_requests_total", {{"tenant", "globex"},
                                                   {"rpc", "GenerateStream"},
                                                   {"code", "OK"}}),
            T::kGlobexStreams);
  EXPECT_EQ(scrape.Sum("loraplex_requests_total",
                       {{"tenant", "globex"}, {"code", "NOT_FOUND"}}),
            T::kGlobexNotFound);
  EXPECT_EQ(
      scrape.Sum("loraplex_requests_total",
                 {{"tenant", "unauthenticated"}, {"code", "UNAUTHENTICATED"}}),
      T::kBadKeyCalls);
  EXPECT_EQ(scrape.Sum("loraplex_prompt_tokens_total", {{"tenant", "acme"}}),
            generates * T::kPromptTokens);
  EXPECT_EQ(
      scrape.Sum("loraplex_completion_tokens_total", {{"tenant", "acme"}}),
      generates * LiveStackOptions().max_new_tokens);
  EXPECT_EQ(scrape.Sum("loraplex_request_time_to_first_token_seconds_count"),
            generates + T::kGlobexStreams);
  EXPECT_EQ(scrape.Sum("loraplex_adapters_registered"), 1);
  EXPECT_GE(scrape.Sum("loraplex_engine_steps_total").value_or(0), 1);
  EXPECT_GT(scrape.Sum("loraplex_upload_bytes_total", {{"tenant", "acme"}})
                .value_or(0),
            0);
}

TEST_F(LiveStackTest, DashboardQueriesUseExportedSeriesAndLabels) {
  const std::vector<PanelQuery> queries = DashboardQueries();
  ASSERT_GE(queries.size(), 20u) << "dashboard JSON missing or unparsable";
  for (const PanelQuery& query : queries) {
    ExpectExported("panel \"" + query.panel + "\"", query.expr, {});
  }
}

TEST_F(LiveStackTest, DashboardShowsEveryExportedFamily) {
  std::string all_queries;
  for (const PanelQuery& query : DashboardQueries())
    all_queries += query.expr + "\n";
  const std::set<std::string> used =
      FindPromqlReferences(all_queries, kMetricPrefix).metrics;
  for (const auto& [family, type] : stack_->scrape().family_types()) {
    if (family.rfind(kMetricPrefix, 0) != 0) continue;
    const bool shown = used.count(family) || used.count(family + "_bucket") ||
                       used.count(family + "_sum") ||
                       used.count(family + "_count");
    EXPECT_TRUE(shown) << family << " (" << type
                       << ") is on no dashboard panel";
  }
}

TEST_F(LiveStackTest, PrometheusScrapesTheServer) {
  const absl::StatusOr<nlohmann::json> up = stack_->WaitForQuery(
      "up{job=\"loraplex\"}", [](const nlohmann::json& data) {
        return data["result"].size() == 1 &&
               data["result"][0]["value"][1] == "1";
      });
  EXPECT_TRUE(up.ok()) << up.status();
  // Exactly the successful acme calls: five Generate and one UploadAdapter.
  const absl::StatusOr<nlohmann::json> requests = stack_->WaitForQuery(
      "sum(loraplex_requests_total{job=\"loraplex\", tenant=\"acme\", "
      "code=\"OK\"})",
      [](const nlohmann::json& data) {
        return data["result"].size() == 1 &&
               data["result"][0]["value"][1] == "6";
      });
  EXPECT_TRUE(requests.ok()) << requests.status();
}

TEST_F(LiveStackTest, PrometheusEvaluatesTheShippedRules) {
  // A recording rule over rate(): present once two scrapes have landed. (The
  // traffic was sent before Prometheus started, so the rate itself is 0.)
  const absl::StatusOr<nlohmann::json> rate = stack_->WaitForQuery(
      "loraplex:requests:rate5m{job=\"loraplex\"} >= 0",
      [](const nlohmann::json& data) { return data["result"].size() == 1; });
  EXPECT_TRUE(rate.ok()) << rate.status();

  absl::StatusOr<nlohmann::json> rules = stack_->PrometheusApi("rules");
  ASSERT_TRUE(rules.ok()) << rules.status();
  std::set<std::string> recorded;
  std::vector<std::pair<std::string, std::string>> queries;
  for (const auto& group : (*rules)["groups"]) {
    for (const auto& rule : group["rules"]) {
      const std::string name = rule.value("name", "");
      EXPECT_EQ(rule.value("health", ""), "ok")
          << name << ": " << rule.value("lastError", "");
      if (rule.value("type", "") == "recording") recorded.insert(name);
      queries.emplace_back(name, rule.value("query", ""));
    }
  }
  EXPECT_GE(queries.size(), 10u);
  for (const auto& [name, query] : queries) {
    ExpectExported("rule " + name, query, recorded);
  }
  for (const char* alert :
       {"LoraplexDown", "LoraplexHighErrorRate", "LoraplexSlowTimeToFirstToken",
        "LoraplexQueueRejecting", "LoraplexQueueWaitHigh",
        "LoraplexAdapterCacheThrashing"}) {
    EXPECT_TRUE(std::any_of(queries.begin(), queries.end(),
                            [&](const auto& q) { return q.first == alert; }))
        << "alert " << alert << " not loaded";
  }
}

TEST_F(LiveStackTest, DashboardQueriesRunInPrometheus) {
  for (const PanelQuery& query : DashboardQueries()) {
    const absl::StatusOr<nlohmann::json> result = stack_->PrometheusApi(
        "query", "query=" + metrics_client::UrlEncode(Concrete(query.expr)));
    EXPECT_TRUE(result.ok())
        << "panel \"" << query.panel << "\": " << result.status();
  }
  // One panel query end to end: the per-tenant generated tokens, over data
  // Prometheus scraped (two samples are in the window within seconds).
  const absl::StatusOr<nlohmann::json> tokens = stack_->WaitForQuery(
      "sum by (tenant) (loraplex_completion_tokens_total{tenant=~\".*\"})",
      [](const nlohmann::json& data) { return data["result"].size() == 2; });
  EXPECT_TRUE(tokens.ok()) << tokens.status();
}

}  // namespace
}  // namespace loraplex::deploy_test
