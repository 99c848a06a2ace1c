"""copier.yml's questions, the one source of every version and choice.

Tests, machine/prepare and .ci/run read versions from here (or from
copier.yml the same way) instead of writing them again.
"""

from __future__ import annotations

import itertools
import math
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


def copy_default(name: str) -> Any:
    """The answer ``copier copy --defaults`` gives question ``name``: its
    default, rendered when it is Jinja (``api``'s depends on whether the
    destination's answers file already records a ``_commit``: on copy there
    is none, which copier's ``_external_data`` gives as an empty mapping)."""
    value = default(name)
    if isinstance(value, str) and "{{" in value and "choices" in questions()[name]:
        # Imported here: main() runs under the system Python with only PyYAML.
        import jinja2

        return jinja2.Environment().from_string(value).render(_external_data={"recorded": {}})
    return value


def switches() -> dict[str, list[Any]]:
    """Questions with a fixed set of answers (choices or yes/no), the default a
    new service gets first."""
    found = {}
    for name, spec in questions().items():
        if spec.get("type") == "bool" or "choices" in spec:
            first = copy_default(name)
            found[name] = [first, *(v for v in choices(name) if v != first)]
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


def matrix(limit: int = 128) -> list[Answers]:
    """The answer sets the render tier renders, the defaults first.

    Every combination of the switches when there are at most ``limit``;
    otherwise the defaults, then allpairspy's ``AllPairs`` over the switches
    with the defaults as ``previously_tested``: every pair of values of any two
    switches appears in some row (its documented n=2 guarantee). The
    free-text edge cases go over the rows after the first. Deterministic:
    AllPairs draws nothing at random, so the same copier.yml gives the same rows.
    """
    found = switches()
    defaults = [values[0] for values in found.values()]
    if math.prod(len(values) for values in found.values()) <= limit:
        combos = list(itertools.product(*found.values()))
    else:
        # Imported here: main() runs under the system Python with only PyYAML.
        from allpairspy import AllPairs

        combos = [defaults, *AllPairs(list(found.values()), previously_tested=[defaults])]
    rows = [dict(zip(found, combo, strict=True)) for combo in combos]
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
