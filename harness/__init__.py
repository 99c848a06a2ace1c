"""Shared helpers of the template's tests and benchmarks.

Nothing here is shipped to a service. ``questions`` reads copier.yml (the one
source of every version and choice), ``render`` renders the template,
``proc`` runs commands, ``docker`` and ``http`` drive what a render builds.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
