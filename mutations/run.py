"""The mutation check: does a test fail when a guarantee breaks?

Usage::

    uv run python -m mutations                  # every mutation (about an hour)
    uv run python -m mutations --render-only    # only those the render tier kills (minutes)
    uv run python -m mutations --only ID [ID ...]
    uv run python -m mutations --list

Needs what the tiers need: the environment machine/prepare prints, exported
before the process starts, and a Docker engine for integration killers.

Takes the committed HEAD of this checkout, cloned (``git clone --shared``)
into a temporary folder: the working tree is never read or written, so
uncommitted edits neither count nor get in the way. Runs every selected
mutation's killers once on that unmutated clone; they must pass, else it
aborts. Then, for each mutation of mutations.yaml, in a fresh clone: replaces
the entry's ``find`` text (which must occur exactly once in its file) by
``replace``, commits it (the integration tier renders from git HEAD), and runs
the killers with this interpreter's pytest, cwd the clone, each run bounded
by a timeout.

Prints one line per mutation (killed, survived or broken, and seconds), then
the kill rate, the survivors with the guarantee they leave untested, and the
broken entries with why. Returns (exit code) 0 when every mutation run was
killed, 1 when any survived or is broken, 2 when the list is invalid or the
unmutated snapshot fails its killers.

Relies on pytest's exit codes (0 all passed, 1 some test failed, 2
interrupted or a collection error, 3 internal error, 4 usage error such as
a node id not found, 5 no test collected) and on its JUnit XML, where a
failed test is a ``<failure>`` and an error in a fixture's setup or teardown
an ``<error>``: only a ``<failure>`` counts as a kill.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LIST = Path(__file__).with_name("mutations.yaml")
FIELDS = {"id", "file", "find", "replace", "breaks", "killers"}
# Bounds per pytest run: a render-tier run renders the matrix once (under a
# minute here); an integration run builds images and starts a stack.
TIMEOUT = {"render": 900, "integration": 2400}
# Grace after SIGINT for pytest's finalizers to remove the containers they made.
GRACE = 120


@dataclass
class Result:
    outcome: str  # killed, survived or broken
    seconds: float
    detail: str = ""


def load(path: Path = LIST) -> list[dict]:
    """The entries of ``path``; raises ``ValueError`` naming what is wrong."""
    entries = yaml.safe_load(path.read_text())
    seen = set()
    for number, entry in enumerate(entries, 1):
        where = f"{path.name} entry {number} ({entry.get('id', 'no id')})"
        if set(entry) != FIELDS:
            raise ValueError(f"{where}: fields {sorted(entry)}, expected {sorted(FIELDS)}")
        if entry["id"] in seen:
            raise ValueError(f"{where}: id used twice")
        seen.add(entry["id"])
        if entry["find"] == entry["replace"]:
            raise ValueError(f"{where}: replace equals find")
        killers = entry["killers"]
        if not killers or not all(k.startswith("tests/") and "::" in k for k in killers):
            raise ValueError(f"{where}: killers must be pytest node ids under tests/")
    return entries


def tier(entry: dict) -> str:
    """``integration`` when any killer is an integration test, else ``render``."""
    integration = any(k.startswith("tests/integration/") for k in entry["killers"])
    return "integration" if integration else "render"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def clone(commit: str, dst: Path) -> Path:
    """A checkout of ``commit`` at ``dst``, sharing this repository's objects."""
    git("clone", "--quiet", "--shared", "--no-checkout", str(ROOT), str(dst), cwd=ROOT)
    git("checkout", "--quiet", "--detach", commit, cwd=dst)
    return dst


def mutate(snapshot: Path, entry: dict) -> str | None:
    """Apply ``entry`` to ``snapshot`` and commit it; return why it cannot be
    applied (the text is not there exactly once), or None."""
    path = snapshot / entry["file"]
    if not path.is_file():
        return f"{entry['file']} does not exist"
    text = path.read_text()
    count = text.count(entry["find"])
    if count != 1:
        return f"find text occurs {count} times in {entry['file']}, not once"
    path.write_text(text.replace(entry["find"], entry["replace"]))
    git(
        "-c",
        "user.name=mutations",
        "-c",
        "user.email=mutations@localhost",
        "commit",
        "--quiet",
        "--no-verify",
        "-am",
        f"mutation {entry['id']}",
        cwd=snapshot,
    )
    return None


