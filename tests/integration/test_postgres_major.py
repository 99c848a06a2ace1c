"""PostgreSQL majors as a user meets them: each postgres:N the template offers
keeps its cluster where N's official image does (18 moved it to
/var/lib/postgresql/18/docker under a volume at /var/lib/postgresql); a
database moves from 17 to 18 with its rows by the README's procedure (dump
with pg_dumpall, restore with psql into 18 on a new volume); and 18 started
on the old 17 volume refuses rather than serve an empty cluster as if it
were the old one."""

from __future__ import annotations

from contextlib import suppress
from pathlib import PurePosixPath

import pytest

from harness.docker import DockerException, docker, remove, unique
from harness.proc import run
from harness.questions import questions
from harness.wait import wait_until

USER, PASSWORD, DB = "svc", "pw", "svc"
ROWS = ["first note", "second note", "third note"]


def layout(major: int) -> tuple[str, str]:
    """``(PGDATA, volume)`` of the official postgres:MAJOR image."""
    if major >= 18:
        return f"/var/lib/postgresql/{major}/docker", "/var/lib/postgresql"
    return "/var/lib/postgresql/data", "/var/lib/postgresql/data"


def start(name: str, major: int, volume: str, mount: str) -> None:
    """Start postgres:MAJOR as ``name`` with the named ``volume`` at ``mount``,
    configured as the template's compose file configures its db service."""
    settings = {"POSTGRES_USER": USER, "POSTGRES_PASSWORD": PASSWORD, "POSTGRES_DB": DB}
    docker.run(
        f"postgres:{major}", detach=True, name=name, volumes=[(volume, mount)], envs=settings
    )


def wait_ready(name: str) -> None:
    """Wait until ``name`` accepts TCP connections (its socket answers early,
    during first init)."""
    # execute raises while pg_isready exits non-zero: "not yet" to wait_until.
    probe = ["pg_isready", "-h", "127.0.0.1", "-U", USER]
    wait_until(
        lambda: docker.execute(name, probe) is not None,
        60,
        f"{name} accepting TCP connections",
        every=0.5,
    )


def sql(name: str, query: str) -> str:
    """``query``'s rows from ``name``, logged in over TCP with the password,
    as the app logs in."""
    return docker.execute(name, [
        "psql", "-h", "127.0.0.1", "-U", USER, "-d", DB,
        "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", query,
    ], envs={"PGPASSWORD": PASSWORD}).strip()  # fmt: skip


def volume_file(volume: str, path: PurePosixPath | str, image: str) -> str:
    """The text of ``path`` inside ``volume``, read by a throwaway ``image``."""
    return docker.run(
        image, [f"/volume/{path}"], entrypoint="cat", volumes=[(volume, "/volume", "ro")],
        remove=True,
    ).strip()  # fmt: skip


def discard(containers: list[str], volumes: list[str]) -> None:
    """Remove the test's containers, then its volumes."""
    remove(*containers)
    with suppress(DockerException):  # never made when the test failed first
        docker.volume.remove(volumes)


