"""One source of truth: service versions live in copier.yml, tool versions
in uv.lock; every other place that names one agrees with it or reads it."""

from __future__ import annotations

import re
import subprocess
import tomllib

from harness import ROOT
from harness.questions import default, questions

# History says which versions it shipped; the lock and copier.yml are the
# sources; README's questions table is checked against copier.yml below.
SOURCES = {"copier.yml", "uv.lock", "CHANGELOG.md", "README.md"}


def locked(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in out.splitlines() if (ROOT / name).is_file()]


def test_uv_default_is_the_uv_the_tests_lock():
    # .ci/run installs this uv, checked against the lock's hash.
    assert locked("uv") == default("uv_version")


def test_no_other_file_repeats_the_uv_version():
    version = default("uv_version")
    repeats = [
        name
        for name in tracked_files()
        if name not in SOURCES and version in (ROOT / name).read_text(errors="replace")
    ]
    assert repeats == []


def test_readmes_run_the_copier_the_tests_use():
    version = locked("copier")
    for readme in (
        "README.md",
        "template/README.md.jinja",
        "template/.github/workflows/template-update.yml",
    ):
        named = set(re.findall(r"copier@([0-9.]+)", (ROOT / readme).read_text()))
        assert named == {version}, readme


def test_readme_questions_table_lists_every_question_with_its_default():
    section = (ROOT / "README.md").read_text().split("## Questions\n", 1)[1].split("\n\n")[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    table = {name.strip().strip("`"): cell.strip() for name, cell, *_ in rows}
    assert list(table) == list(questions())
    for name, spec in questions().items():
        value = spec["default"]
        if isinstance(value, str) and "{{" in value:
            continue  # computed from another answer; the table says from what
        shown = {True: "yes", False: "no"}.get(value, str(value))
        assert table[name] == shown, name