def applies(entry: dict) -> str:
    """Whether ``entry``'s text occurs exactly once in its file at HEAD."""
    show = ["git", "show", f"HEAD:{entry['file']}"]
    proc = subprocess.run(show, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return "file not at HEAD"
    count = proc.stdout.count(entry["find"])
    return "applies at HEAD" if count == 1 else f"find text occurs {count} times at HEAD"


def pytest(
    snapshot: Path, killers: list[str], timeout: float, log: Path
) -> tuple[int | None, Path]:
    """Run ``killers`` in ``snapshot``; return pytest's exit code (None on
    timeout) and its JUnit XML report. Output goes to ``log``."""
    report = log.with_suffix(".xml")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-o",
        "console_output_style=classic",
        f"--junitxml={report}",
        f"--basetemp={log.with_suffix('.tmp')}",
        *killers,
    ]
    with log.open("w") as out:
        # Its own session, so a timeout can interrupt pytest and whatever it started.
        proc = subprocess.Popen(
            cmd, cwd=snapshot, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            return proc.wait(timeout=timeout), report
        except subprocess.TimeoutExpired:
            # SIGINT first: pytest then runs the finalizers that remove containers.
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return None, report


def outcomes(report: Path) -> tuple[list[str], list[str]]:
    """Names of the failed tests and of those with an error in setup or teardown."""
    if not report.exists():
        return [], []
    failed, errors = [], []
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            failed.append(name)
        if case.find("error") is not None:
            errors.append(name)
    return failed, errors


def tail(log: Path, lines: int = 12) -> str:
    return "\n".join("      " + line for line in log.read_text().splitlines()[-lines:])


def judge(code: int | None, report: Path, log: Path, timeout: float) -> tuple[str, str]:
    """``(outcome, detail)`` of a mutated run."""
    if code is None:
        return "broken", f"timed out after {timeout:.0f} s\n{tail(log)}"
    failed, errors = outcomes(report)
    if code == 0:
        return "survived", "every killer passed"
    if code == 1 and failed:
        return "killed", f"{len(failed)} failed, e.g. {failed[0]}"
    if code == 1:
        return "broken", f"no test failed; errors in setup or teardown: {errors}\n{tail(log)}"
    return "broken", f"pytest exit code {code} (not a test failure)\n{tail(log)}"


def run_one(entry: dict, commit: str, work: Path) -> Result:
    started = time.monotonic()
    snapshot = clone(commit, work / entry["id"])
    try:
        problem = mutate(snapshot, entry)
        if problem:
            return Result("broken", time.monotonic() - started, problem)
        timeout = TIMEOUT[tier(entry)]
        log = work / f"{entry['id']}.log"
        code, report = pytest(snapshot, entry["killers"], timeout, log)
        outcome, detail = judge(code, report, log, timeout)
        return Result(outcome, time.monotonic() - started, detail)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)


def collected(snapshot: Path, killers: list[str]) -> set[str]:
    """The node ids pytest collects from the killers' files in ``snapshot``."""
    files = sorted({k.split("::")[0] for k in killers if (snapshot / k.split("::")[0]).is_file()})
    if not files:
        return set()
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *files]
    out = subprocess.run(cmd, cwd=snapshot, capture_output=True, text=True, timeout=600).stdout
    return {line.strip() for line in out.splitlines() if "::" in line}


def missing(entry: dict, found: set[str]) -> list[str]:
    """The killers of ``entry`` that name no collected test (a parametrized
    test is named with or without its ``[id]``)."""
    return [k for k in entry["killers"] if not any(n == k or n.startswith(k + "[") for n in found)]


