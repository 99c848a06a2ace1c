"""What the production image holds, and what it cannot be made to hold: secrets
dropped into the build context or handed to the build never reach it, and
nothing in it lets the app's user escalate or rewrite the code it runs."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from harness.docker import docker, unique
from harness.proc import run

CANARY_FILES = (".env", ".envrc", "id_rsa", "config/.env", "secret.pem", "notes/.env.local")


@pytest.fixture(scope="module")
def built(variant, build_env, tmp_path_factory):
    """The variant's image, built with `make image` from a copy of the render
    holding canary files, and with a canary in the CA bundle build secret.
    The stages that mount the secret are rebuilt, so it is really read."""
    name, path = variant
    context = tmp_path_factory.mktemp("canary") / "service"
    shutil.copytree(path, context)
    canaries = {}
    for file in CANARY_FILES:
        canaries[file] = f"canary-{secrets.token_hex(12)}"
        (context / file).write_text(f"SECRET={canaries[file]}\n")
    bundle = context.parent / "ca-bundle.crt"
    canaries["build secret"] = f"canary-{secrets.token_hex(12)}"
    # Still a working bundle: PEM readers skip text outside the certificates.
    bundle.write_text(
        Path("/etc/ssl/certs/ca-certificates.crt").read_text() + f"\n# {canaries['build secret']}\n"
    )
    tag = unique(f"hardening-{name}")
    env = dict(build_env, CA_BUNDLE=str(bundle))
    run(
        ["make", "image", f"IMAGE={tag}", "args=--no-cache-filter python,build"],
        cwd=context,
        env=env,
        timeout=1800,
    )
    try:
        yield tag, canaries
    finally:
        docker.image.remove(tag)


def test_no_canary_reaches_the_image_or_its_history(built):
    tag, canaries = built
    needles = {label: value.encode() for label, value in canaries.items()}
    found = set()
    # `docker save` streams every layer, config and manifest, uncompressed here.
    tail = b""
    for chunk in docker.image.save(tag):
        window = tail + chunk
        found |= {label for label, needle in needles.items() if needle in window}
        tail = window[-64:]
    # The CLI itself: python-on-whales' image.history is not implemented, and
    # its inspect result is parsed into objects where a canary would be text.
    history = run(["docker", "history", "--no-trunc", tag]).stdout
    history += run(["docker", "image", "inspect", tag]).stdout
    found |= {label for label, value in canaries.items() if value in history}
    assert found == set()


def test_no_setuid_or_setgid_file_is_left(built):
    tag, _ = built
    find = ["/", "-xdev", "-perm", "/6000", "-type", "f"]
    out = docker.run(tag, find, user="0", entrypoint="find", remove=True)
    assert out.strip() == ""


def test_the_app_user_cannot_write_the_code_or_the_environment(built):
    tag, _ = built
    script = "find /opt/venv /opt/python /app -writable | head -5; id -u"
    out = docker.run(tag, ["-c", script], entrypoint="sh", remove=True).split()
    assert out == ["10001"]
