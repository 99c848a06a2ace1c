"""A bad answer is refused with the validator's message and writes nothing."""

from __future__ import annotations

import pytest

from conftest import ROOT, render
from dockerlib import run


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
    ],
)
def test_bad_answer_is_refused_and_leaves_no_directory(tmp_path, answers, message):
    dst = tmp_path / "service"
    with pytest.raises(ValueError, match=message):
        render(dst, **answers)
    assert not dst.exists()


def test_cli_prints_the_validator_message_and_fails(tmp_path):
    dst = tmp_path / "service"
    proc = run(
        [
            "copier",
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            "--data",
            "project_name=9 lives!",
            str(ROOT),
            str(dst),
        ],
        check=False,
    )
    assert proc.returncode != 0
    assert "project_name must start with a letter" in proc.stderr
    assert not dst.exists()


def test_slug_is_derived_from_the_name(tmp_path):
    dst = render(tmp_path / "service", skip_tasks=True, project_name="Billing-API v2")
    assert 'name = "billing_api_v2"' in (dst / "pyproject.toml").read_text()
    assert "name: billing_api_v2" in (dst / "compose.yaml").read_text()
