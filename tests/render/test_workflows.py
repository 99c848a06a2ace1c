"""The template's own CI workflow: pinned, least-privilege, lint clean."""

from __future__ import annotations

import yaml

from harness import ROOT
from harness.workflows import problems


def test_template_workflows_pass_actionlint_zizmor_and_the_schema():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    assert problems(workflows, ROOT) == []


def test_template_ci_runs_ci_run_with_a_concurrency_group():
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert ci["permissions"] == {"contents": "read"}
    assert "group" in ci["concurrency"]
    steps = ci["jobs"]["test"]["steps"]
    assert any("bash .ci/run" in step.get("run", "") for step in steps)
