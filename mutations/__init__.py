"""Mutation check of the template: each entry of mutations.yaml breaks one
guarantee by a textual edit, and its named tests must fail. Run it with
``uv run python -m mutations`` (see mutations/run.py)."""
