// What a PromQL expression refers to: metric names, recording-rule names and
// label names, found by a small lexer (enough for dashboard and alert
// queries; not a full PromQL parser). Used to check that every query names
// series and labels the server really exports.
#ifndef LORAPLEX_TESTS_DEPLOY_PROMQL_REFERENCES_H_
#define LORAPLEX_TESTS_DEPLOY_PROMQL_REFERENCES_H_

#include <map>
#include <set>
#include <string>

#include "absl/strings/string_view.h"

namespace loraplex::deploy_test {

struct PromqlReferences {
  // Series names with the given prefix (e.g. "loraplex_"), outside string
  // literals, template variables ($x, ${x}) and function calls.
  std::set<std::string> metrics;
  // Names containing ':' (recording rules, level:metric:operations).
  std::set<std::string> recorded;
  // Label names matched in each metric's {...} selector.
  std::map<std::string, std::set<std::string>> selector_labels;
  // Label names in by/without/on/ignoring/group_left/group_right clauses.
  std::set<std::string> grouping_labels;
};

PromqlReferences FindPromqlReferences(absl::string_view expr,
                                      absl::string_view metric_prefix);

}  // namespace loraplex::deploy_test

#endif  // LORAPLEX_TESTS_DEPLOY_PROMQL_REFERENCES_H_
