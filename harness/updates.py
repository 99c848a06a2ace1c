"""`copier update` as a team lives it: a service made from a release, edited by
the team, updated to a later release.

Relies on copier's documented update: it needs the service in git with a
clean tree, an answers file with ``_commit``, and PEP 440 tags on the
template; it exits 0 even when conflicts remain, so callers look for
markers, ``.rej`` files and unmerged paths themselves (``problems``).
"""

from __future__ import annotations

from pathlib import Path

import copier

from harness.proc import commit_all, git, init_repo, run

# One line of each edit team_edits makes to a file the template ships, at
# the file's path after an update to this checkout.
TEAM_LINES = {
    "ops/probes.py": 'JsonResponse({"status": "ok", "team": "billing"})',
    "config/settings.py": 'INVOICE_PREFIX = env.str("INVOICE_PREFIX", default="INV")\n',
    "pyproject.toml": '"humanize>=',
}
# Files team_edits adds; an update must leave them byte for byte.
TEAM_FILES = ("billing/__init__.py", "billing/apps.py")


def make_service(template: Path, ref: str, dst: Path) -> Path:
    """Render ``template`` at ``ref`` into ``dst`` (copy task included) and
    commit it as a team would; return ``dst``."""
    copier.run_copy(str(template), str(dst), vcs_ref=ref, defaults=True, unsafe=True, quiet=True)
    init_repo(dst, "Service from the template")
    return dst


def team_edits(service: Path) -> dict[str, bytes]:
    """Make the edits a team makes (a dependency, a changed view, a setting,
    a new app, tuned gunicorn settings where they still live in
    config/gunicorn.py), commit them; return the bytes of each file touched."""
    run(["uv", "add", "--quiet", "humanize"], cwd=service)
    health = service / "ops" / "probes.py"
    if not health.exists():  # where releases up to 0.11.0 put it
        health = service / "config" / "health.py"
    health.write_text(
        health.read_text().replace(
            'JsonResponse({"status": "ok"})', 'JsonResponse({"status": "ok", "team": "billing"})'
        )
    )
    settings = service / "config" / "settings.py"
    settings.write_text(
        settings.read_text().replace('    "notes",\n', '    "notes",\n    "billing",\n')
        + '\nINVOICE_PREFIX = env.str("INVOICE_PREFIX", default="INV")\n'
    )
    app = service / "billing"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "apps.py").write_text(
        "from django.apps import AppConfig\n\n\n"
        'class BillingConfig(AppConfig):\n    name = "billing"\n'
    )
    ignore = service / ".dockerignore"
    if "!notes/\n" in ignore.read_text():  # an allow-list (0.5.0 on): name the new app
        ignore.write_text(ignore.read_text().replace("!notes/\n", "!notes/\n!billing/\n"))
    gunicorn = service / "config" / "gunicorn.py"  # where releases before 0.2.0 put it
    if gunicorn.exists():
        tuned = gunicorn.read_text().replace("timeout = 30\n", "timeout = 60\n")
        assert "timeout = 60\n" in tuned
        gunicorn.write_text(tuned)
    commit_all(service, "Team work")
    probes = str(health.relative_to(service))
    edited = ["pyproject.toml", "uv.lock", probes, "config/settings.py", *TEAM_FILES]
    return {name: (service / name).read_bytes() for name in edited}


def update(service: Path, vcs_ref: str | None = "HEAD") -> None:
    """`copier update` to ``vcs_ref`` of the service's template, as the API runs it."""
    copier.run_update(
        str(service),
        vcs_ref=vcs_ref,
        defaults=True,
        overwrite=True,
        unsafe=True,
        conflict="inline",
        quiet=True,
    )


def problems(service: Path) -> list[str]:
    """Paths git reports unmerged, ``.rej`` files, and every conflict-marker
    line pre-commit-hooks' ``check-merge-conflict`` finds (``.git`` and
    ``.venv`` left out). Relies on its documented ``--assume-in-merge``:
    copier's inline conflicts leave git in no merge state, where it would
    check nothing."""
    status = git(service, "status", "--porcelain", "--ignored", "--untracked-files=all")
    found = [line for line in status.splitlines() if line[:2] in {"UU", "AA", "DU", "UD"}]
    found += [str(p) for p in service.rglob("*.rej")]
    files = [
        str(path.relative_to(service))
        for path in sorted(service.rglob("*"))
        if path.is_file() and not {".git", ".venv"} & set(path.relative_to(service).parts)
    ]
    proc = run(["check-merge-conflict", "--assume-in-merge", *files], cwd=service, check=False)
    found += proc.stdout.splitlines()
    return found


def snapshot(tree: Path) -> dict[str, bytes]:
    """Every file under ``tree`` but git's own, by relative path."""
    return {
        str(p.relative_to(tree)): p.read_bytes()
        for p in tree.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(tree).parts
    }
