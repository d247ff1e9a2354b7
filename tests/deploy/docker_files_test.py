"""Structural checks of docker/ (no Docker engine on CI): the Dockerfiles'
stages run the project's scripts, the runtime stages are unprivileged with
a gRPC health check, volumes and ports; compose wires Prometheus and Grafana
to files that exist; scripts/cuda-deps.sh unpacks packages as documented."""
import fnmatch
import os
import re
import subprocess
import tempfile
import unittest

from deploy_test_util import (REPO, dockerfile_stages, exec_form, flag_names,
                              flag_values, load_yaml, main, parse_dockerfile,
                              read_text, repo_path)

REGISTRY_DIR = "/var/lib/loraplex/registry"
PREFIX = "/opt/loraplex"
HEALTH_CMD = [f"{PREFIX}/bin/loraplex", "health", "--server=127.0.0.1:50051", "--timeout=3"]
SERVER_FLAGS = ["--listen=0.0.0.0:50051", "--metrics-listen=0.0.0.0:9090",
                f"--registry-dir={REGISTRY_DIR}",
                f"--model={PREFIX}/share/loraplex/models/demo",
                f"--seed-adapters={PREFIX}/share/loraplex/models/demo/adapters"]


def dockerignore_patterns():
    lines = read_text(".dockerignore").splitlines()
    return [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]


def ignored_by_dockerignore(path, patterns):
    """Whether `path` (relative) or a parent folder matches a pattern
    (docker's rules without '!' exceptions, which we do not use)."""
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pattern in patterns:
            if fnmatch.fnmatch(prefix, pattern.lstrip("/")) or (
                    pattern.startswith("**/") and fnmatch.fnmatch(parts[i - 1], pattern[3:])):
                return True
    return False


class RuntimeStageChecks:
    """Mixin: the checks both images' runtime stages share."""
    dockerfile = None

    def setUp(self):
        self.stages = dockerfile_stages(parse_dockerfile(self.dockerfile))
        self.runtime = list(self.stages.values())[-1]

    def instructions(self, keyword, stage=None):
        return [rest for k, rest in (stage or self.runtime) if k == keyword]

    def test_last_stage_is_runtime_and_unprivileged(self):
        self.assertEqual(list(self.stages)[-1], "runtime")
        users = self.instructions("USER")
        self.assertTrue(users, "runtime stage sets no USER")
        user = users[-1].split(":")[0]
        self.assertNotIn(user, ("0", "root"))
        self.assertTrue(user.isdigit(), "numeric uid, so Kubernetes runAsNonRoot can verify it")
        # The uid the Kubernetes manifests run as.
        self.assertRegex(" ".join(self.instructions("RUN")), rf"useradd .*--uid {user}\b")

    def test_healthcheck_uses_grpc_health_service(self):
        checks = self.instructions("HEALTHCHECK")
        self.assertEqual(len(checks), 1)
        options, _, command = checks[0].partition("CMD ")
        self.assertIn("--start-period=", options)
        self.assertEqual(exec_form(command), HEALTH_CMD)

    def test_ports_volume_entrypoint_and_flags(self):
        self.assertEqual(sorted(" ".join(self.instructions("EXPOSE")).split()), ["50051", "9090"])
        self.assertIn(REGISTRY_DIR, exec_form(self.instructions("VOLUME")[0]))
        self.assertEqual(exec_form(self.instructions("ENTRYPOINT")[0]),
                         [f"{PREFIX}/bin/loraplex-server"])
        self.assertEqual(exec_form(self.instructions("CMD")[0]), SERVER_FLAGS)

    def test_copied_sources_exist_and_are_in_the_context(self):
        patterns = dockerignore_patterns()
        for stage in self.stages.values():
            for rest in self.instructions("COPY", stage):
                words = rest.split()
                if any(w.startswith("--from=") for w in words):
                    continue
                for src in [w for w in words[:-1] if not w.startswith("--")]:
                    if src == ".":
                        continue
                    self.assertTrue(os.path.exists(repo_path(src)), f"COPY {src}: missing")
                    self.assertFalse(ignored_by_dockerignore(src, patterns),
                                     f"COPY {src}: excluded by .dockerignore")

    def test_referenced_scripts_exist_and_are_executable(self):
        text = read_text(self.dockerfile)
        scripts = set(re.findall(r"scripts/[\w.-]+\.sh", text))
        self.assertTrue(scripts)
        for script in scripts:
            self.assertTrue(os.access(repo_path(script), os.X_OK), f"{script} not executable")


