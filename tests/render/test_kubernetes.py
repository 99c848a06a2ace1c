"""The Kubernetes manifests, as every render that asks for them writes them:
each overlay builds with kubectl kustomize, every object validates strictly
against the two newest Kubernetes releases kubernetes-validate carries, and
checkov's Kubernetes checks pass (each skip carries its reason). Gateway API
routes, which kubernetes-validate has no schema for, are checked here by
what they must do instead."""

from __future__ import annotations

import ipaddress
import re
import shutil
from pathlib import Path

import yaml
from kubernetes_validate.utils import all_versions

from harness.proc import run
from harness.render import answers_of
from harness.report import report

# Custom resources: not in kubernetes-validate's built-in schemas, and the
# gateway-api CRD schemas are not available offline to vendor, so schema
# validation is skipped for them here, explicitly; the route tests below
# assert their fields instead.
GATEWAY_API = "gateway.networking.k8s.io/"
# Every pod the manifests run, by its component label.
WORKLOADS = {"Deployment", "Job", "CronJob"}
# PostgreSQL's default max_connections (100) less superuser_reserved_connections (3).
USABLE_CONNECTIONS = 97


def newest_two_minors() -> list[str]:
    """The newest version of each of the two newest minor releases."""
    versions = sorted({tuple(map(int, v.split("."))) for v in all_versions()})
    minors = sorted({v[:2] for v in versions})[-2:]
    return [".".join(map(str, max(v for v in versions if v[:2] == minor))) for minor in minors]


def objects(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


def settings(docs: list[dict]) -> dict[str, str]:
    (config_map,) = of_kind(docs, "ConfigMap")
    return config_map["data"]


def trusted_proxies(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """FORWARDED_ALLOW_IPS as gunicorn and ops/forwarded_for.py read it; fails on
    ``*`` and on any network of more than 256 addresses (wider than a /24)."""
    networks = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        assert entry != "*", "FORWARDED_ALLOW_IPS=* lets any peer claim HTTPS and any client"
        network = ipaddress.ip_network(entry, strict=False)
        assert network.num_addresses <= 256, f"{entry} is wider than a /24"
        networks.append(network)
    return networks


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions In) selects ``labels``."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def pod_template(doc: dict) -> dict:
    """The pod template of a workload (a CronJob's through its job template)."""
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]


def pods(docs: list[dict]) -> dict[str, dict[str, str]]:
    """The pod labels of every workload, by component."""
    found = {}
    for doc in docs:
        if doc["kind"] in WORKLOADS:
            labels = pod_template(doc)["metadata"]["labels"]
            found[labels["app.kubernetes.io/component"]] = labels
    return found


