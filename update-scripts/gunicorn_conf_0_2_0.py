"""Copier migration for 0.2.0, run once in a service updated from an earlier
release: config/gunicorn.py moved to gunicorn.conf.py.

copier deletes a file the new release no longer has, edited or not. So:
if the service's committed config/gunicorn.py differs from the one 0.1.0
shipped (compared by git blob id), put the service's version at the new path
and say so; an unedited one simply leaves the template's new file in place.

Takes: nothing; runs in the service's folder (a git work tree, as copier
update requires). Prints what it did. Exits non-zero only if git fails.
"""

import subprocess
import sys
from pathlib import Path

OLD = "config/gunicorn.py"
NEW = "gunicorn.conf.py"
SHIPPED_IN_0_1_0 = "6807eb2050ce882569f0637931d0d9c3711d689e"  # git blob id


def git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], capture_output=True, check=False)


def main() -> int:
    committed = git("rev-parse", f"HEAD:./{OLD}")
    if committed.returncode != 0:
        print(f"copier update 0.2.0: no {OLD} in HEAD; nothing to move")
        return 0
    if committed.stdout.decode().strip() == SHIPPED_IN_0_1_0:
        print(f"copier update 0.2.0: gunicorn settings are now in {NEW}")
        return 0
    content = git("show", f"HEAD:./{OLD}")
    if content.returncode != 0:
        sys.stderr.write(content.stderr.decode())
        return 1
    Path(NEW).write_bytes(content.stdout)
    print(f"copier update 0.2.0: your edited {OLD} is now {NEW}, as you had it;")
    print("  its docstring still names the old path: update it when you review the change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
