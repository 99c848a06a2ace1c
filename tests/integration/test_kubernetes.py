"""The Kubernetes manifests against the image, without a cluster: the
production image run under exactly the constraints the rendered Deployment
and Job declare, every value read from the built YAML, so a manifest that
drifts from the image fails here.

What Docker stands in for: the pod's user and group, read-only root,
dropped capabilities, no privilege escalation, each emptyDir as a tmpfs,
the ConfigMap's settings and a Secret's keys as the environment, and each
probe's path and port as a request to the container, and a pod that reaches
the web Service directly as a request from the host. What it cannot show:
scheduling, the Ingress, NetworkPolicies, the HPA and PDB, and the preStop
pause (a real cluster would)."""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from harness.docker import docker, host_port, remove, start_backing_services, unique
from harness.http import http_get
from harness.proc import run
from harness.questions import integration_variants
from harness.render import answers_of
from harness.report import report
from harness.stack import access_record
from harness.wait import wait_until

NAMES = [name for name, answers in integration_variants().items() if answers.get("kubernetes")]


def built(service: Path, overlay: str) -> dict[str, dict]:
    """The objects of ``overlay`` by kind, and Deployments by ``Deployment/<component>``."""
    out = run(["kubectl", "kustomize", str(service / "deploy" / "kubernetes" / overlay)]).stdout
    found = {}
    for doc in yaml.safe_load_all(out):
        if doc:
            found[doc["kind"]] = doc
            component = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
            found[f"{doc['kind']}/{component}"] = doc
    return found


def docker_flags(
    pod: dict, container: dict, settings: dict[str, str], secret: dict[str, str]
) -> dict:
    """python-on-whales ``run``/``create`` options for ``container`` of ``pod``,
    as the kubelet would run it."""
    context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    emptydirs = {v["name"]: v["emptyDir"] for v in pod.get("volumes", []) if "emptyDir" in v}
    tmpfs = [
        f"{mount['mountPath']}:size={size},mode=1777"
        for mount in container.get("volumeMounts", [])
        if mount["name"] in emptydirs
        for size in [emptydirs[mount["name"]].get("sizeLimit", "64Mi").replace("Mi", "m")]
    ]
    no_escalation = context.get("allowPrivilegeEscalation") is False
    command = container.get("command")
    return {
        "user": f"{context['runAsUser']}:{context['runAsGroup']}",
        "read_only": bool(context.get("readOnlyRootFilesystem")),
        "cap_drop": context.get("capabilities", {}).get("drop", []),
        "security_options": ["no-new-privileges"] if no_escalation else [],
        "tmpfs": tmpfs,
        "envs": {**settings, **secret},
        "entrypoint": command[0] if command else None,
    }


@pytest.fixture(scope="module")
def cluster_less(variant, build_env):
    """The variant's production image, its manifests, and Postgres and Redis."""
    name, path = variant
    tag, net, db, redis = (unique(f"k8s-{name}-{p}") for p in ("image", "net", "db", "redis"))
    run(["make", "image", f"IMAGE={tag}"], cwd=path, env=build_env, timeout=1800)
    docker.network.create(net)
    answers = answers_of(path)
    try:
        database_url = start_backing_services(
            net, db, redis, answers["postgres_version"], answers["redis_version"]
        )
        secret = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://{redis}:6379/0",
        }
        yield {"path": path, "tag": tag, "net": net, "secret": secret}
    finally:
        remove(db, redis)
        docker.network.remove(net)
        docker.image.remove(tag)


def as_declared(cluster_less: dict, overlay: str, workload: str) -> tuple[dict, dict, list[str]]:
    """The pod spec of ``workload`` in ``overlay``, its only container, and the
    ``docker run`` options that reproduce the pod's constraints and settings."""
    objects = built(cluster_less["path"], overlay)
    pod = objects[workload]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    settings = objects["ConfigMap"]["data"]
    return pod, container, docker_flags(pod, container, settings, cluster_less["secret"])


