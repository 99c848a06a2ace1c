"""A production stack made from 0.9.2, holding data, updated to this checkout:
the update hardens its data stores without losing a row. 0.9.2's app logged
in as the Postgres superuser and reached Redis without a password; after the
update, the documented hand steps (two passwords in .env.production) and
`make prod-up`, the app's own role owns every table and is refused what a
superuser may do, and Redis refuses a client without its password.

Only the app and its data stores are started (the proxy plays no part), on
this test's own networks."""

from __future__ import annotations

import secrets
from contextlib import suppress

from harness.docker import DockerException, docker, unique
from harness.releases import clone_template
from harness.stack import Stack, free_subnet
from harness.stores import PRIVILEGED, as_the_app, redis_cli, refused
from harness.updates import make_service, problems, update

RELEASE = "0.9.2"
ROWS = 40


def test_update_from_0_9_2_hardens_the_data_stores_and_keeps_every_row(tmp_path, build_env):
    template = clone_template(tmp_path / "template")
    service = make_service(template, RELEASE, tmp_path / "service")
    subnet = free_subnet()
    settings = {
        "DOMAIN": "localhost",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "EDGE_SUBNET": str(subnet),
        "EDGE_DYNAMIC_RANGE": str(list(subnet.subnets())[1]),
        "PROXY_ADDRESS": str(subnet[2]),
        "IMAGE": unique("hardening-production"),
    }
    env_file = service / ".env.production"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique("hardening"))
    stack = Stack("hardening", service, env, ["compose.production.yaml"], [".env.production"],
                  subnet)  # fmt: skip
    try:
        stack.docker.compose.up(["web"], build=True, detach=True, wait=True)
        stack.django_shell(
            "from notes.models import Note; "
            f"Note.objects.bulk_create(Note(title=f'n{{i}}', body='kept') for i in range({ROWS}))",
        )
        assert as_the_app(stack)["attributes"][0] is True, "0.9.2's app was the superuser"
        stack.docker.compose.down()

        update(service)
        assert problems(service) == []
        # The hand steps CHANGELOG.md names for 0.10.0.
        env_file.write_text(
            env_file.read_text()
            + f"DATABASE_PASSWORD={secrets.token_hex(16)}\nREDIS_PASSWORD={secrets.token_hex(16)}\n"
        )
        stack.docker.compose.up(["web"], build=True, detach=True, wait=True)

        count = stack.django_shell(
            "from notes.models import Note; print(Note.objects.filter(body='kept').count())"
        )
        assert count.strip().splitlines()[-1] == str(ROWS)
        results = as_the_app(stack)
        assert results.pop("user").endswith("_app")
        assert results.pop("attributes") == [False, False, False]
        for name in PRIVILEGED:
            assert refused(results[name]), (name, results[name])
        assert "NOAUTH" in redis_cli(stack, "ping", password=False)
        # The role step runs on every start: a second run is a no-op, not an error.
        stack.docker.compose.run("db-roles", remove=True, tty=False)
        assert as_the_app(stack)["attributes"] == [False, False, False]
    finally:
        stack.docker.compose.down(volumes=True)
        with suppress(DockerException):  # not built when the test failed first
            docker.image.remove(settings["IMAGE"])