class CpuDockerfileTest(RuntimeStageChecks, unittest.TestCase):
    dockerfile = "docker/Dockerfile"

    def test_build_stage_runs_the_ci_scripts(self):
        runs = " && ".join(self.instructions("RUN", self.stages["build"]))
        self.assertRegex(runs, r"(^|\s)scripts/install-deps\.sh(\s|$)")
        self.assertRegex(runs, rf"scripts/build-server\.sh \S+ {PREFIX}\b")

    def test_runtime_stage_installs_only_runtime_packages(self):
        commands = [c.split() for run in self.instructions("RUN")
                    for c in re.split(r"&&|;", run) if c.strip()]
        installs = [c[1:] for c in commands if c[0].endswith("install-deps.sh")]
        self.assertEqual(installs, [["--runtime"]])
        self.assertIn(f"--from=build {PREFIX} {PREFIX}", self.instructions("COPY"))

    def test_dockerignore_keeps_the_sources(self):
        patterns = dockerignore_patterns()
        for needed in ["CMakeLists.txt", "cmake", "engine", "service", "proto", "tools",
                       "scripts/build-server.sh",
                       "scripts", "models/demo", "tests/CMakeLists.txt"]:
            self.assertFalse(ignored_by_dockerignore(needed, patterns), needed)
        for dropped in ["build", "build-deploy", ".git", ".deps"]:
            self.assertTrue(ignored_by_dockerignore(dropped, patterns), dropped)


class CudaDockerfileTest(RuntimeStageChecks, unittest.TestCase):
    dockerfile = "docker/Dockerfile.cuda"

    def test_versions_are_build_arguments(self):
        args = {rest.split("=")[0]: rest for k, rest in parse_dockerfile(self.dockerfile)
                if k == "ARG"}
        for name in ["CUDA_VERSION", "TORCH_VERSION", "TORCH_INDEX"]:
            self.assertIn(name, args)
            self.assertIn("=", args[name], f"ARG {name} has no default")
        self.assertRegex(self.stages["build"][0][1], r"^nvidia/cuda:\$\{CUDA_VERSION\}-devel-")
        self.assertRegex(self.runtime[0][1], r"^nvidia/cuda:\$\{CUDA_VERSION\}-")

    def test_build_follows_the_device_recipe(self):
        debs = " ".join(self.instructions("RUN", self.stages["debs"]))
        self.assertIn("cuda-deps.sh download", debs)
        build = " ".join(self.instructions("RUN", self.stages["build"]))
        self.assertIn('"torch==${TORCH_VERSION}"', build)
        self.assertIn("download.pytorch.org/whl/${TORCH_INDEX}", build)
        self.assertIn("cuda-deps.sh unpack", build)
        self.assertIn("torch.utils.cmake_prefix_path", build)
        self.assertRegex(build, r"scripts/build-server\.sh \S+ /opt/loraplex\s+\S*"
                                r"-DCMAKE_PREFIX_PATH=/opt/deps/usr;")
        env = " ".join(self.instructions("ENV", self.stages["build"]))
        self.assertIn("LIBRARY_PATH=/opt/deps/usr/lib/x86_64-linux-gnu", env)


