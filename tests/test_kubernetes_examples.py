"""examples/kubernetes/: the deploy and health scripts against a recording stand-in for kubectl
(no cluster runs here), and the release configs against a real Prometheus.

The stand-in is a small script put first on PATH as `kubectl`: it appends its argv to a file and
answers from a list of rules (stdout and exit status per call), so each test states exactly what
the cluster said and checks exactly which commands the scripts ran and which exit status came
out."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_release.clock import SimulatedClock
from pytest_release.config import load_config
from pytest_release.metrics.factory import make_provider
from tests.support.prometheus_server import (
    openmetrics_from_samples,
    scenario_openmetrics,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "kubernetes"
SCRIPTS = EXAMPLE / "scripts"
IMAGE = "registry.example.com/shop/orders"

STUB = """\
#!{python}
import json, os, sys
log = os.environ["KUBECTL_STUB_LOG"]
with open(log, "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
rules = json.loads(os.environ.get("KUBECTL_STUB_RULES", "[]"))
state_file = log + ".calls"
state = json.load(open(state_file)) if os.path.exists(state_file) else {{}}
for index, rule in enumerate(rules):
    if all(word in sys.argv[1:] for word in rule["match"]):
        n = state.get(str(index), 0)
        state[str(index)] = n + 1
        json.dump(state, open(state_file, "w"))
        out, code = rule.get("stdout", [""]), rule.get("exit", [0])
        if out[min(n, len(out) - 1)]:
            print(out[min(n, len(out) - 1)])
        sys.exit(code[min(n, len(code) - 1)])
sys.exit(0)
"""


class Kubectl:
    """The recording stand-in and a way to run the example scripts against it."""

    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        stub = self.bin / "kubectl"
        stub.write_text(STUB.format(python=sys.executable))
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
        self.log = tmp_path / "kubectl.log"
        self.rules: list[dict] = []

    def on(self, *words: str, stdout: str | list[str] = "", exit: int | list[int] = 0) -> None:
        """Answer calls whose argv contains every word (first matching rule wins)."""
        self.rules.append({
            "match": list(words),
            "stdout": stdout if isinstance(stdout, list) else [stdout],
            "exit": exit if isinstance(exit, list) else [exit],
        })

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def run(self, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_", "KUBECTL", "IMAGE_", "ROLLOUT_", "ARGO_"))}
        environ = {
            **base,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "KUBECTL_STUB_LOG": str(self.log),
            "KUBECTL_STUB_RULES": json.dumps(self.rules),
            "IMAGE_REPOSITORY": IMAGE,
            "K8S_DEPLOYMENT": "orders",
            "K8S_ROLLOUT": "orders",
            "ARGO_POLL_SECONDS": "0",
            **env,
        }
        return subprocess.run([str(SCRIPTS / script), *args], env=environ, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture
def kubectl(tmp_path: Path) -> Kubectl:
    return Kubectl(tmp_path)


NS = ["--namespace", "staging"]
ARGO = ["argo", "rollouts", "--namespace", "production"]


# --- kubectl: a Deployment -------------------------------------------------------------------------
def test_kubectl_deploy_sets_the_image_and_waits_for_the_rollout(kubectl):
    result = kubectl.run("deploy.sh", "--env", "staging", "--version", "v2", "--strategy", "all-at-once")
    assert result.returncode == 0, result.stderr
    assert kubectl.calls() == [
        [*NS, "set", "image", "deployment/orders", f"orders={IMAGE}:v2"],
        [*NS, "rollout", "status", "deployment/orders", "--timeout=10m"],
    ]
    assert f"+ kubectl --namespace staging set image deployment/orders orders={IMAGE}:v2" in result.stdout


def test_kubectl_settings_reach_the_commands(kubectl):
    result = kubectl.run(
        "deploy.sh", "--env", "production", "--version", "2.4.1",
        K8S_NAMESPACE="shop", K8S_CONTEXT="prod-eu", K8S_CONTAINER="api", ROLLOUT_TIMEOUT="90s",
    )
    assert result.returncode == 0, result.stderr
    assert kubectl.calls() == [
        ["--namespace", "shop", "--context", "prod-eu", "set", "image", "deployment/orders", f"api={IMAGE}:2.4.1"],
        ["--namespace", "shop", "--context", "prod-eu", "rollout", "status", "deployment/orders", "--timeout=90s"],
    ]


def test_a_rollout_that_does_not_finish_fails_the_deploy_with_kubectls_status(kubectl):
    kubectl.on("rollout", "status", stdout="error: deployment \"orders\" exceeded its progress deadline", exit=1)
    result = kubectl.run("deploy.sh", "--env", "staging", "--version", "v2")
    assert result.returncode == 1
    assert "did not finish rolling out v2 within 10m (kubectl exit 1)" in result.stderr


def test_a_failed_set_image_stops_before_waiting(kubectl):
    kubectl.on("set", "image", exit=7)
    result = kubectl.run("deploy.sh", "--env", "staging", "--version", "v2")
    assert result.returncode == 7
    assert [c[2:4] for c in kubectl.calls()] == [["set", "image"]]


def test_rollback_undoes_when_the_previous_revision_is_the_target(kubectl):
    kubectl.on("get", "deployment/orders", stdout=[f"{IMAGE}:v2", f"{IMAGE}:v1"])
    result = kubectl.run("deploy.sh", "--env", "staging", "--rollback", "v1")
    assert result.returncode == 0, result.stderr
    calls = kubectl.calls()
    assert [c[2:4] for c in calls] == [["get", "deployment/orders"], ["rollout", "undo"], ["get", "deployment/orders"], ["rollout", "status"]]
    assert calls[1] == [*NS, "rollout", "undo", "deployment/orders"]


def test_rollback_sets_the_image_when_undo_lands_elsewhere(kubectl):
    kubectl.on("get", "deployment/orders", stdout=[f"{IMAGE}:v3", f"{IMAGE}:v2"])
    result = kubectl.run("deploy.sh", "--env", "staging", "--rollback", "v1")
    assert result.returncode == 0, result.stderr
    calls = kubectl.calls()
    assert [c[2:4] for c in calls] == [["get", "deployment/orders"], ["rollout", "undo"], ["get", "deployment/orders"], ["set", "image"], ["rollout", "status"]]
    assert calls[3] == [*NS, "set", "image", "deployment/orders", f"orders={IMAGE}:v1"]


def test_rollback_to_what_is_already_specified_only_waits(kubectl):
    kubectl.on("get", "deployment/orders", stdout=f"{IMAGE}:v1")
    result = kubectl.run("deploy.sh", "--env", "staging", "--rollback", "v1")
    assert result.returncode == 0, result.stderr
    assert [c[2:4] for c in kubectl.calls()] == [["get", "deployment/orders"], ["rollout", "status"]]


def test_a_rollback_that_does_not_converge_fails_with_kubectls_status(kubectl):
    kubectl.on("get", "deployment/orders", stdout=[f"{IMAGE}:v2", f"{IMAGE}:v1"])
    kubectl.on("rollout", "status", exit=1)
    result = kubectl.run("deploy.sh", "--env", "staging", "--rollback", "v1")
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--env", "staging", "--version", "v2;reboot"], {}, "invalid version"),
        (["--env", "staging", "--version", "v2", "--strategy", "canary"], {}, "needs Argo Rollouts"),
        (["--env", "staging"], {}, "give --version or --rollback"),
        (["--env", "staging", "--version", "v2"], {"K8S_DEPLOYMENT": ""}, "K8S_DEPLOYMENT is not set"),
        (["--env", "staging", "--version", "v2"], {"IMAGE_REPOSITORY": ""}, "IMAGE_REPOSITORY is not set"),
        (["--env", "staging", "--version", "v2", "--frobnicate"], {}, "unknown argument"),
    ],
)
def test_kubectl_script_usage_errors_run_nothing(kubectl, args, env, words):
    result = kubectl.run("deploy.sh", *args, **env)
    assert result.returncode == 2
    assert words in result.stderr
    assert kubectl.calls() == []


def test_kubectl_health_check_passes_the_rollout_status_through(kubectl):
    assert kubectl.run("health-check.sh", "--env", "staging").returncode == 0
    assert kubectl.calls() == [[*NS, "rollout", "status", "deployment/orders", "--timeout=10s"]]
    kubectl.on("rollout", "status", exit=1)
    assert kubectl.run("health-check.sh", "--env", "staging").returncode == 1


# --- Argo Rollouts -------------------------------------------------------------------------------
def test_argo_all_at_once_promotes_fully_and_waits_until_healthy(kubectl):
    result = kubectl.run("deploy-argo.sh", "--env", "production", "--version", "v2", "--strategy", "all-at-once")
    assert result.returncode == 0, result.stderr
    assert kubectl.calls() == [
        [*ARGO, "set", "image", "orders", f"orders={IMAGE}:v2"],
        [*ARGO, "promote", "--full", "orders"],
        [*ARGO, "status", "orders", "--timeout", "600s"],
    ]


def test_argo_canary_steps_set_the_image_then_promote_step_by_step(kubectl):
    kubectl.on("get", "rollout/orders", stdout=[f"{IMAGE}:v1", f"{IMAGE}:v2", f"{IMAGE}:v2"])
    kubectl.on("status", "--watch=false", stdout=["Progressing - more replicas need to be updated", "Paused - CanaryPauseStep", "Paused - CanaryPauseStep"])
    for weight in ("5", "25", "100"):
        result = kubectl.run("deploy-argo.sh", "--env", "production", "--version", "v2", "--strategy", "canary", "--canary-weight", weight)
        assert result.returncode == 0, result.stderr
    calls = kubectl.calls()
    acting = [c for c in calls if "get" not in c and "--watch=false" not in c]
    assert acting == [
        [*ARGO, "set", "image", "orders", f"orders={IMAGE}:v2"],
        [*ARGO, "promote", "orders"],
        [*ARGO, "promote", "--full", "orders"],
        [*ARGO, "status", "orders", "--timeout", "600s"],
    ]
    assert sum("--watch=false" in c for c in calls) == 3  # polled until paused at 5%, once at 25%
    assert calls[0] == ["--namespace", "production", "get", "rollout/orders", "-o", 'jsonpath={.spec.template.spec.containers[?(@.name=="orders")].image}']


def test_argo_canary_step_that_degrades_fails_with_kubectls_status(kubectl):
    kubectl.on("get", "rollout/orders", stdout=f"{IMAGE}:v1")
    kubectl.on("status", "--watch=false", stdout="Degraded - RolloutAborted: metric error-rate assessed Failed", exit=1)
    result = kubectl.run("deploy-argo.sh", "--env", "production", "--version", "v2", "--strategy", "canary", "--canary-weight", "5")
    assert result.returncode == 1
    assert "RolloutAborted" in result.stderr


def test_argo_canary_step_that_never_pauses_times_out(kubectl):
    kubectl.on("get", "rollout/orders", stdout=f"{IMAGE}:v1")
    kubectl.on("status", "--watch=false", stdout="Progressing - waiting for pods")
    result = kubectl.run("deploy-argo.sh", "--env", "production", "--version", "v2", "--strategy", "canary", "--canary-weight", "5", ROLLOUT_TIMEOUT="0")
    assert result.returncode == 1
    assert "did not reach the 5% step within 0s" in result.stderr


def test_argo_blue_green_deploys_to_the_preview_then_switches(kubectl):
    kubectl.on("status", "--watch=false", stdout="Paused - BlueGreenPause")
    result = kubectl.run("deploy-argo.sh", "--env", "production", "--version", "v2", "--strategy", "blue-green")
    assert result.returncode == 0, result.stderr
    result = kubectl.run("deploy-argo.sh", "--env", "production", "--version", "v2", "--strategy", "blue-green", "--switch")
    assert result.returncode == 0, result.stderr
    assert kubectl.calls() == [
        [*ARGO, "set", "image", "orders", f"orders={IMAGE}:v2"],
        [*ARGO, "status", "orders", "--watch=false"],
        [*ARGO, "promote", "orders"],
        [*ARGO, "status", "orders", "--timeout", "600s"],
    ]


def test_argo_rollback_aborts_sets_the_target_and_waits(kubectl):
    kubectl.on("abort", exit=1)  # nothing in flight: the rollback goes on
    result = kubectl.run("deploy-argo.sh", "--env", "production", "--rollback", "v1", ROLLOUT_TIMEOUT="5m")
    assert result.returncode == 0, result.stderr
    assert kubectl.calls() == [
        [*ARGO, "abort", "orders"],
        [*ARGO, "set", "image", "orders", f"orders={IMAGE}:v1"],
        [*ARGO, "promote", "--full", "orders"],
        [*ARGO, "status", "orders", "--timeout", "300s"],
    ]


def test_argo_rollback_that_stays_degraded_fails_with_kubectls_status(kubectl):
    kubectl.on("status", "--timeout", stdout="Degraded - ProgressDeadlineExceeded", exit=1)
    result = kubectl.run("deploy-argo.sh", "--env", "production", "--rollback", "v1")
    assert result.returncode == 1
    assert "did not become Healthy with v1" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--env", "production", "--version", "v2", "--strategy", "canary"], {}, "needs --canary-weight 1-100"),
        (["--env", "production", "--version", "v2", "--strategy", "canary", "--canary-weight", "150"], {}, "needs --canary-weight 1-100"),
        (["--env", "production", "--version", "v2", "--strategy", "all-at-once", "--switch"], {}, "--switch belongs to --strategy blue-green"),
        (["--env", "production", "--version", "v2", "--strategy", "rolling"], {}, "unknown strategy"),
        (["--env", "production", "--version", "v2"], {"ROLLOUT_TIMEOUT": "soon"}, "ROLLOUT_TIMEOUT is not a duration"),
        (["--env", "production", "--rollback", "v1"], {"K8S_ROLLOUT": ""}, "K8S_ROLLOUT is not set"),
    ],
)
def test_argo_script_usage_errors_run_nothing(kubectl, args, env, words):
    result = kubectl.run("deploy-argo.sh", *args, **env)
    assert result.returncode == 2, result.stdout
    assert words in result.stderr
    assert kubectl.calls() == []


@pytest.mark.parametrize(("answer", "code", "expected"), [("Healthy", 0, 0), ("Paused - CanaryPauseStep", 0, 1), ("Degraded - RolloutAborted", 1, 1)])
def test_argo_health_check_is_healthy_only_when_the_rollout_is(kubectl, answer, code, expected):
    kubectl.on("status", stdout=answer, exit=code)
    result = kubectl.run("health-check-argo.sh", "--env", "production")
    assert result.returncode == expected, result.stderr
    assert kubectl.calls() == [[*ARGO, "status", "orders", "--watch=false"]]


# --- the release configs -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["release.yaml", "release-argo.yaml"])
def test_the_release_configs_load_and_name_scripts_that_honour_the_contract(name):
    config = load_config(EXAMPLE / name, environ={"PROMETHEUS_URL": "http://thanos-query.monitoring.svc:9090"})
    for script in (config.deploy_script, config.health_script):
        assert script.is_file() and os.access(script, os.X_OK), script
    assert "--rollback" in config.deploy_script.read_text()  # what phase 1 checks
    for env in config.environments.values():
        assert env.metrics.provider == "prometheus"
        assert env.metrics.url == "http://thanos-query.monitoring.svc:9090"
        assert f'namespace="{env.name}"' in env.metrics.names["selector"]
    assert config.tag.environments == ("production",)
    example_keys = {line.split("=", 1)[0] for line in (EXAMPLE / ".env.example").read_text().splitlines() if "=" in line and not line.startswith("#")}
    assert example_keys == {"IMAGE_REPOSITORY", "K8S_DEPLOYMENT", "K8S_ROLLOUT", "K8S_CONTAINER"}


def test_the_argo_config_offers_what_the_argo_script_supports():
    config = load_config(EXAMPLE / "release-argo.yaml")
    production = config.environment("production")
    assert set(production.strategies) == {"canary", "blue-green"}
    weights = [step.weight for step in production.canary.steps]
    rollout = yaml.safe_load((EXAMPLE / "manifests" / "rollout-canary.yaml").read_text())
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == weights[:-1]  # 100 is promote --full
    assert all(s == {"pause": {}} for s in steps[1::2])  # pytest-release judges, then promotes
    blue_green = yaml.safe_load((EXAMPLE / "manifests" / "rollout-bluegreen.yaml").read_text())
    assert blue_green["spec"]["strategy"]["blueGreen"]["autoPromotionEnabled"] is False
    assert production.smoke.preview_url
    deployment = next(yaml.safe_load_all((EXAMPLE / "manifests" / "deployment.yaml").read_text()))
    assert deployment["metadata"]["name"] == "orders" and deployment["spec"]["template"]["spec"]["containers"][0]["name"] == "orders"


def test_the_example_queries_answer_on_a_real_prometheus(prometheus_factory):
    """The config's metric names, selector and saturation query, against Prometheus holding a
    cluster's series (namespace/app labels, cAdvisor CPU, kube-state-metrics limits)."""
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    service = scenario_openmetrics(start, 20, rps=20.0, error_ratio_at=lambda m: 0.05, latency_at=lambda m: 0.3, job="orders")
    service = service.replace('job="orders"', 'namespace="staging",app="orders"')
    cluster = []
    for k in range(0, 20 * 4 + 1):
        at = start + dt.timedelta(seconds=15 * k)
        for pod in ("orders-1", "orders-2"):
            labels = f'namespace="staging",app="orders",pod="{pod}",container="orders"'
            cluster.append((at, f"container_cpu_usage_seconds_total{{{labels}}} {0.1 * 15 * k}"))
            cluster.append((at, f'kube_pod_container_resource_limits{{{labels},resource="cpu"}} 0.5'))
    server = prometheus_factory(backfill=[service, openmetrics_from_samples(cluster)])
    config = load_config(EXAMPLE / "release.yaml", environ={"PROMETHEUS_URL": server.url})
    env = config.environment("staging")
    provider = make_provider(env, config_path=config.path, clock=SimulatedClock(start), environ={})
    values = provider.sample(start + dt.timedelta(minutes=15), 300)
    assert values["error_rate"] == pytest.approx(0.05, rel=1e-6)
    assert values["request_rate"] == pytest.approx(20.0, rel=1e-6)
    assert values["p99_latency"] == pytest.approx(0.3, rel=1e-3)
    assert values["saturation"] == pytest.approx(0.2, rel=1e-6)  # 0.1 + 0.1 CPU of 0.5 + 0.5
