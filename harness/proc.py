"""One way to run a command, and git on top of it."""

from __future__ import annotations

import subprocess
from pathlib import Path

# Commits made by the tests carry this identity, whatever the machine's git config.
GIT_IDENTITY = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.invalid"]


def run(
    cmd: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; return the completed process, stdout and stderr as text.

    ``env`` replaces the environment when given (pass ``os.environ | {...}``
    to extend it). Raises ``AssertionError`` holding the command's output when
    ``check`` is set and it exits non-zero, so a failing test shows why, and
    ``subprocess.TimeoutExpired`` after ``timeout`` seconds.
    """
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, input=input
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode} (in {cwd or '.'})\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


def git(cwd: Path, *args: str) -> str:
    """Run ``git ARGS`` in ``cwd`` with the tests' identity; return stdout."""
    return run(["git", *GIT_IDENTITY, *args], cwd=cwd).stdout


def commit_all(cwd: Path, message: str) -> None:
    """Stage everything in the work tree at ``cwd`` and commit it."""
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "--message", message)


def init_repo(cwd: Path, message: str) -> None:
    """Make ``cwd`` a git repository whose first commit holds all it contains."""
    git(cwd, "init", "--quiet", "--initial-branch=main")
    commit_all(cwd, message)