class CudaDepsScriptTest(unittest.TestCase):
    script = repo_path("scripts", "cuda-deps.sh")

    def run_script(self, *args):
        return subprocess.run(["bash", self.script, *args], capture_output=True, text=True)

    def test_list_names_the_grpc_protobuf_and_prometheus_packages(self):
        result = self.run_script("list")
        self.assertEqual(result.returncode, 0, result.stderr)
        names = result.stdout.split()
        for p in ["libgrpc++-dev", "protobuf-compiler-grpc", "libprotobuf-dev", "libabsl-dev",
                  "prometheus-cpp-dev", "libre2-dev", "libsentencepiece-dev"]:
            self.assertIn(p, names)

    def test_unpack_extracts_every_deb_under_the_prefix(self):
        with tempfile.TemporaryDirectory() as tmp:
            pkg = os.path.join(tmp, "pkg")
            os.makedirs(os.path.join(pkg, "DEBIAN"))
            os.makedirs(os.path.join(pkg, "usr", "lib", "x86_64-linux-gnu"))
            with open(os.path.join(pkg, "DEBIAN", "control"), "w") as f:
                f.write("Package: loraplex-fake\nVersion: 1.0\nArchitecture: all\n"
                        "Maintainer: test <t@example.invalid>\nDescription: fake\n")
            with open(os.path.join(pkg, "usr", "lib", "x86_64-linux-gnu", "libfake.so.1"), "w") as f:
                f.write("fake")
            debs = os.path.join(tmp, "debs")
            os.makedirs(debs)
            build = subprocess.run(["dpkg-deb", "--build", "--root-owner-group", pkg,
                                    os.path.join(debs, "fake.deb")], capture_output=True, text=True)
            self.assertEqual(build.returncode, 0, build.stderr)
            prefix = os.path.join(tmp, "opt-deps")
            result = self.run_script("unpack", debs, prefix)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("unpacked 1 packages", result.stdout)
            self.assertTrue(os.path.isfile(
                os.path.join(prefix, "usr", "lib", "x86_64-linux-gnu", "libfake.so.1")))

    def test_unpack_of_a_folder_without_debs_fails(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = self.run_script("unpack", tmp, os.path.join(tmp, "prefix"))
            self.assertEqual(result.returncode, 1)
            self.assertIn("no .deb files", result.stderr)

    def test_unknown_command_prints_usage(self):
        result = self.run_script("frobnicate")
        self.assertEqual(result.returncode, 2)
        self.assertIn("usage:", result.stderr)


class ComposeTest(unittest.TestCase):
    def setUp(self):
        self.compose = load_yaml("docker", "compose.yaml")
        self.services = self.compose["services"]
        self.base = repo_path("docker")

    def bind_mounts(self, service):
        """{container path: host path (absolute)} of a service's bind mounts."""
        mounts = {}
        for volume in self.services[service].get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                mounts[target] = os.path.normpath(os.path.join(self.base, source))
        return mounts

    def test_loraplex_builds_from_the_repo_and_keeps_its_registry(self):
        loraplex = self.services["loraplex"]
        context = os.path.normpath(os.path.join(self.base, loraplex["build"]["context"]))
        self.assertEqual(context, REPO)
        dockerfile = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", loraplex["build"]["dockerfile"])
        self.assertTrue(os.path.isfile(os.path.join(context, dockerfile)))
        self.assertEqual(flag_names(loraplex["command"]), flag_names(SERVER_FLAGS))
        registry = flag_values(loraplex["command"], "registry-dir")[0]
        self.assertIn(f"registry:{registry}", loraplex["volumes"])
        self.assertIn("registry", self.compose["volumes"])
        self.assertIn("50051:50051", loraplex["ports"])

    def test_prometheus_scrapes_the_loraplex_service(self):
        mounts = self.bind_mounts("prometheus")
        config_flag = flag_values(self.services["prometheus"]["command"], "config.file")[0]
        config_dir, config_name = os.path.split(config_flag)
        self.assertIn(config_dir, mounts)
        config_path = os.path.join(mounts[config_dir], config_name)
        self.assertEqual(config_path, repo_path("deploy", "prometheus", "prometheus.yml"))
        config = load_yaml("deploy", "prometheus", "prometheus.yml")
        for rule_file in config["rule_files"]:
            self.assertTrue(os.path.isfile(os.path.join(mounts[config_dir], rule_file)), rule_file)
        metrics_port = flag_values(self.services["loraplex"]["command"], "metrics-listen")[0]
        targets = [t for job in config["scrape_configs"] if job["job_name"] == "loraplex"
                   for sc in job["static_configs"] for t in sc["targets"]]
        self.assertEqual(targets, [f"loraplex:{metrics_port.rsplit(':', 1)[1]}"])

    def test_grafana_gets_the_provisioned_datasource_and_dashboard(self):
        mounts = self.bind_mounts("grafana")
        self.assertEqual(mounts["/etc/grafana/provisioning"],
                         repo_path("deploy", "grafana", "provisioning"))
        provider = load_yaml("deploy", "grafana", "provisioning", "dashboards", "loraplex.yml")
        dashboards_path = provider["providers"][0]["options"]["path"]
        self.assertEqual(mounts[dashboards_path], repo_path("deploy", "grafana", "dashboards"))
        home = self.services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        self.assertTrue(home.startswith(dashboards_path + "/"))
        self.assertTrue(os.path.isfile(os.path.join(mounts[dashboards_path], os.path.basename(home))))
        datasource = load_yaml("deploy", "grafana", "provisioning", "datasources",
                               "prometheus.yml")["datasources"][0]
        self.assertEqual(datasource["url"], "http://prometheus:9090")
        self.assertIn("prometheus", self.services)


if __name__ == "__main__":
    main()
