"""Commands as README files give them, so tests run exactly what readers run."""

from __future__ import annotations

import re

from harness import ROOT


def commands(readme: str, section: str | None = None) -> list[str]:
    """The commands of the first ``sh`` code block of ``readme`` (a path
    relative to the repository), or of the first one after the heading line
    ``section`` (e.g. ``"## Updating a service"``); one per line, trailing
    comments stripped. Raises ``ValueError`` when there is no such block."""
    text = (ROOT / readme).read_text()
    if section is not None:
        text = text[text.index(f"\n{section}\n") :]
    block = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    if block is None:
        raise ValueError(f"no sh block in {readme} after {section!r}")
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]
