"""The Kubernetes manifests, as every render that asks for them writes them:
each overlay builds with kubectl kustomize, every object validates strictly
against the two newest Kubernetes releases kubernetes-validate carries, and
checkov's Kubernetes checks pass (each skip carries its reason)."""

from __future__ import annotations

import re

import yaml
from kubernetes_validate.utils import all_versions

from harness.proc import run
from harness.render import answers_of


def newest_two_minors() -> list[str]:
    """The newest version of each of the two newest minor releases."""
    versions = sorted({tuple(map(int, v.split("."))) for v in all_versions()})
    minors = sorted({v[:2] for v in versions})[-2:]
    return [".".join(map(str, max(v for v in versions if v[:2] == minor))) for minor in minors]


def test_manifests_exist_exactly_when_asked_for(rendered):
    _, service = rendered
    assert (service / "deploy").exists() is answers_of(service)["kubernetes"]


def test_every_object_validates_strictly_against_the_newest_kubernetes(trees):
    versions = newest_two_minors()
    assert len(versions) == 2
    files = [str(path) for built in trees.values() for path in built.values()]
    for version in versions:
        proc = run(["kubernetes-validate", "--strict", "-k", version, *files], check=False)
        # An unknown kind is only a warning there; here it is a failure.
        assert proc.returncode == 0 and "WARN" not in proc.stdout + proc.stderr, proc.stdout


def test_checkov_kubernetes_checks_pass_and_every_skip_says_why(trees, checkov):
    assert checkov["kubernetes"] == [], checkov["kubernetes"]
    for built in trees.values():
        for doc in yaml.safe_load_all(built["overlays/production"].read_text()):
            for key, value in (doc.get("metadata", {}).get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    assert re.fullmatch(r"CKV\w+=.{20,}", value), value


def test_the_web_deployment_keeps_the_production_contract(trees):
    for key, built in trees.items():
        docs = yaml.safe_load_all(built["overlays/production"].read_text())
        objects = {(d["kind"], d["metadata"]["name"].rsplit("-settings-", 1)[0]): d for d in docs}
        kinds = {kind for kind, _ in objects}
        assert {
            "Deployment",
            "Service",
            "Ingress",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "ConfigMap",
            "ServiceAccount",
        } <= kinds, key
        # No secret value in the tree: the Secret is referenced, never defined.
        assert "Secret" not in kinds, key
        deployment = next(
            d
            for (kind, name), d in objects.items()
            if kind == "Deployment" and name.endswith("-web")
        )
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert re.fullmatch(r".+:\d+\.\d+\.\d+|.+@sha256:[0-9a-f]{64}", container["image"]), key
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
            10001,
            10001,
        )
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        context = container["securityContext"]
        assert (
            context["readOnlyRootFilesystem"] is True
            and context["allowPrivilegeEscalation"] is False
        )
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert "startupProbe" in container and container["resources"]["limits"]
        # gunicorn's graceful timeout (8 s) and the preStop pause fit in the grace period.
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > 8 + pause
        assert pod["topologySpreadConstraints"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        emptydirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        assert {mounts[name] for name in emptydirs} == {"/tmp"}
        refs = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in container["envFrom"]}
        assert set(refs) == {"configMapRef", "secretRef"}
        # The Ingress reaches the app's port, never the metrics port.
        ingress = next(d for (kind, _), d in objects.items() if kind == "Ingress")
        backends = [
            p["backend"]["service"]["port"]["name"]
            for rule in ingress["spec"]["rules"]
            for p in rule["http"]["paths"]
        ]
        assert backends == ["http"]
