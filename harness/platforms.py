"""Building a render for linux/arm64 on this amd64 machine, under emulation.

machine/prepare registers qemu-aarch64 in binfmt_misc and, where the
registries cannot be reached, builds linux/arm64 twins of the base and uv
images, tagged ``TWIN_PREFIX`` + the real name: Docker's classic image store
keeps one platform per tag. A build reaches a twin under its real name through
a named build context (``--build-context NAME=docker-image://TWIN``, or
Compose's ``build.additional_contexts``), which BuildKit's Dockerfile frontend
documents as replacing every ``FROM NAME`` and ``COPY --from=NAME``: the
rendered Dockerfile is built unchanged. Where no twin exists, BuildKit fetches
the real image's arm64 variant itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.docker import docker

ARM64 = "linux/arm64"
TWIN_PREFIX = "localhost/linux-arm64/"
# ELF e_machine values (bytes 18-19, little-endian) as `uname -m` names them.
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


def base_images(service: Path) -> list[str]:
    """The images the service's Dockerfile builds FROM by default: the values
    of its ``ARG *_IMAGE=`` lines (DEBIAN_IMAGE, UV_IMAGE)."""
    return re.findall(r"^ARG \w+_IMAGE=(\S+)$", (service / "Dockerfile").read_text(), re.M)


def twins(service: Path) -> dict[str, str]:
    """``{real name: docker-image://TWIN}`` for each of the service's base
    images that has an arm64 twin on this engine."""
    return {
        image: f"docker-image://{TWIN_PREFIX}{image}"
        for image in base_images(service)
        if docker.image.exists(TWIN_PREFIX + image)
    }


def arm64_build_flags(service: Path) -> list[str]:
    """``docker build`` flags that build ``service``'s Dockerfile for
    linux/arm64: the platform and a named context per twin."""
    flags = ["--platform", ARM64]
    for image, context in twins(service).items():
        flags += ["--build-context", f"{image}={context}"]
    return flags


def arm64_compose_file(service: Path, services: list[str], into: Path) -> Path:
    """Write a Compose file (JSON is YAML) at ``into`` that, layered over the
    service's compose.yaml, builds and runs ``services`` for linux/arm64 with
    the twins as additional contexts; the stores stay on this machine's
    platform. Returns ``into``."""
    arm64 = {"platform": ARM64, "build": {"additional_contexts": twins(service)}}
    into.write_text(json.dumps({"services": dict.fromkeys(services, arm64)}, indent=2))
    return into


def elf_machine(header: bytes) -> str:
    """The architecture an ELF file's first 20 bytes declare, as ``uname -m``
    names it. Raises ``ValueError`` for anything but a 64-bit little-endian ELF."""
    if header[:6] != b"\x7fELF\x02\x01":
        raise ValueError(f"not a 64-bit little-endian ELF file: {header[:6]!r}")
    number = int.from_bytes(header[18:20], "little")
    return ELF_MACHINES.get(number, f"e_machine {number}")