@pytest.mark.parametrize("variant", NAMES, indirect=True)
def test_the_migration_job_runs_as_declared(cluster_less):
    _, container, flags = as_declared(cluster_less, "overlays/production/migrate", "Job")
    started = time.monotonic()
    out = docker.run(
        cluster_less["tag"], container["command"][1:], remove=True,
        networks=[cluster_less["net"]], **flags,
    )  # fmt: skip
    report(f"kubernetes migration Job as declared: exit 0 in {time.monotonic() - started:.1f} s")
    assert "Applying" in out or "No migrations to apply" in out


@pytest.mark.parametrize("variant", NAMES, indirect=True)
def test_the_web_pod_answers_its_probes_under_its_constraints(cluster_less):
    pod, container, flags = as_declared(cluster_less, "overlays/production", "Deployment/web")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    app = unique("k8s-web")
    publish = [(f"127.0.0.1::{port}",) for port in ports.values()]
    docker.create(
        cluster_less["tag"], name=app, networks=[cluster_less["net"]], publish=publish, **flags
    )
    docker.network.connect("bridge", app)
    docker.start(app)
    try:
        started = time.monotonic()
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container[kind]
            get = probe["httpGet"]
            port = get["port"] if isinstance(get["port"], int) else ports[get["port"]]
            url = f"http://127.0.0.1:{host_port(app, port)}{get['path']}"
            budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
            timeout = probe.get("timeoutSeconds", 1)
            # Sent as the kubelet sends it: to the pod's address, no configured host.
            wait_until(
                lambda url=url, timeout=timeout: http_get(url, timeout=timeout)[0] == 200,
                budget,
                f"{kind} {url}",
            )
            if kind == "startupProbe":
                report(
                    f"kubernetes web pod as declared: startupProbe passed "
                    f"{time.monotonic() - started:.1f} s after start"
                )
        # The metrics port the Service exposes serves Prometheus text.
        metrics = f"http://127.0.0.1:{host_port(app, ports['metrics'])}/metrics"
        assert "django_http" in http_get(metrics)[1]
        user = docker.execute(app, ["id", "-u"]).strip()
        assert user == str(pod["securityContext"]["runAsUser"])
    finally:
        remove(app)


@pytest.mark.parametrize("variant", NAMES, indirect=True)
def test_the_web_pod_believes_no_forwarded_header_by_default(cluster_less):
    _, container, flags = as_declared(cluster_less, "overlays/production", "Deployment/web")
    settings = built(cluster_less["path"], "overlays/production")["ConfigMap"]["data"]
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    app = unique("k8s-spoof")
    docker.run(
        cluster_less["tag"], detach=True, name=app, networks=[cluster_less["net"]],
        publish=[(f"127.0.0.1::{port}",)], **flags,
    )  # fmt: skip
    try:
        address = ("127.0.0.1", host_port(app, port))
        wait_until(
            lambda: http_get(f"http://{address[0]}:{address[1]}/healthz")[0] == 200, 60, "/healthz"
        )
        # Any pod in the cluster reaching the Service, claiming HTTPS and another client.
        marker = uuid.uuid4().hex
        response = httpx.get(
            f"http://{address[0]}:{address[1]}/k8s-{marker}",
            headers={
                "Host": settings["DJANGO_ALLOWED_HOSTS"].split(",")[0],
                "X-Forwarded-For": "198.51.100.66",
                "X-Forwarded-Proto": "https",
            },
            timeout=10,
        )
        # Still plain HTTP to the app: Django sends HSTS only on a request it believes secure.
        assert response.status_code == 404, response.status_code
        assert response.headers.get("Strict-Transport-Security") is None
        # REMOTE_ADDR stays the real peer, not the claimed client.
        assert access_record(app, marker)["client"] != "198.51.100.66"
    finally:
        remove(app)
