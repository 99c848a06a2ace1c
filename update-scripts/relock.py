"""Copier migration, run after every update in the service's folder:
reconcile uv.lock with the service's own pyproject.toml, which the update may
have just merged. Safe to re-run: a lock that already matches stays as is.

Takes: nothing; runs in the service's folder. Prints what it did. Exits 0
even when uv cannot lock (conflict markers still in pyproject.toml, no
network): it says so, leaves uv.lock as it was, and the update stands.
Relies on: `uv lock` rewriting the lock only when the project changed.
"""

import shutil
import subprocess
import sys


def main() -> int:
    uv = shutil.which("uv")
    if uv is None:
        print("copier update: uv not found; run `uv lock` yourself to refresh uv.lock")
        return 0
    result = subprocess.run([uv, "lock"], check=False)
    if result.returncode != 0:
        print("copier update: uv.lock not refreshed; resolve pyproject.toml, then run: uv lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
