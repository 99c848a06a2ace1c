"""Checks every GitHub Actions workflow we ship must pass, the template's own
and each render's: actionlint, zizmor (offline, default persona, with
harness/zizmor.yml: its ``unpinned-uses`` audit wants every action pinned to
a full commit SHA), the published workflow schema, and each pin's version in
a comment; a zizmor suppression must give its reason."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness import ROOT
from harness.proc import run

# zizmor's unpinned-uses with a hash-pin policy for every action.
ZIZMOR_CONFIG = ROOT / "harness" / "zizmor.yml"
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", re.MULTILINE)
VERSION_COMMENT = re.compile(r"^\s*#\s*v\d+(\.\d+)*\s*$")
# An inline ``# zizmor: ignore[audit]`` and whatever follows it on the line.
SUPPRESSION = re.compile(r"#\s*zizmor:\s*ignore\[[^\]]*\](.*)$", re.MULTILINE)


def unversioned(workflow: Path) -> list[str]:
    """``uses:`` lines of remote actions with no ``# vX.Y.Z`` comment after
    the pin. Ours: zizmor checks such a comment only online
    (``ref-version-mismatch``), and the tests run it offline."""
    found = []
    for ref, rest in USES.findall(workflow.read_text()):
        if not ref.startswith("./") and not VERSION_COMMENT.match(rest):
            found.append(f"{workflow.name}: uses: {ref}{rest}")
    return found


def unexplained_suppressions(workflow: Path) -> list[str]:
    """zizmor suppressions with no reason after them on their line: each one
    hides a finding, so it must say why that finding does not apply."""
    found = []
    for match in SUPPRESSION.finditer(workflow.read_text()):
        if len(match.group(1).strip()) < 10:
            found.append(f"{workflow.name}: {match.group(0).strip()}")
    return found


def steps(workflow: Path, job: str) -> list[dict]:
    """The steps of ``job`` in ``workflow``, in order."""
    return yaml.safe_load(workflow.read_text())["jobs"][job]["steps"]


def problems(workflows: list[Path], repo: Path) -> list[str]:
    """Every finding of the checks above on ``workflows``, which live in the
    git repository ``repo`` (actionlint needs one); empty when all pass."""
    found = [line for workflow in workflows for line in unversioned(workflow)]
    found += [line for workflow in workflows for line in unexplained_suppressions(workflow)]
    names = [str(w) for w in workflows]
    for cmd in (
        ["actionlint", "-no-color", *names],
        ["zizmor", "--offline", "--no-progress", "--config", str(ZIZMOR_CONFIG), *names],
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *names],
    ):
        proc = run(cmd, cwd=repo, check=False)
        if proc.returncode != 0:
            found.append(f"{cmd[0]}:\n{proc.stdout}{proc.stderr}")
    for workflow in workflows:
        document = yaml.safe_load(workflow.read_text())
        if document.get("permissions") not in ({"contents": "read"}, {}):
            found.append(f"{workflow.name}: top-level permissions must be contents: read or none")
        for name, job in document["jobs"].items():
            if "timeout-minutes" not in job:
                found.append(f"{workflow.name}: job {name} has no timeout-minutes")
    return found
