"""A copy as a user makes it: from this checkout's git HEAD, copy task included."""

from __future__ import annotations

from harness import ROOT
from harness.proc import run
from harness.render import answers_of, render


def test_copy_from_git_records_the_source_and_locks(tmp_path, cpython):
    service = render(tmp_path / "service", tasks=True)
    answers = answers_of(service)
    # Enough for `copier update` to find this template and release again.
    assert answers["_src_path"] == str(ROOT)
    # HEAD's description, or the commit copier made of uncommitted changes.
    assert answers["_commit"]
    # The copy task made the service's own lock, matching its pyproject.toml.
    run(["uv", "lock", "--check", "--offline"], cwd=service)
