"""Structural checks of deploy/k8s/ (no cluster on CI): every manifest
parses, the pieces reference each other consistently (labels, ports, volumes,
Secret, PVCs, Envoy clusters), probes use the gRPC health service, and the
GPU overlay requests a GPU."""
import os
import unittest

import yaml
from deploy_test_util import (flag_names, flag_values, load_yaml, load_yaml_docs,
                              main, parse_dockerfile, dockerfile_stages, repo_path)

K8S = ("deploy", "k8s")
NAMESPACE = "loraplex"
ADAPTER_HEADER = "x-loraplex-adapter"


def load_kustomization(folder):
    """{(kind, name): document} of every resource a kustomization lists
    (recursing into folders), and its patches."""
    kustomization = load_yaml(*K8S, folder, "kustomization.yaml")
    objects = {}
    for resource in kustomization.get("resources", []):
        path = os.path.normpath(os.path.join(folder, resource))
        if os.path.isdir(repo_path(*K8S, path)):
            objects.update(load_kustomization(path)[0])
            continue
        for doc in load_yaml_docs(*K8S, path):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    patches = [load_yaml(*K8S, folder, p["path"]) for p in kustomization.get("patches", [])]
    return objects, patches


def container(pod_spec, name):
    matches = [c for c in pod_spec["containers"] if c["name"] == name]
    if len(matches) != 1:
        raise AssertionError(f"expected one container {name!r}")
    return matches[0]


