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


def asked(row: Answers) -> bool:
    """Whether copier takes every answer of ``row`` as given: a question whose
    ``when`` is false for the answers before it is not asked, so only its
    default may stand there (``django_tasks`` only without ``celery``). A
    ``when`` naming a question not in ``row`` yet counts as true."""
    import jinja2

    environment = jinja2.Environment()
    for name, value in row.items():
        when = questions().get(name, {}).get("when")
        if isinstance(when, str) and "{{" in when and value != copy_default(name):
            shown = environment.from_string(when).render(**row).strip().lower()
            if shown in {"false", "0", "", "no", "off", "none"}:
                return False
    return True


def alternate() -> Answers:
    """Every switch away from its default: its last choice, or the other boolean,
    where copier asks it (a question hidden by an earlier answer keeps its default).

    The last choice is the oldest version copier.yml offers; machine/prepare
    provides it wherever Debian packages it.
    """
    found: Answers = {}
    for name, values in switches().items():
        if len(values) > 1 and asked({**found, name: values[-1]}):
            found[name] = values[-1]
    return found


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
    switches appears in some row (its documented n=2 guarantee), except pairs
    copier never takes (``asked``: ``celery`` with ``django_tasks``). The
    free-text edge cases go over the rows after the first. Deterministic:
    AllPairs draws nothing at random, so the same copier.yml gives the same rows.
    """
    found = switches()
    names = list(found)
    defaults = [values[0] for values in found.values()]

    def allowed(combo) -> bool:  # a whole row, or AllPairs' partial one
        return asked(dict(zip(names, combo, strict=False)))

    if math.prod(len(values) for values in found.values()) <= limit:
        combos = [combo for combo in itertools.product(*found.values()) if allowed(combo)]
    else:
        # Imported here: main() runs under the system Python with only PyYAML.
        from allpairspy import AllPairs

        pairs = AllPairs(list(found.values()), filter_func=allowed, previously_tested=[defaults])
        combos = [defaults, *pairs]
        # Its greedy filter can leave a pair out: a row of defaults gives each one.
        for (a, values_a), (b, values_b) in itertools.combinations(enumerate(found.values()), 2):
            for value_a, value_b in itertools.product(values_a, values_b):
                row = [*defaults]
                row[a], row[b] = value_a, value_b
                covered = any(c[a] == value_a and c[b] == value_b for c in combos)
                if not covered and allowed(row):
                    combos.append(row)
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
