#!/usr/bin/env bash
# Build a minimal Debian root filesystem and print it as a tar stream, for
# `docker import` under the official slim image's name.
# Takes: SUITE (bookworm, trixie, forky), MIRROR and optionally ARCH (a Debian
#   architecture, default the host's; a foreign one needs its qemu registered
#   in binfmt_misc, which debootstrap then uses for the second stage).
# Prints: the tar on stdout.
# Relies on: debootstrap's minbase variant, which must check the archive's
# signature (--force-check-gpg: no keyring is an error, not a skipped check),
# then the same trimming the official debian:*-slim images do (no docs, man
# pages, locales, apt lists).
set -euo pipefail
suite=$1 mirror=$2 arch=${3:-$(dpkg --print-architecture)}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# A suite newer than this debootstrap (forky on bookworm's) has no script of
# its own yet; Debian's testing and unstable suites are all built by sid's.
script=/usr/share/debootstrap/scripts/$suite
[ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
debootstrap --arch="$arch" --variant=minbase --force-check-gpg "$suite" "$root" "$mirror" "$script" >&2
# Keep later `apt-get install` layers slim, as the official image does.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
CFG
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/{man,info,locale,lintian}/* "$root"/var/lib/apt/lists/* \
    "$root"/var/cache/apt/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
tar --numeric-owner -C "$root" -c .
