"""Structural checks of deploy/grafana/: the dashboard JSON parses, its
panels are laid out and wired to the provisioned Prometheus data source,
every query uses only defined variables, and the issue's panels exist.
Whether each query names metrics the server exports is checked against a
live server by deploy_live_test (live_stack_test.cc)."""
import json
import re
import unittest

from deploy_test_util import load_yaml, main, read_text

DASHBOARD = ("deploy", "grafana", "dashboards", "loraplex.json")
# Grafana's own variables that may appear in queries.
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}


def leaf_panels(panels):
    for panel in panels:
        if panel["type"] == "row":
            yield from leaf_panels(panel.get("panels", []))
        else:
            yield panel


class DashboardTest(unittest.TestCase):
    def setUp(self):
        self.dashboard = json.loads(read_text(*DASHBOARD))
        self.panels = list(leaf_panels(self.dashboard["panels"]))
        self.variables = {v["name"]: v for v in self.dashboard["templating"]["list"]}

    def test_identity_and_unique_panel_ids(self):
        self.assertEqual(self.dashboard["uid"], "loraplex-overview")
        ids = [p["id"] for p in self.dashboard["panels"]]
        ids += [p["id"] for r in self.dashboard["panels"] for p in r.get("panels", [])]
        self.assertEqual(len(ids), len(set(ids)))

    def test_panels_fit_the_grid_without_overlap(self):
        cells = {}
        for panel in self.dashboard["panels"]:
            pos = panel["gridPos"]
            self.assertLessEqual(pos["x"] + pos["w"], 24, panel["title"])
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    self.assertNotIn((x, y), cells, f"{panel['title']} overlaps {cells.get((x, y))}")
                    cells[(x, y)] = panel["title"]

    def test_panels_use_the_datasource_variable_defaulting_to_the_provisioned_one(self):
        datasource = self.variables["datasource"]
        self.assertEqual((datasource["type"], datasource["query"]), ("datasource", "prometheus"))
        provisioned = load_yaml("deploy", "grafana", "provisioning", "datasources",
                                "prometheus.yml")["datasources"]
        self.assertEqual(datasource["current"]["value"], provisioned[0]["uid"])
        self.assertEqual(provisioned[0]["type"], "prometheus")
        for variable in self.variables.values():
            if variable["type"] == "query":
                self.assertEqual(variable["datasource"]["uid"], "${datasource}", variable["name"])
        for panel in self.panels:
            self.assertEqual(panel["datasource"]["uid"], "${datasource}", panel["title"])
            for target in panel["targets"]:
                self.assertEqual(target["datasource"]["uid"], "${datasource}")

    def test_every_panel_has_queries_with_defined_variables(self):
        for panel in self.panels:
            self.assertTrue(panel["targets"], f"{panel['title']} has no query")
            ref_ids = [t["refId"] for t in panel["targets"]]
            self.assertEqual(len(ref_ids), len(set(ref_ids)), panel["title"])
            for target in panel["targets"]:
                self.assertIn("loraplex_", target["expr"], panel["title"])
                for name in re.findall(r"\$\{?(\w+)", target["expr"]):
                    self.assertIn(name, set(self.variables) | BUILTIN_VARIABLES,
                                  f"{panel['title']}: undefined ${name}")

    def test_the_issues_panels_exist(self):
        # Each entry: a panel whose title matches and whose queries use the metric.
        required = {
            r"Requests / s": "loraplex_requests_total",
            r"Tokens / s": "loraplex_completion_tokens_total",
            r"Time to first token": "loraplex_request_time_to_first_token_seconds_bucket",
            r"Time per output token": "loraplex_request_time_per_output_token_seconds_bucket",
            r"Queue depth": "loraplex_queued_requests",
            r"Batch size": "loraplex_engine_batch_size",
            r"Distinct adapters per step": "loraplex_engine_batch_distinct_adapters",
            r"Cache hit ratio": "loraplex_adapter_cache_hits_total",
            r"evictions": "loraplex_adapter_cache_evictions_total",
            r"Resident adapters": "loraplex_adapters_resident",
            r"requests / s by tenant": "loraplex_requests_total",
            r"Errors by tenant": "loraplex_requests_total",
            r"KV cache": "loraplex_kv_slots_in_use",
            # Issue 15: adapter loads by source, and the opt-in series by
            # adapter (--metrics-adapter-labels).
            r"Adapter load time": "loraplex_adapter_load_seconds_bucket",
            r"Adapter loads / s by source": "loraplex_adapter_load_seconds_count",
            r"requests / s by adapter": "loraplex_adapter_requests_total",
            r"Tokens / s by adapter": "loraplex_adapter_completion_tokens_total",
            r"first token by adapter": "loraplex_adapter_time_to_first_token_seconds_bucket",
        }
        for title, metric in required.items():
            matching = [p for p in self.panels if re.search(title, p["title"], re.IGNORECASE)
                        and any(metric in t["expr"] for t in p["targets"])]
            self.assertTrue(matching, f"no panel {title!r} querying {metric}")


class ProvisioningTest(unittest.TestCase):
    def test_dashboard_provider_loads_files(self):
        provider = load_yaml("deploy", "grafana", "provisioning", "dashboards",
                             "loraplex.yml")["providers"][0]
        self.assertEqual(provider["type"], "file")
        self.assertTrue(provider["options"]["path"].startswith("/"))

    def test_datasource_points_at_prometheus(self):
        config = load_yaml("deploy", "grafana", "provisioning", "datasources", "prometheus.yml")
        self.assertEqual(config["apiVersion"], 1)
        datasource = config["datasources"][0]
        self.assertEqual(datasource["access"], "proxy")
        self.assertTrue(datasource["isDefault"])


if __name__ == "__main__":
    main()
