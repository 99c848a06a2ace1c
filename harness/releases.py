"""This template's releases, and throwaway clones of it to tag and commit in."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import Version

from harness import ROOT
from harness.proc import git, run

RELEASE_SUBJECT = re.compile(r"^Release (\d+\.\d+\.\d+)$")


def releases() -> list[tuple[str, str]]:
    """This repository's releases as ``(version, commit)``, oldest first.

    A release is a commit whose subject is ``Release X.Y.Z`` (tagged X.Y.Z);
    the subject is what a clone without tags still carries.
    """
    found = []
    for line in git(ROOT, "log", "--reverse", "--format=%H %s").splitlines():
        commit, _, subject = line.partition(" ")
        match = RELEASE_SUBJECT.match(subject)
        if match:
            found.append((match.group(1), commit))
    return found


def last_release_before(version: str) -> str:
    """The newest release older than ``version``: what a service made before
    that release's questions existed records. Raises IndexError if none."""
    return [v for v, _ in releases() if Version(v) < Version(version)][-1]


def clone_template(dst: Path, tag_releases: bool = True) -> Path:
    """Clone this repository's committed HEAD to ``dst`` (uncommitted changes
    are not in it), tagged only on its releases; return ``dst``."""
    run(["git", "clone", "--quiet", "--no-tags", str(ROOT), str(dst)])
    if tag_releases:
        for version, commit in releases():
            git(dst, "tag", version, commit)
    return dst