def baseline(entries: list[dict], commit: str, work: Path) -> tuple[dict[str, Result], str | None]:
    """Check the killers of ``entries`` on the unmutated snapshot: those of
    an entry whose killers are not all collected are left out (the entry is
    broken); the rest are run and must pass. Return the broken entries'
    results, and why the rest do not all pass (or None)."""
    snapshot = clone(commit, work / "unmutated")
    started = time.monotonic()
    try:
        found = collected(snapshot, [k for entry in entries for k in entry["killers"]])
        broken = {
            entry["id"]: Result("broken", 0.0, f"killer not collected at HEAD: {absent}")
            for entry in entries
            if (absent := missing(entry, found))
        }
        runnable = [entry for entry in entries if entry["id"] not in broken]
        killers = list(dict.fromkeys(k for entry in runnable for k in entry["killers"]))
        if not killers:
            return broken, None
        timeout = max(TIMEOUT[tier(entry)] for entry in runnable) * 2
        log = work / "unmutated.log"
        code, report = pytest(snapshot, killers, timeout, log)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    print(
        f"unmutated: {len(killers)} killers, exit code {code}, {time.monotonic() - started:.0f} s",
        flush=True,
    )
    if code != 0:
        failed, errors = outcomes(report)
        return broken, f"exit code {code}; failed {failed}; errors {errors}\n{tail(log, 25)}"
    return broken, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutations", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutations")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="skip mutations whose killers are integration tests",
    )
    parser.add_argument("--list", action="store_true", help="print the list and exit")
    parser.add_argument("--file", type=Path, default=LIST, help="the list (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        entries = load(args.file)
    except (ValueError, yaml.YAMLError) as error:
        print(f"invalid list: {error}", file=sys.stderr)
        return 2
    if args.only:
        unknown = set(args.only) - {entry["id"] for entry in entries}
        if unknown:
            print(f"unknown ids: {sorted(unknown)}", file=sys.stderr)
            return 2
        entries = [entry for entry in entries if entry["id"] in args.only]
    if args.render_only:
        entries = [entry for entry in entries if tier(entry) == "render"]
    if args.list:
        for entry in entries:
            print(f"{entry['id']} [{tier(entry)}] {entry['file']}: {applies(entry)}")
            print(f"  breaks: {entry['breaks']}")
            print("".join(f"  killer: {killer}\n" for killer in entry["killers"]), end="")
        return 0
    if not entries:
        print("no mutation selected", file=sys.stderr)
        return 2
    commit = git("rev-parse", "HEAD", cwd=ROOT)
    print(
        f"mutating {commit[:12]} (committed HEAD of {ROOT}): {len(entries)} mutations", flush=True
    )
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mutations-"))
    try:
        results, problem = baseline(entries, commit, work)
        if problem:
            print(f"aborted: the killers fail without any mutation: {problem}", file=sys.stderr)
            return 2
        for entry_id, result in results.items():
            print(f"broken   {result.seconds:6.0f} s  {entry_id}: {result.detail}", flush=True)
        for entry in (e for e in entries if e["id"] not in results):
            result = results[entry["id"]] = run_one(entry, commit, work)
            print(
                f"{result.outcome:<8} {result.seconds:6.0f} s  {entry['id']}: {result.detail}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary(entries, results, time.monotonic() - started)


def summary(entries: list[dict], results: dict[str, Result], seconds: float) -> int:
    """Print the kill rate, survivors and broken entries; return the exit code."""
    killed = [e for e in entries if results[e["id"]].outcome == "killed"]
    survived = [e for e in entries if results[e["id"]].outcome == "survived"]
    broken = [e for e in entries if results[e["id"]].outcome == "broken"]
    print(
        f"\nkill rate: {len(killed)}/{len(entries)} ({100 * len(killed) / len(entries):.0f}%) "
        f"in {seconds / 60:.1f} min"
    )
    for entry in survived:
        print(f"survived: {entry['id']}: no killer failed, yet it breaks: {entry['breaks']}")
    for entry in broken:
        print(f"broken entry: {entry['id']}: {results[entry['id']].detail.splitlines()[0]}")
    return 1 if survived or broken else 0
