"""Copier migration, run after every update: carry a team's edits of the
request-handling modules that moved from config/ to ops/ (after 0.11.0)
into their new files.

copier deletes a file the new release no longer has, edited or not. So for
each moved module the service's last commit still holds at its old path and
the team changed (compared with the file its release shipped), the team's
changes are merged into the new file with ``git merge-file``, as copier
merges any other file; a change the new file cannot take is left between
conflict markers. A service already past the move has none of the old paths
and this does nothing.

Takes: the new template's folder (copier's ``_copier_conf.src_path``, a git
clone holding the releases); reads VERSION_FROM (the release the service
was made from) from copier's environment; runs in the service's folder.
Prints what it did. Exits non-zero only if git fails unexpectedly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Old path in the service -> (its file in the template, new path in the service).
MOVED = {
    "config/health.py": ("config/health.py", "ops/probes.py"),
    "config/observability.py": ("config/observability.py", "ops/request_id.py"),
    "config/proxy.py": ("config/proxy.py", "ops/forwarded_for.py"),
    "config/gunicorn_logging.py": ("config/gunicorn_logging.py", "ops/gunicorn_logger.py"),
    "config/cache.py": ("config/cache.py", "ops/cache.py"),
    "config/tracing.py": (
        "config/{% if opentelemetry %}tracing.py{% endif %}",
        "ops/tracing.py",
    ),
}


def show(revision: str, path: str, cwd: str = ".") -> str | None:
    """The file ``path`` at ``revision`` in the repository at ``cwd``; None if absent."""
    shown = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=cwd, capture_output=True, text=True
    )
    return shown.stdout if shown.returncode == 0 else None


def main(template: str) -> int:
    release = os.environ.get("VERSION_FROM", "")
    for old, (shipped_as, new) in MOVED.items():
        team = show("HEAD", f"./{old}")
        shipped = show(release, f"template/{shipped_as}", cwd=template) if release else None
        if team is None or shipped is None or team == shipped or not Path(new).exists():
            continue
        with tempfile.TemporaryDirectory() as folder:
            base, theirs = Path(folder, "shipped"), Path(folder, "team")
            base.write_text(shipped)
            theirs.write_text(team)
            merged = subprocess.run(
                ["git", "merge-file", "-L", f"{new} (this release)", "-L",
                 f"{old} ({release})", "-L", f"your {old}", new, str(base), str(theirs)],
            )  # fmt: skip
        if merged.returncode < 0 or merged.returncode > 127:
            print(f"copier update: git merge-file failed on {new}", file=sys.stderr)
            return 1
        outcome = "merged" if merged.returncode == 0 else "merged, with conflicts to resolve"
        print(f"copier update: {old} moved to {new}; your edits {outcome} (`git diff {new}`)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
