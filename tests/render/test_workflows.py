"""The template's own CI workflow: pinned, least-privilege, lint clean."""

from __future__ import annotations

import yaml

from harness import ROOT
from harness.proc import git
from harness.workflows import problems


def test_template_workflows_pass_actionlint_zizmor_and_the_schema():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    assert problems(workflows, ROOT) == []


def test_an_action_pinned_to_a_tag_or_without_its_version_is_a_problem(tmp_path):
    git(tmp_path, "init", "--quiet")
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    checkout = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
    template = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert f"uses: {checkout} # v7.0.1\n" in template
    for pin, finding in (("actions/checkout@v7.0.1 # v7.0.1", "unpinned-uses"),
                         (checkout, f"uses: {checkout}")):  # fmt: skip
        workflow.write_text(template.replace(f"{checkout} # v7.0.1", pin))
        assert any(finding in line for line in problems([workflow], tmp_path)), pin


def test_template_ci_runs_ci_run_with_a_concurrency_group():
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert ci["permissions"] == {"contents": "read"}
    assert "group" in ci["concurrency"]
    steps = ci["jobs"]["test"]["steps"]
    assert any("bash .ci/run" in step.get("run", "") for step in steps)
