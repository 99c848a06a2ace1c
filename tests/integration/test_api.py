"""The API answer proven by its own schema: on a render's running dev stack
(`make up`), `make api-schema` leaves the committed openapi.json as it is,
`make api-fuzz` (schemathesis, every operation, all checks, an API key made
for the run) passes, and fails once a view is broken on purpose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.docker import compose_client, unique
from harness.http import http_get
from harness.proc import run
from harness.render import render
from harness.report import report
from harness.wait import wait_until

# schemathesis's summary line: "Test cases:" then "N generated, ...".
CASES = re.compile(r"Test cases:\s+(\d+) generated")
# The view a broken fixture patches: notes/api.py's get_note.
GET_NOTE = "    return get_object_or_404(Note, pk=note_id)\n"
BROKEN = {
    # A server error: schemathesis fails any 5xx, documented or not (ST101).
    "raises": (
        '    get_object_or_404(Note, pk=note_id)\n    raise RuntimeError("broken on purpose")\n',
        "ST101",
    ),
    # A body off the schema, sent past ninja's response validation (ST108).
    "off-schema": (
        "    get_object_or_404(Note, pk=note_id)\n"
        '    return HttpResponse(\'{"id": "not a number"}\', content_type="application/json")\n',
        "ST108",
    ),
}


@pytest.fixture(scope="module")
def api(tmp_path_factory, build_env):
    """A default render (api=ninja) with celery, brought up with `make up`."""
    path = render(tmp_path_factory.mktemp("api") / "service", {"celery": True}, tasks=True)
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique("api"), WEB_PORT="0")
    client = compose_client(path, env)
    try:
        run(["make", "up"], cwd=path, env=env, timeout=1800)
        yield {"path": path, "env": env, "client": client}
    finally:
        client.compose.down(volumes=True)


def url(api) -> str:
    return f"http://127.0.0.1:{api['client'].compose.port('web', 8000)[1]}"


def fuzz(api, examples: int) -> tuple[int, str, int]:
    """Run `make api-fuzz`; return its exit code and output, reporting the cases run."""
    proc = run(
        ["make", "api-fuzz", f"examples={examples}"],
        cwd=api["path"],
        env=api["env"],
        timeout=900,
        check=False,
    )
    output = proc.stdout + proc.stderr
    cases = CASES.search(output)
    assert cases, output[-3000:]
    return proc.returncode, output, int(cases.group(1))


def test_the_committed_schema_is_the_one_the_code_makes(api):
    committed = (api["path"] / "openapi.json").read_text()
    run(["make", "api-schema"], cwd=api["path"], env=api["env"])
    assert (api["path"] / "openapi.json").read_text() == committed
    status, schema = http_get(f"{url(api)}/api/openapi.json")
    assert status == 200 and schema["openapi"].startswith("3.1")
    assert set(schema["paths"]) == {
        "/api/notes",
        "/api/notes/{note_id}",
        "/api/notes/{note_id}/summary",
    }


def test_schemathesis_passes_against_the_running_stack(api):
    code, output, cases = fuzz(api, examples=25)
    report(f"api-fuzz on the api=ninja render (25 examples an operation): {cases} cases")
    assert code == 0, output[-6000:]
    assert "4 selected / 4 total" in output
    # The key made for the run is gone afterwards.
    gone = run(
        ["make", "manage", "cmd=api_key revoke schemathesis"],
        cwd=api["path"],
        env=api["env"],
        check=False,
    )
    assert gone.returncode != 0 and "no API key named" in gone.stderr + gone.stdout


@pytest.fixture(params=list(BROKEN))
def broken(request, api):
    """The render's get_note view broken one way (the dev server reloads the
    mounted source); put back afterwards. Yields the code schemathesis must report."""
    source = api["path"] / "notes" / "api.py"
    original = source.read_text()
    patched, code = BROKEN[request.param]
    assert GET_NOTE in original
    make_note = "from notes.models import Note; print(Note.objects.create(title='x').pk)"
    note = run(
        ["make", "manage", f'cmd=shell -c "{make_note}"'],
        cwd=api["path"],
        env=api["env"],
    ).stdout.split()[-1]
    source.write_text(original.replace(GET_NOTE, patched, 1))
    try:
        wait_until(
            lambda: (
                http_get(f"{url(api)}/api/notes/{note}")[0] != 200
                or http_get(f"{url(api)}/api/notes/{note}")[1].get("id") == "not a number"
            ),
            within=60,
            what="the dev server to serve the broken view",
        )
        yield request.param, code
    finally:
        source.write_text(original)
        wait_until(
            lambda: http_get(f"{url(api)}/api/notes/{note}")[1].get("id") == int(note),
            within=60,
            what="the dev server to serve the mended view",
        )


def test_a_broken_view_makes_schemathesis_fail(api, broken):
    name, code = broken
    exit_code, output, cases = fuzz(api, examples=10)
    report(f"api-fuzz on a view broken ({name}): {cases} cases, exit {exit_code}, {code} found")
    assert exit_code != 0, output[-6000:]
    assert code in output, output[-6000:]


def test_patch_targets_the_template_view():
    # The fixture patches the rendered get_note: keep it in step with the template.
    template = Path(__file__).parents[2] / "template" / "notes"
    source = next(template.glob("*api.py*")).read_text()
    assert GET_NOTE in source
