"""The django_tasks answer on update: a service made before the question
keeps exactly its background work on `copier update --defaults` (its
recorded celery true or false means what it meant, and no Tasks worker
appears), and `--data django_tasks=true` adds the Tasks framework to a
service without Celery."""

from __future__ import annotations

import copier
import pytest
import yaml

from harness.proc import commit_all, git, init_repo, run
from harness.releases import clone_template, last_release_before
from harness.render import answers_of
from harness.updates import problems, update


def services(compose: str) -> set[str]:
    return set(yaml.safe_load(compose)["services"])


@pytest.fixture
def template(tmp_path, cpython):
    """A template clone whose HEAD is tagged 98.0.0 and 99.0.0, beside its newest release."""
    template = clone_template(tmp_path / "template")
    git(template, "tag", "98.0.0")
    git(template, "tag", "99.0.0")
    return template


@pytest.mark.parametrize("celery", [True, False], ids=["celery", "no-celery"])
def test_an_old_service_keeps_its_background_work_on_a_defaults_update(template, tmp_path, celery):
    # 0.13.0 asked the django_tasks question first.
    version = last_release_before("0.13.0")
    service = tmp_path / "service"
    copier.run_copy(str(template), str(service), vcs_ref=version, data={"celery": celery},
                    defaults=True, unsafe=True, quiet=True)  # fmt: skip
    init_repo(service, "Service from the template")
    assert "django_tasks" not in answers_of(service)
    before = services((service / "compose.production.yaml").read_text())

    update(service, vcs_ref="98.0.0")

    recorded = answers_of(service)
    assert recorded["celery"] is celery
    # Asked only without Celery, and then answered by its default.
    assert recorded.get("django_tasks", False) is False
    assert ("django_tasks" in recorded) is not celery
    after = services((service / "compose.production.yaml").read_text())
    assert ({"worker", "beat"} <= after) is celery
    assert ("worker" in after) is ("worker" in before) is celery
    assert not (service / "config" / "tasks_worker.py").exists()
    assert "django-tasks-db" not in (service / "pyproject.toml").read_text()
    assert problems(service) == []
    if celery:
        return
    commit_all(service, "Update to 98.0.0")

    # The one line that adds it (to the newest tag, 99.0.0): the recorded answers plus it.
    run(["copier", "update", "--trust", "--defaults", "--data", "django_tasks=true"], cwd=service)
    assert answers_of(service)["django_tasks"] is True
    assert (service / "config" / "tasks_worker.py").exists()
    assert (service / "notes" / "tasks.py").exists()
    assert (service / "notes" / "migrations" / "0002_notesummary.py").exists()
    assert "worker" in services((service / "compose.production.yaml").read_text())
    assert "django-tasks-db" in (service / "uv.lock").read_text()
    assert problems(service) == []
