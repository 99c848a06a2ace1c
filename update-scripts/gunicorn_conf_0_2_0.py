"""Copier migration for 0.2.0, run once in a service updated from an earlier
release: config/gunicorn.py moved to gunicorn.conf.py.

copier deletes a file the new release no longer has, edited or not. So the
settings the team changed in its committed config/gunicorn.py (compared
with the file 0.1.0 shipped, setting by setting) are carried into the new
gunicorn.conf.py, each replacing the release's line for that setting, and
named on the way; settings the team left alone take the release's values,
so later fixes (such as 0.5.0's forwarded-header trust) still reach it.

Takes: nothing; runs in the service's folder (a git work tree, as copier
update requires), after copier has written gunicorn.conf.py. Prints what it
did. Exits non-zero only if git fails.
Relies on: both files being flat ``name = value`` assignments (gunicorn's
format); anything else the team wrote is appended, not lost.
"""

import ast
import subprocess
import sys
from pathlib import Path

OLD = "config/gunicorn.py"
NEW = Path("gunicorn.conf.py")
# What 0.1.0 shipped in config/gunicorn.py: setting -> value, as written.
SHIPPED_IN_0_1_0 = {
    "wsgi_app": '"config.wsgi:application"',
    "bind": "f\"0.0.0.0:{os.environ.get('PORT', '8000')}\"",
    "workers": 'int(os.environ.get("WEB_CONCURRENCY", 2))',
    "threads": 'int(os.environ.get("GUNICORN_THREADS", 1))',
    "accesslog": '"-"',
    "errorlog": '"-"',
    "worker_tmp_dir": '"/dev/shm"',
    "graceful_timeout": "8",
    "timeout": "30",
    "forwarded_allow_ips": '"*"',
    "control_socket_disable": "True",
}


def statements(source: str) -> dict[str, tuple[int, int, str]]:
    """Each top-level ``name = value``: (first line, last line, normalised value)."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                found[target.id] = (node.lineno, node.end_lineno, ast.unparse(node.value))
    return found


def main() -> int:
    committed = subprocess.run(["git", "show", f"HEAD:./{OLD}"], capture_output=True, text=True)
    if committed.returncode != 0:
        print(f"copier update 0.2.0: no {OLD} in HEAD; nothing to move")
        return 0
    team_source = committed.stdout
    team = statements(team_source)
    shipped = {name: ast.unparse(ast.parse(value, mode="eval").body)
               for name, value in SHIPPED_IN_0_1_0.items()}  # fmt: skip
    changed = [name for name, (_, _, value) in team.items() if shipped.get(name) != value]
    if not changed:
        print(f"copier update 0.2.0: gunicorn settings are now in {NEW}")
        return 0
    lines = NEW.read_text().splitlines()
    release = statements(NEW.read_text())
    team_lines = team_source.splitlines()
    appended = []
    # Replace from the bottom up, so earlier line numbers stay valid.
    for name in sorted(changed, key=lambda n: -release.get(n, (0,))[0]):
        first, last, _ = team[name]
        text = team_lines[first - 1 : last]
        if name in release:
            start, end, _ = release[name]
            lines[start - 1 : end] = text
        else:
            appended += text
    if appended:
        lines += ["", f"# Carried from your {OLD} by copier update 0.2.0."] + appended
    NEW.write_text("\n".join(lines) + "\n")
    print(f"copier update 0.2.0: gunicorn settings are now in {NEW}; kept your own values of:")
    print("  " + ", ".join(sorted(changed)))
    print(f"  review with `git diff {NEW}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
