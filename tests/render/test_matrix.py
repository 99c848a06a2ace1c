"""What every render gives, for every answer set of the matrix: files that are
fully rendered, follow the answers, lint clean and replay from the answers
file. Lint runs once per distinct file: renders share most of theirs."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import jinja2
import pytest
import yaml

from harness.proc import run
from harness.questions import questions
from harness.render import answers_of, distinct, render

# Jinja left in a rendered file; GitHub's ${{ }} expressions are not Jinja.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|%\}|(?<![$])\{#")


def asked_given(spec: dict, answers: dict) -> bool:
    """Whether copier asks a question with ``spec`` given the other ``answers``."""
    when = spec.get("when", True)
    return when if isinstance(when, bool) else jinja2.Template(when).render(**answers) == "True"


def files(service: Path) -> dict[str, bytes]:
    """Every file of a render but its lock, by path relative to it."""
    return {
        str(path.relative_to(service)): path.read_bytes()
        for path in sorted(service.rglob("*"))
        if path.is_file() and path.name != "uv.lock"
    }


def test_no_file_holds_unrendered_jinja(rendered):
    _, service = rendered
    leftovers = [
        f"{name}:{text[: m.start()].count(chr(10)) + 1}"
        for name, content in files(service).items()
        for text in [content.decode(errors="replace")]
        for m in UNRENDERED.finditer(text)
    ]
    assert leftovers == []
    assert not list(service.rglob("*.jinja"))


def test_answers_file_records_every_answer_and_replays(rendered, tmp_path):
    answers, service = rendered
    recorded = answers_of(service)
    # Every question asked is recorded; one whose `when` is false is not asked.
    asked = {name for name, spec in questions().items() if asked_given(spec, recorded)}
    assert asked <= set(recorded)
    for name, value in answers.items():
        # An answer to a question not asked (django_tasks with celery) is not recorded.
        if name in asked:
            assert recorded[name] == value, name
        else:
            assert name not in recorded, name
    # Rendering again from nothing but the recorded answers gives the same tree.
    again = render(
        tmp_path / "again",
        {k: v for k, v in recorded.items() if not k.startswith("_")},
        src=Path(recorded["_src_path"]),
        vcs_ref=None,
    )
    assert files(again) == files(service)


def test_python_version_lives_only_in_python_version_file(rendered):
    _, service = rendered
    version = answers_of(service)["python_version"]
    assert (service / ".python-version").read_text() == f"{version}\n"
    for other in ("Dockerfile", "compose.yaml", "Makefile"):
        assert version not in (service / other).read_text(), other
    # pyproject.toml holds the template's floor, the same whatever the answer.
    project = tomllib.loads((service / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.13"


def test_images_and_versions_follow_the_answers(rendered):
    _, service = rendered
    answers = answers_of(service)
    dockerfile = (service / "Dockerfile").read_text()
    compose = yaml.safe_load((service / "compose.yaml").read_text())
    assert f"ARG UV_IMAGE=ghcr.io/astral-sh/uv:{answers['uv_version']}\n" in dockerfile
    assert compose["services"]["db"]["image"] == f"postgres:{answers['postgres_version']}"
    assert compose["services"]["redis"]["image"] == f"redis:{answers['redis_version']}"
    assert compose["name"] == answers["project_slug"]
    project = tomllib.loads((service / "pyproject.toml").read_text())["project"]
    assert project["name"] == answers["project_slug"]
    assert project["description"] == answers["description"]
    assert f"django~={answers['django_version']}.0" in project["dependencies"]
    assert "ARG DEBIAN_IMAGE=debian:trixie-slim\n" in dockerfile


def test_extension_points_start_empty_and_are_read(rendered):
    _, service = rendered
    dockerfile = (service / "Dockerfile").read_text()
    for name in ("apt-runtime.txt", "apt-build.txt"):
        lines = (service / name).read_text().splitlines()
        # Comments only: a fresh service installs no extra Debian package.
        assert lines and all(line.startswith("#") for line in lines), name
        assert f"source={name}," in dockerfile
    settings = (service / "config" / "service_settings.py").read_text()
    assert "from config.settings import *" in settings
    assert "DJANGO_SETTINGS_MODULE=config.service_settings" in dockerfile
    assert not (service / "compose.override.yaml").exists()


def test_runtime_uv_answer_decides_how_the_app_starts(rendered):
    _, service = rendered
    runtime_uv = answers_of(service)["runtime_uv"]
    dockerfile = (service / "Dockerfile").read_text()
    production = dockerfile[dockerfile.index(" AS production") :]
    cmd = [line for line in production.splitlines() if line.startswith("CMD ")][-1]
    if runtime_uv:
        assert cmd.startswith('CMD ["uv", "run", "--offline", "--locked"')
        assert "COPY --from=uv /uv /usr/local/bin/uv" in production
    else:
        assert cmd.startswith('CMD ["gunicorn"')
        assert "/uv" not in production


def test_dev_compose_keeps_the_venv_out_of_the_source_mount(rendered):
    _, service = rendered
    compose = yaml.safe_load((service / "compose.yaml").read_text())
    web = compose["services"]["web"]
    assert web["volumes"] == [".:/app"]
    assert web["build"]["target"] == "development"
    # Any volume at /opt/venv would be an anonymous volume that goes stale.
    for svc in compose["services"].values():
        assert not any("/opt/venv" in str(volume) for volume in svc.get("volumes", []))


def test_every_lock_matches_its_pyproject(renders):
    checked = distinct(renders, "pyproject.toml")
    for key, pyproject in checked.items():
        proc = run(["uv", "lock", "--check", "--offline"], cwd=pyproject.parent, check=False)
        assert proc.returncode == 0, f"{key}: {proc.stderr}"
    locked = tomllib.loads((next(iter(checked.values())).parent / "uv.lock").read_text())
    names = {package["name"] for package in locked["package"]}
    assert {"django", "gunicorn", "redis", "pytest-django", "ruff"} <= names


def test_python_code_passes_ruff(renders):
    services = [str(service) for _, service in renders.values()]
    # Each render's own pyproject.toml configures ruff for its files.
    run(["ruff", "check", "--no-cache", *services])
    run(["ruff", "format", "--no-cache", "--check", *services])


def test_dockerfiles_pass_hadolint(renders):
    for key, dockerfile in distinct(renders, "Dockerfile").items():
        proc = run(
            ["hadolint", "--failure-threshold", "warning", "--no-color", dockerfile.name],
            cwd=dockerfile.parent,
            check=False,
        )
        assert proc.returncode == 0, f"{key}:\n{proc.stdout}{proc.stderr}"


def test_every_hadolint_exception_says_why(renders):
    for key, config in distinct(renders, ".hadolint.yaml").items():
        lines = config.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.strip().startswith("- DL"):
                assert lines[number - 1].strip().startswith("#"), f"{key}: {line.strip()}"


def test_compose_files_are_valid(renders):
    if shutil.which("docker") is None:
        pytest.fail(
            "`docker compose config` needs the Docker CLI with its compose plugin "
            "(no engine): install them to run the render tier"
        )
    files = distinct(renders, "compose.yaml")
    run(
        [
            "check-jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            *(str(path) for path in files.values()),
        ]
    )
    for key, compose in files.items():
        proc = run(["docker", "compose", "config", "--quiet"], cwd=compose.parent, check=False)
        assert proc.returncode == 0, f"{key}:\n{proc.stderr}"


def test_observability_follows_the_answers(rendered):
    _, service = rendered
    answers = answers_of(service)
    dependencies = tomllib.loads((service / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    names = {re.split(r"[\[<>=~]", dependency)[0] for dependency in dependencies}
    # Logs and metrics cost nothing and need no vendor: always there.
    assert {"python-json-logger", "django-prometheus"} <= names
    assert ("sentry-sdk" in names) is answers["sentry"]
    assert ("opentelemetry-sdk" in names) is answers["opentelemetry"]
    settings = (service / "config" / "settings.py").read_text()
    assert ("sentry_sdk.init(" in settings) is answers["sentry"]
    assert (service / "ops" / "tracing.py").exists() is answers["opentelemetry"]
    wsgi = (service / "config" / "wsgi.py").read_text()
    assert ("configure_tracing()" in wsgi) is answers["opentelemetry"]


def test_background_work_follows_the_answer(rendered, tmp_path):
    _, service = rendered
    answers = answers_of(service)
    celery = answers["celery"]
    # Recorded only when asked (celery false); one or the other, never both.
    tasks = answers.get("django_tasks", False)
    assert not (celery and tasks)
    assert ("django_tasks" in answers) is not celery
    assert (service / "config" / "celery.py").exists() is celery
    assert (service / "config" / "tasks_worker.py").exists() is tasks
    assert (service / "notes" / "tasks.py").exists() is (celery or tasks)
    assert (service / "notes/migrations/0002_notesummary.py").exists() is (celery or tasks)
    development = yaml.safe_load((service / "compose.yaml").read_text())["services"]
    assert ("worker" in development) is (celery or tasks)
    assert ("beat" in development) is celery
    production = yaml.safe_load((service / "compose.production.yaml").read_text())["services"]
    assert ("worker" in production) is (celery or tasks)
    assert ("beat" in production) is celery
    if tasks:
        return
    if not celery:
        return
    settings = (service / "config" / "settings.py").read_text()
    assert "CELERY_TASK_ACKS_LATE = True" in settings
    assert "CELERY_WORKER_PREFETCH_MULTIPLIER = 1" in settings
    # The worker's health is its own heartbeat file, never a question through
    # Redis; its grace period outlasts a task's soft limit (60 s).
    worker = production["worker"]
    common = yaml.safe_load((service / "compose.common.yaml").read_text())["services"]
    healthcheck = " ".join(common["worker"]["healthcheck"]["test"])
    assert "celery-worker-heartbeat" in healthcheck and "inspect ping" not in healthcheck
    assert int(worker["stop_grace_period"].rstrip("s")) > 60
    assert worker["read_only"] is True and worker["cap_drop"] == ["ALL"]
    if answers["kubernetes"]:
        docs = yaml.safe_load_all((service / "deploy/kubernetes/base/worker.yaml").read_text())
        deployments = {
            d["metadata"]["name"].rsplit("-", 1)[1]: d for d in docs if d["kind"] == "Deployment"
        }
        beat = deployments["beat"]["spec"]
        assert (beat["replicas"], beat["strategy"]["type"]) == (1, "Recreate")
        grace = deployments["worker"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > 60


# A setting read from the environment, in code (not in a comment).
READ_FROM_ENV = re.compile(
    r'^[^#\n]*(?:env(?:\.\w+)?\(\s*|os\.environ(?:\.get|\.setdefault)?[(\[]\s*)"([A-Z][A-Z0-9_]*)"',
    re.MULTILINE,
)


def test_env_example_lists_every_setting_the_service_reads(rendered):
    _, service = rendered
    # The template's code; config/service_settings.py is the team's to fill.
    code = [
        service / "gunicorn.conf.py",
        *(p for p in sorted((service / "config").glob("*.py")) if p.name != "service_settings.py"),
        *sorted((service / "ops").glob("*.py")),
    ]
    read = {name for path in code for name in READ_FROM_ENV.findall(path.read_text())}
    # Django's own variable, which manage.py and the images set.
    read -= {"DJANGO_SETTINGS_MODULE"}
    example = (service / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert read, "no setting found: the pattern no longer matches the code"
    assert sorted(read - listed) == []


def test_markdown_headings_start_their_own_line(rendered):
    _, service = rendered
    for path in service.rglob("*.md"):
        fence = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            fence ^= line.startswith("```")
            # A block tag that ate its newline glues a heading to the line before.
            assert fence or not re.search(r"\S\s*#{2,} ", line.lstrip("#")), (
                f"{path.name}:{number}: {line}"
            )


def test_the_tasks_framework_answer_brings_its_worker_and_settings(renders):
    # Every render with the Tasks framework, rather than a skip for each without it.
    services = [path for _, path in renders.values() if answers_of(path).get("django_tasks")]
    assert services
    for service in services:
        answers = answers_of(service)
        backport = answers["django_version"] == "5.2"
        settings = (service / "config" / "settings.py").read_text()
        assert '"BACKEND": "django_tasks_db.DatabaseBackend"' in settings
        assert '"django_tasks_db",' in settings
        # The backport is an app of its own on 5.2; 6.x has django.tasks built in.
        assert ('"django_tasks",' in settings) is backport
        assert "CELERY" not in settings
        tasks = (service / "notes" / "tasks.py").read_text()
        assert ("from django_tasks import task" in tasks) is backport
        assert ("from django.tasks import task" in tasks) is not backport
        project = tomllib.loads((service / "pyproject.toml").read_text())
        dependencies = " ".join(project["project"]["dependencies"])
        assert ("django-tasks-db[compat]" in dependencies) is backport
        assert "django-tasks-db" in dependencies and "celery" not in dependencies
        views = (service / "notes" / "views.py").read_text()
        assert "summarise_note.enqueue(note.pk, work_seconds)" in views
        common = yaml.safe_load((service / "compose.common.yaml").read_text())["services"]
        healthcheck = " ".join(common["worker"]["healthcheck"]["test"])
        # A local file, never Postgres or Redis.
        assert "/tmp/tasks-worker-heartbeat" in healthcheck and "manage.py" not in healthcheck
        development = yaml.safe_load((service / "compose.yaml").read_text())["services"]
        assert "config.tasks_worker --no-reload" in " ".join(development["worker"]["command"])
        assert "redis" not in development["worker"]["depends_on"]
        production = yaml.safe_load((service / "compose.production.yaml").read_text())["services"]
        worker = production["worker"]
        assert worker["command"][:3] == ["python", "-m", "config.tasks_worker"]
        assert "--no-reload" in worker["command"]
        # SIGTERM lets the task finish: the grace period outlasts the example's 30 s.
        assert int(worker["stop_grace_period"].rstrip("s")) > 30
        assert worker["restart"] == "unless-stopped"
        assert "redis" not in worker["depends_on"]
        assert production["migrate"]["command"][-1].endswith(
            "&& python manage.py prune_db_task_results"
        )
        if answers["kubernetes"]:
            base = service / "deploy/kubernetes/base"
            docs = list(yaml.safe_load_all((base / "worker.yaml").read_text()))
            (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
            pod = deployment["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            assert container["command"][:3] == ["python", "-m", "config.tasks_worker"]
            assert pod["terminationGracePeriodSeconds"] > 30
            assert "tasks-worker-ready" in " ".join(container["readinessProbe"]["exec"]["command"])
            cronjobs = yaml.safe_load_all((base / "clearsessions.yaml").read_text())
            (cronjob,) = [d for d in cronjobs if d["kind"] == "CronJob"]
            command = " ".join(
                cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
                    "command"
                ]
            )
            assert "prune_db_task_results" in command and "clearsessions" in command