def surge(deployment: dict) -> int:
    """How many pods a rollout may add over ``replicas`` (Kubernetes rounds a
    percentage up; its default is 25%)."""
    strategy = deployment["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return 0
    value = strategy.get("rollingUpdate", {}).get("maxSurge", "25%")
    if isinstance(value, str):
        return -(-deployment["spec"].get("replicas", 1) * int(value.rstrip("%")) // 100)
    return value


def connection_budget(docs: list[dict]) -> dict[str, int]:
    """The Postgres connections each component may hold at once, by the
    README's formula, from a built overlay: web at the HPA's maximum plus its
    rollout surge, each process a connection per thread plus one for /readyz;
    each worker process (a Tasks-framework worker is one); one per other pod
    (beat, the Job, the CronJob)."""
    config = settings(docs)
    deployments = {d["metadata"]["name"].rsplit("-", 1)[1]: d for d in of_kind(docs, "Deployment")}
    budget = {}
    if "web" in deployments:
        (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
        web = deployments["web"]
        pods_ = hpa["spec"]["maxReplicas"] + surge(
            {**web, "spec": {**web["spec"], "replicas": hpa["spec"]["maxReplicas"]}}
        )
        processes, threads = int(config["WEB_CONCURRENCY"]), int(config["GUNICORN_THREADS"])
        budget["web"] = pods_ * processes * (threads + 1)
    if "worker" in deployments:
        worker = deployments["worker"]
        (container,) = pod_template(worker)["spec"]["containers"]
        command = container["command"]
        # Celery's processes, or the Tasks framework's single db_worker process.
        concurrency = 1
        if "--concurrency" in command:
            concurrency = int(command[command.index("--concurrency") + 1])
        budget["worker"] = (worker["spec"]["replicas"] + surge(worker)) * concurrency
    if "beat" in deployments:
        budget["beat"] = deployments["beat"]["spec"]["replicas"] + surge(deployments["beat"])
    for job in of_kind(docs, "Job") + of_kind(docs, "CronJob"):
        spec = job["spec"]["jobTemplate"]["spec"] if job["kind"] == "CronJob" else job["spec"]
        if job["kind"] == "CronJob":
            # Forbid: never a second run while one is still going.
            assert job["spec"]["concurrencyPolicy"] == "Forbid", job["metadata"]["name"]
        budget[job["metadata"]["name"]] = spec.get("parallelism", 1)
    return budget


def with_line_uncommented(service: Path, tmp_path: Path, overlay: str, line: str) -> Path:
    """A copy of ``service``'s manifests with ``line`` (as the overlay's
    comment shows it) uncommented in ``overlay``; the copy's kubernetes folder."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(service / "deploy" / "kubernetes", copy)
    kustomization = copy / overlay / "kustomization.yaml"
    text = kustomization.read_text()
    assert f"# {line}\n" in text, f"{overlay} no longer shows how: {line}"
    kustomization.write_text(text.replace(f"# {line}\n", f"{line}\n"))
    return copy


def test_manifests_exist_exactly_when_asked_for(rendered):
    _, service = rendered
    assert (service / "deploy").exists() is answers_of(service)["kubernetes"]


def test_every_object_validates_strictly_against_the_newest_kubernetes(trees, tmp_path):
    versions = newest_two_minors()
    assert len(versions) == 2
    files = []
    for key, built in trees.items():
        for overlay, path in built.items():
            docs = [d for d in objects(path) if not d["apiVersion"].startswith(GATEWAY_API)]
            files.append(tmp_path / f"{key}-{overlay.replace('/', '-')}.yaml")
            files[-1].write_text(yaml.safe_dump_all(docs))
    for version in versions:
        proc = run(
            ["kubernetes-validate", "--strict", "-k", version, *map(str, files)], check=False
        )
        # An unknown kind is only a warning there; here it is a failure.
        assert proc.returncode == 0 and "WARN" not in proc.stdout + proc.stderr, proc.stdout


def test_checkov_kubernetes_checks_pass_and_every_skip_says_why(trees, checkov):
    assert checkov["kubernetes"] == [], checkov["kubernetes"]
    for built in trees.values():
        for doc in objects(built["overlays/production"]):
            for key, value in (doc.get("metadata", {}).get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    assert re.fullmatch(r"CKV\w+=.{20,}", value), value


def test_the_web_deployment_keeps_the_production_contract(trees):
    for key, built in trees.items():
        docs = objects(built["overlays/production"])
        objects_ = {(d["kind"], d["metadata"]["name"].rsplit("-settings-", 1)[0]): d for d in docs}
        kinds = {kind for kind, _ in objects_}
        assert {
            "Namespace",
            "Deployment",
            "Service",
            "HTTPRoute",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "ConfigMap",
            "ServiceAccount",
        } <= kinds, key
        # No secret value in the tree: the Secret is referenced, never defined.
        assert "Secret" not in kinds, key
        # The Ingress is opt-in (components/ingress): routes come from the Gateway API.
        assert "Ingress" not in kinds, key
        deployment = next(
            d
            for (kind, name), d in objects_.items()
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


def test_the_app_trusts_no_forwarded_header_unless_an_overlay_names_a_narrow_range(
    trees, renders, tmp_path
):
    for key, built in trees.items():
        for overlay, path in built.items():
            value = settings(objects(path)).get("FORWARDED_ALLOW_IPS", "")
            # As rendered, no peer may set X-Forwarded-*: not even a pod in the cluster.
            assert trusted_proxies(value) == [], (key, overlay, value)
        # The overlay's documented way to name the gateway's addresses builds, narrow.
        service = renders[key][1]
        for env in ("staging", "production"):
            line = next(
                line.strip().lstrip("# ")
                for line in (
                    service / f"deploy/kubernetes/overlays/{env}/release/kustomization.yaml"
                )
                .read_text()
                .splitlines()
                if line.strip().startswith("# - FORWARDED_ALLOW_IPS=")
            )
            folder = tmp_path / key / env
            copy = with_line_uncommented(service, folder, f"overlays/{env}/release", line)
            out = folder / "built.yaml"
            out.write_text(run(["kubectl", "kustomize", str(copy / "overlays" / env)]).stdout)
            assert trusted_proxies(settings(objects(out))["FORWARDED_ALLOW_IPS"]), line


def test_the_gateway_redirects_to_https_and_sends_hsts_as_the_app_cannot(trees):
    for key, built in trees.items():
        for env in ("overlays/staging", "overlays/production"):
            docs = objects(built[env])
            # The app cannot see the scheme, so it must not redirect (it would loop).
            assert settings(docs)["DJANGO_SECURE_SSL_REDIRECT"] == "false", (key, env)
            routes = of_kind(docs, "HTTPRoute")
            assert routes and all(r["apiVersion"] == GATEWAY_API + "v1" for r in routes), key
            listeners = {}
            for route in routes:
                for parent in route["spec"]["parentRefs"]:
                    # A Gateway the overlay names, never the base's placeholder.
                    assert parent.get("kind", "Gateway") == "Gateway", route
                    assert "set-by-the-overlay" not in (parent["name"], parent["namespace"]), route
                    listeners[parent["sectionName"]] = route
                assert route["spec"]["hostnames"], route
            assert set(listeners) == {"http", "https"}, key
            # Plain HTTP reaches no pod: every request is redirected to HTTPS.
            for rule in listeners["http"]["spec"]["rules"]:
                assert "backendRefs" not in rule, rule
                redirects = [f for f in rule["filters"] if f["type"] == "RequestRedirect"]
                assert [f["requestRedirect"]["scheme"] for f in redirects] == ["https"], rule
            # HTTPS reaches the web Service's app port (never metrics), with HSTS.
            service = next(
                s for s in of_kind(docs, "Service") if s["metadata"]["name"].endswith("-web")
            )
            app_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http")
            for rule in listeners["https"]["spec"]["rules"]:
                backends = {(b["name"], b["port"]) for b in rule["backendRefs"]}
                assert backends == {(service["metadata"]["name"], app_port)}, rule
                headers = {
                    h["name"].lower(): h["value"]
                    for f in rule["filters"]
                    if f["type"] == "ResponseHeaderModifier"
                    for h in f["responseHeaderModifier"]["set"]
                }
                max_age = re.search(r"max-age=(\d+)", headers["strict-transport-security"])
                assert max_age and int(max_age.group(1)) >= 31_536_000, headers


def test_an_ingress_is_opt_in_with_the_overlays_class_and_no_controller_annotations(
    trees, renders, tmp_path
):
    version = newest_two_minors()[-1]
    for key in trees:
        service = renders[key][1]
        copy = with_line_uncommented(
            service, tmp_path / key, "overlays/production", "- ../../components/ingress"
        )
        out = tmp_path / key / "built.yaml"
        out.write_text(run(["kubectl", "kustomize", str(copy / "overlays/production")]).stdout)
        (ingress,) = of_kind(objects(out), "Ingress")
        overlay = (copy / "overlays/production/kustomization.yaml").read_text()
        # The class the overlay names, and no annotation only one controller reads.
        assert f"value: {ingress['spec']['ingressClassName']}\n" in overlay, ingress
        assert not ingress["metadata"].get("annotations"), ingress
        backends = [
            p["backend"]["service"]["port"]["name"]
            for rule in ingress["spec"]["rules"]
            for p in rule["http"]["paths"]
        ]
        assert backends == ["http"], ingress
        proc = run(["kubernetes-validate", "--strict", "-k", version, str(out)], check=False)
        assert proc.returncode == 0, proc.stdout


def test_every_overlay_applies_a_namespace_enforcing_restricted_pod_security(trees):
    for key, built in trees.items():
        for overlay, path in built.items():
            docs = objects(path)
            (namespace,) = of_kind(docs, "Namespace")
            labels = namespace["metadata"]["labels"]
            for mode in ("enforce", "audit", "warn"):
                assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", (key, overlay)
            # The namespace every other object lands in, so the policy covers them.
            used = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
            assert used == {namespace["metadata"]["name"]}, (key, overlay, used)


def test_each_build_confines_its_own_pods_and_egress_goes_only_where_the_overlay_says(trees):
    # Ports each component may open connections to (53: DNS in kube-system only).
    expected = {
        "web": {53, 5432, 6379, 443},
        "worker": {53, 5432, 6379, 443},
        "beat": {53, 5432, 6379, 443},
        "migrate": {53, 5432},
        "clearsessions": {53, 5432},
    }
    for key, built in trees.items():
        # Each build alone (the migrate overlay is applied on its own) carries the policies.
        for overlay, path in built.items():
            docs = objects(path)
            policies = of_kind(docs, "NetworkPolicy")
            assert pods(docs), (key, overlay)
            for component, labels in pods(docs).items():
                mine = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
                types = {t for p in mine for t in p["spec"]["policyTypes"]}
                # Default deny both ways: a policy of each type selects the pod.
                assert types == {"Ingress", "Egress"}, (key, overlay, component)
                ports = set()
                for policy in mine:
                    for rule in policy["spec"].get("egress", []):
                        # A rule without `ports` would allow every port.
                        assert rule.get("ports"), (key, overlay, policy["metadata"]["name"])
                        rule_ports = {p["port"] for p in rule["ports"]}
                        ports |= rule_ports
                        # A rule without `to` would allow every address.
                        assert rule.get("to"), (key, overlay, policy["metadata"]["name"])
                        for peer in rule["to"]:
                            if rule_ports == {53}:
                                assert peer == {
                                    "namespaceSelector": {
                                        "matchLabels": {
                                            "kubernetes.io/metadata.name": "kube-system"
                                        }
                                    }
                                }, peer
                            else:
                                assert set(peer) == {"ipBlock"}, peer
                                assert ipaddress.ip_network(peer["ipBlock"]["cidr"]).prefixlen > 0
                assert ports == expected[component], (key, overlay, component, ports)


def test_objects_the_web_and_migrate_builds_share_are_identical(trees):
    # Applying either one first never flips a shared object (namespace, settings, egress).
    for key, built in trees.items():
        for env in ("overlays/staging", "overlays/production"):
            web = {(d["kind"], d["metadata"]["name"]): d for d in objects(built[env])}
            job = {(d["kind"], d["metadata"]["name"]): d for d in objects(built[f"{env}/migrate"])}
            assert ("Job" in {k for k, _ in job}) and web.keys() & job.keys(), key
            for shared in web.keys() & job.keys():
                assert web[shared] == job[shared], (key, env, shared)


def test_a_node_drain_keeps_a_celery_worker_and_never_blocks_on_beat(trees, renders):
    for key, built in trees.items():
        if not answers_of(renders[key][1])["celery"]:
            continue
        docs = objects(built["overlays/production"])
        workloads = pods(docs)
        budgets = of_kind(docs, "PodDisruptionBudget")
        (worker,) = [
            d for d in of_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-worker")
        ]
        (budget,) = [b for b in budgets if selects(b["spec"]["selector"], workloads["worker"])]
        # One worker may go at a time, never both.
        assert 1 <= budget["spec"]["minAvailable"] < worker["spec"]["replicas"], budget
        # Beat runs one replica: a budget on it would block every drain.
        assert not [b for b in budgets if selects(b["spec"]["selector"], workloads["beat"])]


def test_every_connection_source_at_the_autoscalers_maximum_fits_in_postgres(trees, renders):
    for key, built in trees.items():
        for env in ("overlays/staging", "overlays/production"):
            # The web build and the migration Job run side by side during a release.
            budget = connection_budget(objects(built[env]))
            budget |= connection_budget(objects(built[f"{env}/migrate"]))
            assert "web" in budget, budget
            total = sum(budget.values())
            assert total <= USABLE_CONNECTIONS, (key, env, budget, total)
            # The README states the same figure.
            readme = (renders[key][1] / "README.md").read_text()
            assert f"= {total} ≤ {USABLE_CONNECTIONS}" in readme, (key, env, budget, total)
        report(f"kubernetes connection budget ({key}): {total} of {USABLE_CONNECTIONS} ({budget})")


def test_the_migration_job_waits_seconds_for_a_lock_and_retries_within_a_deadline(trees):
    for built in trees.values():
        for env in ("overlays/staging", "overlays/production"):
            (job,) = of_kind(objects(built[f"{env}/migrate"]), "Job")
            (container,) = job["spec"]["template"]["spec"]["containers"]
            # config.migrate: a lock not taken in time is reported and retried with backoff.
            assert container["command"] == ["python", "-m", "config.migrate"], container
            env_ = {e["name"]: e["value"] for e in container.get("env", [])}
            # config.migrate's own bounds (test_production.py), moved here never to 0 (no
            # bound): the app's queries queue behind the wait.
            assert 0 < int(env_.get("MIGRATE_LOCK_TIMEOUT_MS", "1")) <= 5000, env_
            assert job["spec"]["backoffLimit"] <= 3, job["spec"]
            assert 0 < job["spec"]["activeDeadlineSeconds"] <= 900, job["spec"]


def test_expired_sessions_are_cleared_daily_by_a_cronjob_hardened_like_the_job(trees, renders):
    for key, built in trees.items():
        for env in ("overlays/staging", "overlays/production"):
            docs = objects(built[env])
            (cron,) = of_kind(docs, "CronJob")
            (job,) = of_kind(objects(built[f"{env}/migrate"]), "Job")
            fields = cron["spec"]["schedule"].split()
            # Once a day: a fixed minute and hour, every day.
            assert fields[0].isdigit() and fields[1].isdigit() and fields[2:] == ["*"] * 3, fields
            spec = cron["spec"]["jobTemplate"]["spec"]
            assert 0 < spec["activeDeadlineSeconds"] <= 3600 and spec["backoffLimit"] <= 3, spec
            pod, job_pod = spec["template"]["spec"], job["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            (job_container,) = job_pod["containers"]
            # With the Tasks framework, old task results go too (it has no scheduler).
            prune = ["sh", "-c", "python manage.py clearsessions && "
                     "python manage.py prune_db_task_results"]  # fmt: skip
            plain = ["python", "manage.py", "clearsessions"]
            tasks = answers_of(renders[key][1]).get("django_tasks", False)
            assert container["command"] == (prune if tasks else plain), container
            assert container["image"] == job_container["image"], key
            assert pod["securityContext"] == job_pod["securityContext"], key
            assert container["securityContext"] == job_container["securityContext"], key
            assert pod["automountServiceAccountToken"] is False, key
            assert container["envFrom"] == job_container["envFrom"], key
            assert container["resources"]["limits"], key


def test_worker_liveness_never_asks_the_broker(trees, renders):
    for key, built in trees.items():
        answers = answers_of(renders[key][1])
        if not (answers["celery"] or answers.get("django_tasks")):
            continue
        docs = objects(built["overlays/production"])
        (worker,) = [
            d for d in of_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-worker")
        ]
        (container,) = worker["spec"]["template"]["spec"]["containers"]
        probe = container["livenessProbe"]
        command = " ".join(probe["exec"]["command"])
        # A ping through Redis fails in every worker at once when Redis blips.
        heartbeat = "celery" if answers["celery"] else "tasks"
        assert "inspect" not in command and f"/tmp/{heartbeat}-worker-heartbeat" in command, command
        # Restarted only after the heartbeat (every 10 s) has been missing a while.
        assert probe["periodSeconds"] * probe["failureThreshold"] >= 60, probe
