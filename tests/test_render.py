"""What every render gives, without Docker: files, answers, lint, lock."""

from __future__ import annotations

import yaml

from conftest import ROOT
from dockerlib import run


def test_python_version_lives_only_in_python_version_file(rendered):
    _, answers, path = rendered
    version = answers.get("python_version", "3.13")
    assert (path / ".python-version").read_text().strip() == version
    for other in ("Dockerfile", "compose.yaml", "Makefile"):
        assert version not in (path / other).read_text(), other
    # pyproject.toml holds the template's floor, the same whatever the answer.
    assert 'requires-python = ">=3.13"\n' in (path / "pyproject.toml").read_text()


def test_answers_file_records_every_answer(rendered):
    _, answers, path = rendered
    recorded = yaml.safe_load((path / ".copier-answers.yml").read_text())
    questions = yaml.safe_load((ROOT / "copier.yml").read_text())
    # Every question is recorded (so update can replay it), with the answer given.
    assert {key for key in questions if not key.startswith("_")} <= set(recorded)
    for key, value in answers.items():
        assert recorded[key] == value
    assert recorded["_src_path"] and recorded["_commit"]


def test_lock_matches_pyproject(rendered):
    _, _, path = rendered
    run(["uv", "lock", "--check"], cwd=path)
    lock = (path / "uv.lock").read_text()
    for package in ("django", "gunicorn", "psycopg2-binary", "redis", "pytest-django", "ruff"):
        assert f'name = "{package}"' in lock


def test_render_passes_ruff(rendered):
    _, _, path = rendered
    run(["ruff", "check", "--no-cache", "."], cwd=path)
    run(["ruff", "format", "--no-cache", "--check", "."], cwd=path)


def test_images_and_versions_follow_the_answers(rendered):
    _, answers, path = rendered
    dockerfile = (path / "Dockerfile").read_text()
    compose = yaml.safe_load((path / "compose.yaml").read_text())
    uv = answers.get("uv_version", "0.13.9")
    assert f"ARG UV_IMAGE=ghcr.io/astral-sh/uv:{uv}\n" in dockerfile
    assert "ARG DEBIAN_IMAGE=debian:bookworm-slim\n" in dockerfile
    assert compose["services"]["db"]["image"] == f"postgres:{answers.get('postgres_version', 17)}"
    assert compose["services"]["redis"]["image"] == f"redis:{answers.get('redis_version', 8)}"


def test_runtime_uv_answer_decides_how_the_app_starts(rendered):
    _, answers, path = rendered
    cmd = [
        line for line in (path / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    ][-1]
    if answers.get("runtime_uv", True):
        assert cmd.startswith('CMD ["uv", "run", "--offline", "--locked"')
    else:
        assert cmd.startswith('CMD ["gunicorn"')
        assert "COPY --from=uv /uv /usr/local/bin/uv" not in (path / "Dockerfile").read_text()


def test_dev_compose_keeps_the_venv_out_of_the_source_mount(rendered):
    _, _, path = rendered
    compose = yaml.safe_load((path / "compose.yaml").read_text())
    web = compose["services"]["web"]
    assert web["volumes"] == [".:/app"]
    assert web["build"]["target"] == "development"
    # Any volume at /opt/venv would be an anonymous volume that goes stale.
    for service in compose["services"].values():
        assert not any("/opt/venv" in str(v) for v in service.get("volumes", []))
