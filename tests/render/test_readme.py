"""README.md's first lines: the two commands a newcomer runs."""

from __future__ import annotations

from harness import ROOT
from harness.readme import commands


def test_readme_gives_two_commands_and_ci_runs_the_second():
    first, second = commands("README.md")
    assert first.startswith("uvx copier@") and " copy " in first
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert any(line.endswith(second) for line in ci_lines), second
