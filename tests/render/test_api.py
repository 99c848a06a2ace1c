"""The api answer: ninja (a new service's default) adds the typed API and
everything that proves it, none leaves the service as it was; the committed
openapi.json is what the rendered code makes; and an update with --defaults
of a service made before the question keeps api=none, while the documented
one-liner adds the API."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from harness.proc import commit_all, git, run
from harness.releases import clone_template, last_release_before
from harness.render import answers_of
from harness.updates import make_service, problems, update

# What api=ninja adds, by path in the render.
API_FILES = (
    "notes/api.py",
    "ops/problems.py",
    "apikeys/models.py",
    "apikeys/migrations/0001_initial.py",
    "apikeys/management/commands/api_key.py",
    "openapi.json",
    "tests/test_api.py",
)


def test_a_new_service_gets_the_api_by_default(renders):
    _, path = renders["defaults"]
    assert answers_of(path)["api"] == "ninja"


def test_the_answer_adds_or_omits_the_api(rendered):
    _, path = rendered
    ninja = answers_of(path)["api"] == "ninja"
    for name in API_FILES:
        assert (path / name).exists() == ninja, name
    settings = (path / "config" / "settings.py").read_text()
    urls = (path / "config" / "urls.py").read_text()
    makefile = (path / "Makefile").read_text()
    project = tomllib.loads((path / "pyproject.toml").read_text())
    dependencies = " ".join(project["project"]["dependencies"])
    dev = " ".join(project["dependency-groups"]["dev"])
    assert ('"ninja",' in settings and '"apikeys",' in settings) == ninja
    assert ("ops.problems.ProblemMiddleware" in settings) == ninja
    assert ('path("api/", api.urls)' in urls and "handler500" in urls) == ninja
    assert ("django-ninja" in dependencies) == ninja
    # The fuzzer is a development tool only, never in the image's dependencies.
    assert ("schemathesis" in dev) == ninja and "schemathesis" not in dependencies
    assert ("api-schema:" in makefile and "api-fuzz:" in makefile) == ninja
    # The old JSON views stay either way.
    assert 'path("notes/", notes_views.note_list' in urls
    if ninja:
        # Swagger UI in development only.
        assert 'docs_url="/docs" if settings.DEBUG else None' in (path / "notes/api.py").read_text()
        assert "!apikeys/" in (path / ".dockerignore").read_text()


def test_the_summary_operation_follows_the_background_work_answers(renders):
    # Every render with the API, rather than a skip for each without it.
    apis = [path for _, path in renders.values() if answers_of(path)["api"] == "ninja"]
    assert apis
    for path in apis:
        recorded = answers_of(path)
        schema = json.loads((path / "openapi.json").read_text())
        background = recorded["celery"] or recorded.get("django_tasks", False)
        assert ("/api/notes/{note_id}/summary" in schema["paths"]) == background
        assert schema["info"]["title"] == f"{answers_of(path)['project_name']} API"
        assert schema["info"]["description"] == answers_of(path)["description"]
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    if int(status) >= 400:
                        assert list(response["content"]) == ["application/problem+json"]


def test_the_ci_checks_the_schema_and_fuzzes_the_api(rendered):
    _, path = rendered
    ninja = answers_of(path)["api"] == "ninja"
    text = (path / ".github/workflows/ci.yml").read_text()
    runs = [step.get("run") for step in yaml.safe_load(text)["jobs"]["test"]["steps"]]
    assert ("make api-schema && git diff --exit-code openapi.json" in runs) == ninja
    assert ("make up && make api-fuzz" in runs) == ninja
    # GitHub's own expressions came through the template untouched.
    assert "${{ github.workflow }}-${{ github.ref }}" in text


def ninja_renders(renders) -> list[Path]:
    """One api=ninja render with celery, one with the Tasks framework, one with neither."""
    found = {}
    for _, path in renders.values():
        recorded = answers_of(path)
        if recorded["api"] == "ninja":
            found.setdefault((recorded["celery"], recorded.get("django_tasks", False)), path)
    assert set(found) == {(True, False), (False, True), (False, False)}
    return list(found.values())


def test_the_committed_schema_is_the_one_the_code_makes(renders, tmp_path):
    # The render's own venv (uv sync from its lock), no Docker: what `make api-schema` runs.
    env = dict(
        os.environ,
        DJANGO_DEBUG="true",
        # Never connected to: the export only imports the code.
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    # The render's own .venv, not the one pytest runs in.
    env.pop("VIRTUAL_ENV", None)
    for index, path in enumerate(ninja_renders(renders)):
        copy = shutil.copytree(path, tmp_path / f"s{index}")
        run(["uv", "sync", "--locked", "--quiet"], cwd=copy, env=env, timeout=600)
        made = run(
            [
                "uv",
                "run",
                "--locked",
                "python",
                "manage.py",
                "export_openapi_schema",
                "--api",
                "notes.api.api",
                "--indent",
                "2",
                "--sorted",
            ],
            cwd=copy,
            env=env,
        ).stdout
        assert made == (path / "openapi.json").read_text(), path


@pytest.fixture
def old_service(tmp_path, cpython):
    """A template clone whose HEAD is tagged 98.0.0 and 99.0.0, and a service
    made from its newest release, from before the api question."""
    template = clone_template(tmp_path / "template")
    # 0.13.0 asked the api question first.
    service = make_service(template, last_release_before("0.13.0"), tmp_path / "service")
    assert "api" not in answers_of(service)
    git(template, "tag", "98.0.0")
    git(template, "tag", "99.0.0")
    return template, service


def test_an_old_service_keeps_no_api_and_adds_it_with_one_line(old_service):
    template, service = old_service
    update(service, vcs_ref="98.0.0")
    assert answers_of(service)["api"] == "none"
    assert not (service / "notes" / "api.py").exists()
    assert "ninja" not in (service / "pyproject.toml").read_text()
    assert problems(service) == []
    commit_all(service, "Update to 98.0.0")

    # The README's one line (to the newest tag, 99.0.0): the recorded answers, but api=ninja.
    run(["copier", "update", "--trust", "--defaults", "--data", "api=ninja"], cwd=service)
    assert answers_of(service)["api"] == "ninja"
    for name in API_FILES:
        assert (service / name).exists(), name
    assert "django-ninja" in (service / "uv.lock").read_text()
    assert problems(service) == []
