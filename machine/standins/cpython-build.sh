#!/usr/bin/env bash
# Build CPython from an upstream source tarball into an archive shaped like
# python-build-standalone's `install_only_stripped` one: top folder python/,
# relocatable, stripped, runnable on a bare debian:bookworm-slim or later.
# Takes: /src/python.tar.xz (mounted), VERSION as $1; writes
#   /out/cpython-VERSION-linux-x86_64-gnu-install_only.tar.gz
# Relies on: the extension modules finding their shared libraries through an
# rpath of $ORIGIN/../.. (python/lib), as the standalone builds do.
set -euo pipefail
version=$1
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends build-essential pkg-config patchelf \
    xz-utils libssl-dev libffi-dev libsqlite3-dev zlib1g-dev libbz2-dev liblzma-dev \
    libreadline-dev libncurses-dev libgdbm-dev uuid-dev libexpat1-dev file >/dev/null
mkdir -p /build && cd /build
tar -xJf /src/python.tar.xz --strip-components=1
./configure --prefix=/python --with-ensurepip=install >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
cd /python
# Nothing at run time needs the static library or the test suite.
find . -name 'libpython*.a' -delete
minor=${version%.*}
rm -rf "lib/python$minor/test" "lib/python$minor/idlelib/idle_test"
# No bytecode, as in the standalone archives: `make install` compiles the
# standard library at three optimisation levels; `uv python install
# --compile-bytecode` is what writes it in a real build.
find . -name __pycache__ -type d -prune -exec rm -rf {} +
# Stripped, as the archives uv installs are (before patchelf edits them).
find bin lib -type f \( -name 'python3*' -o -name '*.so' -o -name '*.so.*' \) -exec sh -c \
    'for f; do if file -b "$f" | grep -q "^ELF"; then strip --strip-unneeded "$f"; fi; done' sh {} +
# Bundle the non-libc libraries the extension modules link, next to them.
for so in lib/python"$minor"/lib-dynload/*.so; do
    ldd "$so" | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -Ev '/(libc|libm|libpthread|libdl|librt|libutil|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" lib/ && strip --strip-unneeded "lib/$(basename "$lib")"; done
for lib in lib/*.so.*; do patchelf --set-rpath '$ORIGIN' "$lib"; done
for so in lib/python"$minor"/lib-dynload/*.so; do patchelf --set-rpath '$ORIGIN/../..' "$so"; done
bin/python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, decimal; print("ok")'
cd / && tar -czf "/out/cpython-$version-linux-x86_64-gnu-install_only.tar.gz" python
