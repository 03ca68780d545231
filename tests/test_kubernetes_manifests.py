"""examples/kubernetes/manifests, checked offline: with the real `kubectl` (no cluster: its
client-side generators and kustomize), against Kubernetes' own OpenAPI schemas (the
kubernetes-validate package ships them) and Argo Rollouts' Rollout CRD schema
(tests/data/argo-rollouts, its source noted there), and for the references between them: every
Service and Ingress a Rollout names exists, selects its pods and serves its port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.test_kubernetes_examples import EXAMPLE

MANIFESTS = EXAMPLE / "manifests"
ROLLOUT_SCHEMA = Path(__file__).parent / "data" / "argo-rollouts" / "rollout-v1alpha1-schema.yaml"
K8S_VERSION = kubernetes_validate.latest_version()
#: Each workload manifest and the manifests applied with it.
BUNDLES = {
    "deployment.yaml": ["deployment.yaml"],
    "rollout-bluegreen.yaml": ["rollout-bluegreen.yaml", "services-bluegreen.yaml"],
    "rollout-canary.yaml": ["rollout-canary.yaml", "services-canary.yaml"],
}


def documents(*names: str) -> list[dict[str, Any]]:
    return [doc for name in names for doc in yaml.safe_load_all((MANIFESTS / name).read_text()) if doc]


def kubectl(*args: str, cwd: Path | None = None) -> str:
    assert shutil.which("kubectl"), "kubectl is not installed (.ci/run installs it)"
    result = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                            env={"PATH": "/usr/bin:/bin:/usr/local/bin", "KUBECONFIG": "/dev/null", "HOME": str(cwd or "/tmp")})
    assert result.returncode == 0, result.stderr
    return result.stdout


def unknown_fields(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Fields a structural schema does not name: the API server prunes them (or, with strict
    field validation, refuses them), so in a manifest they are mistakes."""
    problems = []
    if isinstance(value, dict) and "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        for key, item in value.items():
            if key in schema["properties"]:
                problems += unknown_fields(item, schema["properties"][key], f"{where}.{key}")
            elif "additionalProperties" not in schema:
                problems.append(f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += unknown_fields(item, schema["items"], f"{where}[{index}]")
    return problems


def validate_rollout(rollout: dict[str, Any]) -> None:
    schema = yaml.safe_load(ROLLOUT_SCHEMA.read_text())["openAPIV3Schema"]
    jsonschema.validate(rollout, schema)
    assert unknown_fields(rollout, schema) == []
    template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": rollout["spec"]["template"]}
    kubernetes_validate.validate(template, K8S_VERSION, strict=True)  # the CRD's template is a PodTemplateSpec


@pytest.mark.parametrize("name", sorted(p.name for p in MANIFESTS.glob("*.yaml")))
def test_every_manifest_is_valid_against_its_schema(name):
    for doc in documents(name):
        if doc["kind"] == "Rollout":
            assert doc["apiVersion"] == "argoproj.io/v1alpha1"
            validate_rollout(doc)
        else:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validators_refuse_what_a_cluster_would():
    rollout = documents("rollout-canary.yaml")[0]
    rollout["spec"]["strategy"]["canary"]["steps"].append({"setWieght": 75})
    assert unknown_fields(rollout, yaml.safe_load(ROLLOUT_SCHEMA.read_text())["openAPIV3Schema"]) == [".spec.strategy.canary.steps[6].setWieght"]
    rollout = documents("rollout-canary.yaml")[0]
    rollout["spec"]["strategy"]["canary"]["trafficRouting"]["nginx"] = {}
    with pytest.raises(jsonschema.ValidationError, match="'stableIngress' is a required property"):
        validate_rollout(rollout)
    rollout = documents("rollout-bluegreen.yaml")[0]
    rollout["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_rollout(rollout)
    ingress = documents("services-canary.yaml")[2]
    ingress["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = None
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ingress, K8S_VERSION, strict=True)


@pytest.mark.parametrize("workload", sorted(BUNDLES))
def test_every_service_and_ingress_a_workload_names_is_defined_and_reaches_its_pods(workload):
    docs = documents(*BUNDLES[workload])
    (workload_doc,) = [d for d in docs if d["kind"] in ("Deployment", "Rollout")]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    ingresses = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Ingress"}
    strategy = workload_doc["spec"].get("strategy", {})
    named_services = [strategy.get("blueGreen", {}).get(k) for k in ("activeService", "previewService")]
    named_services += [strategy.get("canary", {}).get(k) for k in ("canaryService", "stableService")]
    named_services = [s for s in named_services if s] or ["orders"]
    assert set(named_services) <= set(services), f"{workload} names {named_services}, defined: {sorted(services)}"
    named_ingress = strategy.get("canary", {}).get("trafficRouting", {}).get("nginx", {}).get("stableIngress")
    if named_ingress:
        assert named_ingress in ingresses
        backend = ingresses[named_ingress]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        assert backend == strategy["canary"]["stableService"]  # Argo's nginx routing: the stable Ingress points at the stable Service
    pod_labels = workload_doc["spec"]["template"]["metadata"]["labels"]
    container_ports = {p["name"] for c in workload_doc["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    for name, service in services.items():
        assert service["spec"]["selector"].items() <= pod_labels.items(), f"Service {name} selects no pod of {workload}"
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    for name, ingress in ingresses.items():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                target = path["backend"]["service"]
                assert target["name"] in services, f"Ingress {name} routes to undefined Service {target['name']}"
                assert target["port"]["name"] in {p["name"] for p in services[target["name"]]["spec"]["ports"]}


def test_the_preview_ingress_is_what_release_argo_yaml_smoke_tests():
    config = yaml.safe_load((EXAMPLE / "release-argo.yaml").read_text())
    production = config["environments"]["production"]["smoke"]
    for bundle, preview_service in (("services-bluegreen.yaml", "orders-preview"), ("services-canary.yaml", "orders-canary")):
        ingresses = {d["metadata"]["name"]: d for d in documents(bundle) if d["kind"] == "Ingress"}
        hosts = {rule["host"]: rule["http"]["paths"][0]["backend"]["service"]["name"] for i in ingresses.values() for rule in i["spec"]["rules"]}
        assert hosts[production["preview_url"].removeprefix("https://")] == preview_service
        assert hosts[production["base_url"].removeprefix("https://")] == "orders"


@pytest.mark.parametrize("bundle", ["services-bluegreen.yaml", "services-canary.yaml"])
def test_services_and_ingresses_match_what_kubectl_generates(bundle):
    for doc in documents(bundle):
        name = doc["metadata"]["name"]
        if doc["kind"] == "Service":
            port = doc["spec"]["ports"][0]
            generated = yaml.safe_load(kubectl("create", "service", "clusterip", name, f"--tcp={port['port']}:{port['targetPort']}",
                                               "--dry-run=client", "-o", "yaml"))
            (expected,) = generated["spec"]["ports"]
            assert (expected["port"], expected["targetPort"], expected["protocol"]) == (port["port"], port["targetPort"], "TCP")
            assert generated["spec"]["type"] == doc["spec"].get("type", "ClusterIP")
        else:
            rules = [f"{r['host']}/*={p['backend']['service']['name']}:{p['backend']['service']['port']['name']}"
                     for r in doc["spec"]["rules"] for p in r["http"]["paths"]]
            generated = yaml.safe_load(kubectl("create", "ingress", name, f"--class={doc['spec']['ingressClassName']}",
                                               *(f"--rule={r}" for r in rules), "--dry-run=client", "-o", "yaml"))
            assert generated["spec"] == doc["spec"]


@pytest.mark.parametrize("workload", sorted(BUNDLES))
def test_each_bundle_builds_with_kubectl_kustomize(tmp_path, workload):
    for name in BUNDLES[workload]:
        shutil.copy(MANIFESTS / name, tmp_path / name)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({"resources": BUNDLES[workload], "namespace": "staging"}))
    built = list(yaml.safe_load_all(kubectl("kustomize", str(tmp_path), cwd=tmp_path)))
    assert sorted((d["kind"], d["metadata"]["name"]) for d in built) == sorted((d["kind"], d["metadata"]["name"]) for d in documents(*BUNDLES[workload]))
    assert {d["metadata"]["namespace"] for d in built} == {"staging"}
