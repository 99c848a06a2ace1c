"""The questions: each documented, and a bad answer refused with the
validator's message before anything is written."""

from __future__ import annotations

import itertools
import tomllib

import pytest
import yaml

from harness.proc import run
from harness.questions import asked, label, matrix, questions, switches
from harness.render import render


@pytest.mark.parametrize("name", list(questions()))
def test_every_question_has_help_type_and_default(name):
    spec = questions()[name]
    assert spec.get("help"), name
    assert spec.get("type") in {"str", "int", "bool", "yaml", "json", "float"}, name
    assert "default" in spec, name
    # Free text can go wrong in ways choices cannot: it needs a validator.
    if spec["type"] == "str" and "choices" not in spec:
        assert spec.get("validator"), name


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "9 lives!"}, "project_name must start with a letter"),
        ({"project_name": ""}, "project_name must start with a letter"),
        ({"project_slug": "Billing-API"}, "valid Python package name"),
        ({"project_slug": "config"}, "would shadow a module"),
        ({"description": "two\nlines"}, "description must be one line"),
        ({"uv_version": "latest"}, "uv_version must be an exact release"),
        ({"uv_version": "0.12.9"}, "uv_version must be an exact release"),
        ({"python_version": "3.12"}, "Invalid choice for 'python_version'"),
        ({"postgres_version": 9}, "Invalid choice for 'postgres_version'"),
        ({"celery": True, "django_tasks": True}, "django_tasks and celery are one or the other"),
    ],
)
def test_bad_answer_is_refused_and_leaves_no_directory(source, tmp_path, answers, message):
    dst = tmp_path / "service"
    with pytest.raises(ValueError, match=message):
        render(dst, answers, src=source, vcs_ref=None)
    assert not dst.exists()


def test_cli_prints_the_validator_message_and_fails(source, tmp_path):
    dst = tmp_path / "service"
    proc = run(
        [
            "copier",
            "copy",
            "--trust",
            "--defaults",
            "--data",
            "project_name=9 lives!",
            str(source),
            str(dst),
        ],
        check=False,
    )
    assert proc.returncode != 0
    assert "project_name must start with a letter" in proc.stderr
    assert not dst.exists()


def test_slug_is_derived_from_the_name(source, tmp_path):
    dst = render(tmp_path / "service", {"project_name": "Billing-API v2"}, src=source, vcs_ref=None)
    assert (
        tomllib.loads((dst / "pyproject.toml").read_text())["project"]["name"] == "billing_api_v2"
    )
    assert yaml.safe_load((dst / "compose.yaml").read_text())["name"] == "billing_api_v2"


def test_the_matrix_covers_every_pair_of_answers():
    # Whether it renders every combination or falls back to pairwise, no two
    # switch values copier takes together are left untried together, and no
    # row holds a pair it never takes (django_tasks with celery).
    for limit in (10_000, 4):
        rows = matrix(limit=limit)
        assert all(asked(row) for row in rows), limit
        assert not [row for row in rows if row["celery"] and row["django_tasks"]], limit
        for (a, values_a), (b, values_b) in itertools.combinations(switches().items(), 2):
            seen = {(row[a], row[b]) for row in rows}
            taken = {pair for pair in itertools.product(values_a, values_b)
                     if asked({a: pair[0], b: pair[1]})}  # fmt: skip
            assert seen == taken, (limit, a, b)
        # The render tier keys renders by label and reads "defaults": one each.
        labels = [label(row) for row in rows]
        assert labels[0] == "defaults" and len(set(labels)) == len(labels), limit
