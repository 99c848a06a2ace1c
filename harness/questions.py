"""copier.yml's questions, the one source of every version and choice.

Tests, machine/prepare and .ci/run read versions from here (or from
copier.yml the same way) instead of writing them again.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

import yaml

from harness import ROOT

Answers = dict[str, Any]


@cache
def questions() -> dict[str, dict[str, Any]]:
    """Every question of copier.yml by name, in file order; settings and
    computed values (``when: false``: never asked, never recorded) left out."""
    config = yaml.safe_load((ROOT / "copier.yml").read_text())
    return {
        name: spec
        for name, spec in config.items()
        if not name.startswith("_") and spec.get("when") is not False
    }


def default(name: str) -> Any:
    """The default answer of question ``name`` as copier.yml writes it."""
    return questions()[name]["default"]


def choices(name: str) -> list[Any]:
    """The values question ``name`` accepts: its choices, or both booleans."""
    spec = questions()[name]
    if spec.get("type") == "bool":
        return [True, False]
    return list(spec["choices"])


def switches() -> dict[str, list[Any]]:
    """Questions with a fixed set of answers (choices or yes/no), default first."""
    found = {}
    for name, spec in questions().items():
        if spec.get("type") == "bool" or "choices" in spec:
            values = choices(name)
            found[name] = [spec["default"], *(v for v in values if v != spec["default"])]
    return found


def alternate() -> Answers:
    """Every switch away from its default: its last choice, or the other boolean.

    The last choice is the oldest version copier.yml offers; machine/prepare
    provides it wherever Debian packages it.
    """
    return {name: values[-1] for name, values in switches().items() if len(values) > 1}


def integration_variants() -> dict[str, Answers]:
    """The answer sets the integration tier builds and runs: the defaults, and
    every switch away from them."""
    return {"defaults": {}, "alternate": alternate()}


# Free-text answers that must survive quoting into TOML, YAML and Markdown.
TEXT_EDGES: list[Answers] = [
    {"project_name": "Billing-API v2", "description": 'Bills "customers" \\ daily: 100% of them'},
]


def _pairs(row: dict[str, Any]) -> set[tuple]:
    items = sorted(row.items())
    return {(a, b) for a, b in itertools.combinations(((k, repr(v)) for k, v in items), 2)}


def matrix(limit: int = 128) -> list[Answers]:
    """The answer sets the render tier renders.

    Every combination of the switches when there are at most ``limit``;
    otherwise every combination of the yes/no switches, with the multi-choice
    ones chosen so that every pair of values of any two switches appears in
    some row (pairwise coverage), then the free-text edge cases over the
    first rows. Deterministic: the same copier.yml gives the same rows.
    """
    found = switches()
    names = list(found)
    if len(list(itertools.product(*found.values()))) <= limit:
        rows = [
            dict(zip(names, values, strict=True)) for values in itertools.product(*found.values())
        ]
    else:
        toggles = {n: v for n, v in found.items() if len(v) == 2 and isinstance(v[0], bool)}
        others = {n: v for n, v in found.items() if n not in toggles}
        wanted = set().union(
            *(
                _pairs(dict(zip(names, combo, strict=True)))
                for combo in itertools.product(*found.values())
            )
        )
        covered: set[tuple] = set()
        rows = []
        for combo in itertools.product(*toggles.values()):
            base = dict(zip(toggles, combo, strict=True))
            best = max(
                (
                    base | dict(zip(others, pick, strict=True))
                    for pick in itertools.product(*others.values())
                ),
                key=lambda row: len(_pairs(row) - covered),
            )
            rows.append(best)
            covered |= _pairs(best)
        while wanted - covered:  # toggles alone leave some pair out: add rows for it
            best = max(
                (
                    dict(zip(names, combo, strict=True))
                    for combo in itertools.product(*found.values())
                ),
                key=lambda row: len(_pairs(row) - covered),
            )
            rows.append(best)
            covered |= _pairs(best)
    for row, edge in zip(rows[1:], TEXT_EDGES, strict=False):
        row.update(edge)
    return rows


def label(answers: Answers) -> str:
    """A short, stable test id for an answer set: the switches away from default."""
    parts = []
    for name, values in switches().items():
        if name in answers and answers[name] != values[0]:
            value = answers[name]
            parts.append(
                name if value is True else f"no-{name}" if value is False else f"{name}={value}"
            )
    if any(name in answers for edge in TEXT_EDGES for name in edge):
        parts.append("text-edges")
    return ",".join(parts) or "defaults"


def main(argv: list[str]) -> int:
    """``python3 -m harness.questions default NAME`` prints a default answer;
    ``... choices NAME`` prints the accepted values, one per line. For shell
    scripts (machine/prepare, .ci/run) that need only PyYAML, not the venv."""
    what, name = argv
    values = [default(name)] if what == "default" else choices(name)
    print("\n".join(str(value) for value in values))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