@pytest.fixture(scope="module")
def old17():
    """``(container, volume)``: a stopped postgres:17 whose named volume, at
    17's /var/lib/postgresql/data, holds a notes table with ROWS."""
    name, volume = unique("pg17"), unique("pg17-data")
    try:
        start(name, 17, volume, "/var/lib/postgresql/data")
        wait_ready(name)
        sql(name, "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        values = ", ".join(f"('{row}')" for row in ROWS)
        sql(name, f"INSERT INTO notes (body) VALUES {values}")
        docker.stop(name)
        yield name, volume
    finally:
        discard([name], [volume])


def serves_rows(name: str) -> None:
    """Start the stopped ``name`` and check it serves ROWS, then stop it."""
    docker.start(name)
    try:
        wait_ready(name)
        assert sql(name, "SELECT body FROM notes ORDER BY id").splitlines() == ROWS
    finally:
        docker.stop(name)


# Debian packages no PostgreSQL 16, so where no registry answers there is no
# postgres:16 to run (machine/prepare warns); every other offered major is.
WITHOUT_STANDIN = {16}
OFFERED = questions()["postgres_version"]["choices"]


def test_every_offered_major_but_16_has_an_image_here():
    missing = {major for major in OFFERED if not docker.image.exists(f"postgres:{major}")}
    assert missing <= WITHOUT_STANDIN, missing


@pytest.mark.parametrize("major", [m for m in OFFERED if m not in WITHOUT_STANDIN])
def test_each_offered_major_keeps_its_data_where_its_official_image_does(major):
    pgdata, mount = layout(major)
    name, volume = unique(f"pg{major}-layout"), unique(f"pg{major}-layout-data")
    try:
        declared = docker.image.inspect(f"postgres:{major}").config.volumes
        assert declared == {mount: {}}
        start(name, major, volume, mount)
        wait_ready(name)
        assert sql(name, "SHOW server_version").split(".")[0] == str(major)
        assert sql(name, "SHOW server_encoding") == "UTF8"
        assert sql(name, "SHOW data_directory") == pgdata
        # The cluster is in the named volume, so it outlives the container.
        inside = PurePosixPath(pgdata).relative_to(mount) / "PG_VERSION"
        assert volume_file(volume, inside, f"postgres:{major}") == str(major)
    finally:
        discard([name], [volume])


def test_a_database_moves_from_17_to_18_by_dump_and_restore(old17):
    old, _ = old17
    new, new_volume = unique("pg18"), unique("pg18-data")
    again = unique("pg18-again")
    try:
        # 1. Dump everything, roles included, from the old server as its superuser.
        docker.start(old)
        try:
            wait_ready(old)
            dump = docker.execute(old, ["pg_dumpall", "--clean", "--if-exists", "-U", USER])
        finally:
            docker.stop(old)
        assert "CREATE TABLE public.notes" in dump
        # 2. 18 on a new volume at /var/lib/postgresql; restore into it.
        start(new, 18, new_volume, "/var/lib/postgresql")
        wait_ready(new)
        # The CLI itself: python-on-whales' execute takes no stdin and drops stderr.
        restore = run(
            ["docker", "exec", "-i", new, "psql", "-X", "-U", USER, "-d", "postgres"], input=dump
        )
        # The restoring superuser cannot drop or re-create itself; nothing else may fail.
        errors = [line for line in restore.stderr.splitlines() if "ERROR" in line]
        assert all(
            "current user cannot be dropped" in line or f'role "{USER}" already exists' in line
            for line in errors
        ), restore.stderr
        assert sql(new, "SELECT body FROM notes ORDER BY id").splitlines() == ROWS
        assert sql(new, "SHOW server_version").startswith("18.")
        # The rows live in the new volume: a new container on it still has them.
        remove(new)
        start(again, 18, new_volume, "/var/lib/postgresql")
        wait_ready(again)
        assert sql(again, "SELECT body FROM notes ORDER BY id").splitlines() == ROWS
        assert volume_file(new_volume, "18/docker/PG_VERSION", "postgres:18") == "18"
        # The old volume is untouched: rolling back to 17 is still possible.
        serves_rows(old)
    finally:
        discard([new, again], [new_volume])


@pytest.mark.parametrize(
    "mount",
    [
        # compose moved to 18's mount point but kept the old volume
        "/var/lib/postgresql",
        # only the image tag changed: the old volume at 17's mount point
        "/var/lib/postgresql/data",
    ],
)
def test_18_on_the_old_17_volume_refuses_instead_of_starting_empty(old17, mount):
    # Left alone, 18 would initialise an empty cluster in 18/docker beside the
    # old files and answer as if the data were gone; it exits with an error.
    old, old_volume = old17
    name = unique("pg18-on-17")
    try:
        start(name, 18, old_volume, mount)
        assert docker.container.wait(name) != 0
        logs = docker.container.logs(name)
        assert mount in logs, logs
        assert volume_file(old_volume, "PG_VERSION", "postgres:17") == "17"
    finally:
        # -v: a mount at .../data leaves 18's own VOLUME as an anonymous volume.
        with suppress(DockerException):  # never made when the test failed first
            docker.container.remove(name, force=True, volumes=True)
    # Refusing left the old cluster usable: 17 still serves every row.
    serves_rows(old)
