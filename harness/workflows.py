"""Checks every GitHub Actions workflow we ship must pass, the template's own
and each render's: actionlint, zizmor (offline, default persona, with
harness/zizmor.yml: its ``unpinned-uses`` audit wants every action pinned to
a full commit SHA), the published workflow schema, and each pin's version in
a comment; a zizmor suppression must give its reason.

Also what a test needs to see a workflow behave without GitHub: the part of
GitHub's expression language the workflows use (``evaluate``,
``interpolate``, ``runs``), and ``run_job``, which runs a job's steps here
with stand-ins for the actions."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from dataclasses import dataclass, field
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


# GitHub Actions expressions, the part of the language the workflows use:
# literals, context properties, ! < <= > >= == != && || and parentheses
# (https://docs.github.com/en/actions/reference/workflows-and-actions/expressions).
TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<operator>==|!=|<=|>=|&&|\|\||[!<>()])"
    r"|(?P<name>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*))"
)
TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def _tokens(expression: str) -> list[tuple[str, str]]:
    found, at = [], 0
    while at < len(expression.rstrip()):
        match = TOKEN.match(expression, at)
        if match is None or match.end() == at:
            raise ValueError(f"cannot read {expression!r} at {expression[at:]!r}")
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def _truthy(value) -> bool:
    return value not in (None, False, 0, "") and value == value  # NaN is falsy


def _number(value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip() or 0)
        except ValueError:
            return float("nan")
    return float("nan")


def _equal(left, right) -> bool:
    scalar = (str, bool, int, float, type(None))
    if not (isinstance(left, scalar) and isinstance(right, scalar)):
        return left is right  # objects and arrays: the same one only
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()  # GitHub ignores case
    if type(left) is type(right):
        return left == right
    return _number(left) == _number(right)  # types differ: compared as numbers


def evaluate(expression: str, contexts: dict):
    """The value of one GitHub Actions ``expression`` (without ``${{ }}``),
    with ``contexts`` such as ``{"github": {...}, "env": {...}}``; a property
    a context lacks is null, as on GitHub; a context not given is an error."""
    tokens = _tokens(expression)
    at = 0

    def peek():
        return tokens[at] if at < len(tokens) else (None, None)

    def take(kind=None, text=None):
        nonlocal at
        token = peek()
        if token[0] is None or (kind and token[0] != kind) or (text and token[1] != text):
            raise ValueError(f"unexpected {token[1]!r} in {expression!r}")
        at += 1
        return token

    def primary():
        kind, text = take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if kind == "operator" and text == "(":
            value = either()
            take("operator", ")")
            return value
        if kind == "name":
            if peek() == ("operator", "("):
                raise ValueError(f"function {text}() is not supported: {expression!r}")
            literals = {"true": True, "false": False, "null": None}
            if text in literals:
                return literals[text]
            head, *rest = text.split(".")
            value = contexts[head]
            for part in rest:
                value = value.get(part) if isinstance(value, dict) else None
            return value
        raise ValueError(f"unexpected {text!r} in {expression!r}")

    def unary():
        if peek() == ("operator", "!"):
            take()
            return not _truthy(unary())
        return primary()

    def relation():
        value = unary()
        while peek()[1] in ("<", "<=", ">", ">="):
            op = take()[1]
            left, right = _number(value), _number(unary())
            value = {"<": left < right, "<=": left <= right, ">": left > right,
                     ">=": left >= right}[op]  # fmt: skip
        return value

    def equality():
        value = relation()
        while peek()[1] in ("==", "!="):
            op = take()[1]
            same = _equal(value, relation())
            value = same if op == "==" else not same
        return value

    def both():
        value = equality()
        while peek() == ("operator", "&&"):
            take()
            right = equality()
            value = right if _truthy(value) else value
        return value

    def either():
        value = both()
        while peek() == ("operator", "||"):
            take()
            right = both()
            value = value if _truthy(value) else right
        return value

    value = either()
    if at != len(tokens):
        raise ValueError(f"unexpected {tokens[at][1]!r} in {expression!r}")
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def interpolate(value, contexts: dict):
    """``value`` (a workflow's string, or a mapping or list of them) with each
    ``${{ expression }}`` replaced by its value as GitHub writes it in a
    string (``true``, ``false``, empty for null)."""
    if isinstance(value, dict):
        return {key: interpolate(item, contexts) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, contexts) for item in value]
    if not isinstance(value, str):
        return value
    return TEMPLATE.sub(lambda m: _text(evaluate(m.group(1), contexts)), value)


def runs(item: dict, contexts: dict) -> bool:
    """Whether a job or step with ``item``'s ``if:`` runs, given ``contexts``
    and that nothing before it failed (no ``if:``: it runs)."""
    condition = item.get("if", True)
    if isinstance(condition, str):
        whole = TEMPLATE.fullmatch(condition.strip())
        condition = evaluate(whole.group(1) if whole else condition, contexts)
    return _truthy(condition)


@dataclass
class JobRun:
    """What ``run_job`` saw: whether the job's ``if:`` skipped it, the steps
    that ran (``uses`` or ``run`` text), what each action that ran was given
    (its ``with:``, evaluated; by step id, else by action), the ``steps``
    context they left, the job summary, and the output of the step that
    failed (None when none did)."""

    skipped: bool = False
    ran: list[str] = field(default_factory=list)
    given: dict[str, dict] = field(default_factory=dict)
    steps: dict = field(default_factory=dict)
    summary: str = ""
    failure: str | None = None


def run_job(
    job: dict,
    contexts: dict,
    workspace: Path,
    *,
    actions: dict[str, dict] | None = None,
    artifacts: dict[str, Path],
    path: Path | None = None,
) -> JobRun:
    """Run ``job`` here, as a runner would for ``contexts`` (github, vars,
    matrix, runner.arch...), in ``workspace``: nothing if its ``if:`` fails,
    else each step whose ``if:`` holds, in order, until one fails. ``run:``
    steps run in the job's bash (with $RUNNER_TEMP, $GITHUB_OUTPUT,
    $GITHUB_STEP_SUMMARY and the job's and step's ``env``), ``path`` first on
    $PATH (stand-ins for docker, say).
    actions/upload-artifact and actions/download-artifact move files through
    ``artifacts`` (name to folder); any other action runs not at all and its
    outputs are ``actions[step id]``."""
    if not runs(job, contexts):
        return JobRun(skipped=True)
    shell = job.get("defaults", {}).get("run", {}).get("shell")
    assert shell == "bash", f"run steps need shell: bash (pipefail), not {shell}"
    temp = workspace / "runner-temp"
    temp.mkdir(parents=True, exist_ok=True)
    summary = workspace / "step-summary.md"
    summary.touch()
    contexts = dict(contexts, steps={}, runner=dict(contexts.get("runner", {}), temp=str(temp)))
    contexts["env"] = {k: str(v) for k, v in interpolate(job.get("env", {}), contexts).items()}
    result = JobRun(steps=contexts["steps"])
    for number, step in enumerate(job["steps"]):
        if not runs(step, contexts):
            continue
        outputs: dict[str, str] = {}
        if "run" in step:
            result.ran.append(step["run"])
            output = workspace / f"step-{number}.output"
            output.write_text("")
            step_env = interpolate(step.get("env", {}), contexts)
            env = os.environ | contexts["env"] | {k: str(v) for k, v in step_env.items()}
            env |= {
                "RUNNER_TEMP": str(temp),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_REPOSITORY": contexts["github"]["repository"],
            }
            if path:
                env["PATH"] = f"{path}{os.pathsep}{os.environ['PATH']}"
            proc = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                       cwd=workspace, env=env, check=False)  # fmt: skip
            if proc.returncode != 0:
                said = proc.stdout + proc.stderr
                result.failure = f"{step['run']}\n--- exited {proc.returncode}:\n{said}"
                break
            lines = output.read_text().splitlines()
            outputs = dict(line.split("=", 1) for line in lines if "=" in line)
        else:
            action = step["uses"].split("@")[0]
            result.ran.append(action)
            given = result.given[step.get("id", action)] = interpolate(
                step.get("with", {}), contexts
            )
            if action == "actions/upload-artifact":
                source = Path(given["path"])
                if not source.exists():
                    result.failure = f"{action}: no file at {source}"
                    break
                folder = artifacts[given["name"]] = workspace / "artifacts" / given["name"]
                if source.is_dir():
                    shutil.copytree(source, folder)
                else:
                    folder.mkdir(parents=True)
                    shutil.copy(source, folder / source.name)
            elif action == "actions/download-artifact":
                target, merge = Path(given["path"]), given.get("merge-multiple") in (True, "true")
                for name, folder in artifacts.items():
                    if fnmatch.fnmatchcase(name, given.get("pattern", given.get("name", "*"))):
                        shutil.copytree(
                            folder, target if merge else target / name, dirs_exist_ok=True
                        )
            else:
                outputs = (actions or {}).get(step.get("id"), {})
        if "id" in step:
            contexts["steps"][step["id"]] = {"outputs": outputs}
    result.summary = summary.read_text()
    return result
