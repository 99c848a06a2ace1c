"""What machine/prepare relies on to install nothing unverified: a source
package is accepted only with a Debian developer's signature on its .dsc and
every file matching the hash that signed text lists. Checked on a small real
package (GNU hello) from the same archive prepare uses."""

from __future__ import annotations

import lzma
import os
import re
from pathlib import Path

import httpx
import pytest

from harness import ROOT
from harness.proc import run

MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
VERIFY = str(ROOT / "machine" / "verify-source")


def fetched(url: str) -> bytes:
    """The body at ``url``, redirects followed. Raises ``httpx.HTTPError``."""
    return httpx.get(url, follow_redirects=True, timeout=60).raise_for_status().content


@pytest.fixture(scope="module")
def hello(tmp_path_factory) -> tuple[Path, Path]:
    """``(dsc, orig tarball)`` of bookworm's hello source package."""
    index = fetched(f"{MIRROR}/dists/bookworm/main/source/Sources.xz")
    sources = lzma.decompress(index).decode()
    stanza = re.search(r"^Package: hello\n(.*?)\n\n", sources, re.MULTILINE | re.DOTALL).group(1)
    directory = re.search(r"^Directory: (\S+)", stanza, re.MULTILINE).group(1)
    names = re.findall(r"^ [0-9a-f]{64} \d+ (\S+)$", stanza, re.MULTILINE)
    folder = tmp_path_factory.mktemp("hello")
    for name in names:
        (folder / name).write_bytes(fetched(f"{MIRROR}/{directory}/{name}"))
    dsc = next(folder / n for n in names if n.endswith(".dsc"))
    orig = next(folder / n for n in names if ".orig." in n)
    return dsc, orig


def test_a_signed_source_package_is_accepted(hello):
    dsc, orig = hello
    run([VERIFY, str(dsc), str(orig)])


def test_a_tampered_tarball_is_refused_naming_the_file(hello, tmp_path):
    dsc, orig = hello
    tampered = tmp_path / orig.name
    data = bytearray(orig.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    proc = run([VERIFY, str(dsc), str(tampered)], check=False)
    assert proc.returncode == 1
    assert f"{orig.name}: SHA-256" in proc.stderr and "tampered or truncated" in proc.stderr


def test_a_tampered_dsc_is_refused(hello, tmp_path):
    dsc, orig = hello
    forged = tmp_path / dsc.name
    forged.write_text(dsc.read_text().replace("Source: hello", "Source: hellp"))
    proc = run([VERIFY, str(forged), str(orig)], check=False)
    assert proc.returncode == 1
    assert "bad or unknown OpenPGP signature" in proc.stderr
