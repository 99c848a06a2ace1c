"""Copier migration for 0.5.0, run once in a service updated from an earlier
release: .dockerignore became an allow-list.

Before 0.5.0 every folder reached the image unless excluded; now only the
ones .dockerignore names do. So a team's own apps (say billing/) would
silently vanish from the production image. This script adds a ``!folder/``
line for each top-level folder or Python file the team tracks in git that
holds Python code and is not yet allowed, and says which it added.

Takes: nothing; runs in the service's folder (a git work tree, as copier
update requires), after copier has written the new .dockerignore. Prints
what it did. Exits 0; a .dockerignore that is not the allow-list (a
conflict to resolve by hand) is left alone with a message.
"""

import subprocess
import sys
from pathlib import Path

IGNORE_FILE = Path(".dockerignore")
# Folders that are never part of the production image.
NOT_IMAGE = {"tests", "test", "docs", "deploy", "node_modules", "venv", "staticfiles"}


def tracked_top_level() -> set[str]:
    """Top-level folders (``name/``) and files holding Python that git tracks."""
    out = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout
    found = set()
    for path in out.splitlines():
        parts = Path(path).parts
        if not path.endswith(".py") or parts[0].startswith(".") or parts[0] in NOT_IMAGE:
            continue
        found.add(f"{parts[0]}/" if len(parts) > 1 else parts[0])
    return found


def main() -> int:
    lines = IGNORE_FILE.read_text().splitlines() if IGNORE_FILE.exists() else []
    if "*" not in (line.strip() for line in lines):
        print("copier update 0.5.0: .dockerignore is not the allow-list; resolve it, then add")
        print("  a `!folder/` line for each of your own apps")
        return 0
    allowed = {line.strip()[1:] for line in lines if line.strip().startswith("!")}
    missing = sorted(name for name in tracked_top_level() if name not in allowed)
    if not missing:
        return 0
    # After the last allow line: later deny lines (secrets, bytecode) still win.
    last = max(index for index, line in enumerate(lines) if line.strip().startswith("!"))
    added = [f"!{name}" for name in missing]
    lines[last + 1 : last + 1] = added
    IGNORE_FILE.write_text("\n".join(lines) + "\n")
    print("copier update 0.5.0: .dockerignore is now an allow-list; added your code to it:")
    for line in added:
        print(f"  {line}")
    print("  review with `git diff .dockerignore`; remove what the image does not need")
    return 0


if __name__ == "__main__":
    sys.exit(main())