def port_number(c, port):
    """A container port given by number or name."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in c["ports"] if p["name"] == port)


class BaseManifestsTest(unittest.TestCase):
    def setUp(self):
        self.objects, _ = load_kustomization("base")
        self.deployment = self.objects[("Deployment", "loraplex")]
        self.pod = self.deployment["spec"]["template"]["spec"]
        self.server = container(self.pod, "loraplex")
        self.pod_labels = self.deployment["spec"]["template"]["metadata"]["labels"]

    def get(self, kind, name):
        self.assertIn((kind, name), self.objects, f"no {kind} {name}")
        return self.objects[(kind, name)]

    def volume_of_mount(self, path):
        """(volume, mount) whose mountPath is a prefix of `path`."""
        for mount in self.server["volumeMounts"]:
            if path == mount["mountPath"] or path.startswith(mount["mountPath"] + "/"):
                volume = next(v for v in self.pod["volumes"] if v["name"] == mount["name"])
                return volume, mount
        self.fail(f"{path} is on no volume")

    def test_every_file_is_listed_and_parses(self):
        folder = repo_path(*K8S, "base")
        listed = set(load_yaml(*K8S, "base", "kustomization.yaml")["resources"])
        files = {f for f in os.listdir(folder) if f.endswith(".yaml")} - {"kustomization.yaml"}
        self.assertEqual(files, listed)
        for doc in self.objects.values():
            self.assertIn("apiVersion", doc)
            self.assertTrue(doc["metadata"]["name"])
        self.assertEqual(load_yaml(*K8S, "base", "kustomization.yaml")["namespace"], NAMESPACE)

    def test_deployment_probes_use_grpc_health(self):
        grpc_port = port_number(self.server, "grpc")
        self.assertEqual(grpc_port, 50051)
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
            self.assertEqual(self.server[probe]["grpc"]["port"], grpc_port, probe)
        self.assertGreaterEqual(self.deployment["spec"]["replicas"], 2)

    def test_deployment_flags_match_ports_and_volumes(self):
        args = self.server["args"]
        self.assertEqual(flag_values(args, "listen"), ["0.0.0.0:50051"])
        metrics = flag_values(args, "metrics-listen")[0]
        self.assertEqual(int(metrics.rsplit(":", 1)[1]), port_number(self.server, "metrics"))
        volume, _ = self.volume_of_mount(flag_values(args, "registry-dir")[0])
        claim = volume["persistentVolumeClaim"]["claimName"]
        self.assertIn("ReadWriteMany", self.get("PersistentVolumeClaim", claim)["spec"]["accessModes"])
        volume, mount = self.volume_of_mount(flag_values(args, "api-keys")[0])
        self.assertTrue(mount.get("readOnly"))
        secret = self.get("Secret", volume["secret"]["secretName"])
        key_file = os.path.relpath(flag_values(args, "api-keys")[0], mount["mountPath"])
        items = {i["path"]: i["key"] for i in volume["secret"]["items"]}
        self.assertIn(items[key_file], secret["stringData"])

    def test_deployment_resources_and_security(self):
        resources = self.server["resources"]
        self.assertIn("cpu", resources["requests"])
        self.assertIn("memory", resources["requests"])
        self.assertIn("memory", resources["limits"])
        security = self.pod["securityContext"]
        self.assertTrue(security["runAsNonRoot"])
        # The uid the image's runtime stage creates and runs as.
        runtime = list(dockerfile_stages(parse_dockerfile("docker", "Dockerfile")).values())[-1]
        user = [rest for k, rest in runtime if k == "USER"][-1].split(":")[0]
        self.assertEqual(str(security["runAsUser"]), user)
        self.assertEqual(security["fsGroup"], security["runAsGroup"])
        self.assertFalse(self.server["securityContext"]["allowPrivilegeEscalation"])
        # The model path the CPU image stages.
        self.assertEqual(flag_values(self.server["args"], "model"),
                         ["/opt/loraplex/share/loraplex/models/demo"])

    def test_services_select_the_pods(self):
        for name in ["loraplex", "loraplex-headless"]:
            service = self.get("Service", name)
            for key, value in service["spec"]["selector"].items():
                self.assertEqual(self.pod_labels.get(key), value, name)
            for port in service["spec"]["ports"]:
                port_number(self.server, port["targetPort"])  # Exists.
        self.assertEqual(self.get("Service", "loraplex-headless")["spec"]["clusterIP"], "None")

    def test_pdb_allows_one_disruption_at_a_time(self):
        pdb = self.get("PodDisruptionBudget", "loraplex")
        for key, value in pdb["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(self.pod_labels.get(key), value)
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        self.assertLess(pdb["spec"]["maxUnavailable"], self.deployment["spec"]["replicas"])

    def test_prometheus_discovers_the_replicas(self):
        config = load_yaml("deploy", "prometheus", "prometheus-kubernetes.yml")
        job = next(j for j in config["scrape_configs"] if j["job_name"] == "loraplex")
        sd = job["dns_sd_configs"][0]
        self.assertEqual(sd["names"], [f"loraplex-headless.{NAMESPACE}.svc.cluster.local"])
        self.assertEqual(sd["port"], port_number(self.server, "metrics"))


class EnvoyTest(unittest.TestCase):
    def setUp(self):
        objects, _ = load_kustomization("base")
        self.objects = objects
        self.deployment = objects[("Deployment", "loraplex-envoy")]
        self.pod = self.deployment["spec"]["template"]["spec"]
        self.envoy = container(self.pod, "envoy")
        self.config = yaml.safe_load(objects[("ConfigMap", "loraplex-envoy")]["data"]["envoy.yaml"])
        self.listeners = {l["name"]: l for l in self.config["static_resources"]["listeners"]}
        self.clusters = {c["name"]: c for c in self.config["static_resources"]["clusters"]}

    def http_manager(self, listener):
        filters = self.listeners[listener]["filter_chains"][0]["filters"]
        self.assertEqual(filters[0]["name"], "envoy.filters.network.http_connection_manager")
        return filters[0]["typed_config"]

    def routes(self, listener):
        hosts = self.http_manager(listener)["route_config"]["virtual_hosts"]
        return [r for h in hosts for r in h["routes"]]

    def test_routes_hash_on_the_adapter_header_to_a_ring_hash_cluster(self):
        routes = self.routes("grpc")
        self.assertEqual(len(routes), 1)
        action = routes[0]["route"]
        self.assertEqual(action["hash_policy"], [{"header": {"header_name": ADAPTER_HEADER}}])
        cluster = self.clusters[action["cluster"]]
        self.assertEqual(cluster["lb_policy"], "RING_HASH")
        self.assertEqual(cluster["type"], "STRICT_DNS")
        self.assertIn("grpc_health_check", cluster["health_checks"][0])
        options = cluster["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        self.assertIn("http2_protocol_options", options["explicit_http_config"])

    def test_cluster_resolves_the_headless_service(self):
        server = self.objects[("Deployment", "loraplex")]["spec"]["template"]["spec"]
        headless = self.objects[("Service", "loraplex-headless")]
        grpc = next(p for p in headless["spec"]["ports"] if p["name"] == "grpc")
        endpoint = self.clusters["loraplex"]["load_assignment"]["endpoints"][0][
            "lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        self.assertEqual(endpoint["address"], f"loraplex-headless.{NAMESPACE}.svc.cluster.local")
        self.assertEqual(endpoint["port_value"], grpc["port"])
        self.assertEqual(port_number(container(server, "loraplex"), grpc["targetPort"]), 50051)

    def test_every_route_names_a_defined_cluster_and_types_are_v3(self):
        for listener in self.listeners:
            for route in self.routes(listener):
                self.assertIn(route["route"]["cluster"], self.clusters)

        def walk(node):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "@type":
                        self.assertRegex(value, r"^type\.googleapis\.com/envoy\..*\.v3\.\w+$")
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)
        walk(self.config)

    def test_deployment_mounts_the_config_and_probes_the_ops_listener(self):
        args = self.envoy["args"]
        config_path = args[args.index("--config-path") + 1]
        mount = next(m for m in self.envoy["volumeMounts"]
                     if config_path.startswith(m["mountPath"] + "/"))
        volume = next(v for v in self.pod["volumes"] if v["name"] == mount["name"])
        self.assertEqual(volume["configMap"]["name"], "loraplex-envoy")
        self.assertEqual(os.path.basename(config_path), "envoy.yaml")
        probe = self.envoy["readinessProbe"]["httpGet"]
        ops = self.listeners["ops"]["address"]["socket_address"]
        self.assertEqual(port_number(self.envoy, probe["port"]), ops["port_value"])
        self.assertIn(probe["path"], [r["match"].get("path") for r in self.routes("ops")])
        self.assertEqual(self.config["admin"]["address"]["socket_address"]["address"], "127.0.0.1")

    def test_service_exposes_the_grpc_listener(self):
        service = self.objects[("Service", "loraplex-envoy")]
        for key, value in service["spec"]["selector"].items():
            self.assertEqual(self.deployment["spec"]["template"]["metadata"]["labels"][key], value)
        port = service["spec"]["ports"][0]
        listener_port = self.listeners["grpc"]["address"]["socket_address"]["port_value"]
        self.assertEqual(port_number(self.envoy, port["targetPort"]), listener_port)


class GpuOverlayTest(unittest.TestCase):
    def setUp(self):
        self.objects, patches = load_kustomization("gpu")
        self.assertEqual(len(patches), 1)
        self.patch = patches[0]
        self.base = self.objects[("Deployment", "loraplex")]

    def test_patch_requests_a_gpu_and_the_cuda_image(self):
        self.assertEqual((self.patch["kind"], self.patch["metadata"]["name"]),
                         ("Deployment", "loraplex"))
        pod = self.patch["spec"]["template"]["spec"]
        server = container(pod, "loraplex")
        for section in ["requests", "limits"]:
            self.assertGreaterEqual(int(server["resources"][section]["nvidia.com/gpu"]), 1)
        self.assertIn("cuda", server["image"])
        base_server = container(self.base["spec"]["template"]["spec"], "loraplex")
        self.assertNotEqual(server["image"], base_server["image"])
        self.assertTrue(any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"]))

    def test_patch_keeps_every_flag_and_mounts_the_model(self):
        pod = self.patch["spec"]["template"]["spec"]
        server = container(pod, "loraplex")
        base_server = container(self.base["spec"]["template"]["spec"], "loraplex")
        # Strategic merge replaces the whole args list: it must repeat every flag.
        self.assertEqual(flag_names(server["args"]), flag_names(base_server["args"]))
        model = flag_values(server["args"], "model")[0]
        mount = next(m for m in server["volumeMounts"] if model.startswith(m["mountPath"] + "/"))
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        claim = self.objects[("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])]
        self.assertIn("ReadOnlyMany", claim["spec"]["accessModes"])


if __name__ == "__main__":
    main()
