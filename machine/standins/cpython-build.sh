#!/usr/bin/env bash
# Build CPython from an upstream source tarball into an archive shaped like
# python-build-standalone's `install_only_stripped` one: top folder python/,
# relocatable, stripped, runnable on a bare debian:bookworm-slim or later.
# Takes: /src/python.tar.xz (mounted), VERSION as $1 and TARGET as $2
#   (x86_64, the default, or aarch64); for aarch64 also
#   /build-python.tar.gz (mounted): the x86_64 install_only archive of the
#   same VERSION, which runs the build's own Python steps.
# Writes:
#   /out/cpython-VERSION-linux-TARGET-gnu-install_only.tar.gz
# Relies on: an amd64 debian:bookworm-slim container; for aarch64, Debian's
# cross toolchain and :arm64 libraries (cross-compiled: only the final import
# check runs emulated, through the host's qemu-aarch64 binfmt_misc entry,
# whose F flag makes it work inside this container); and on the extension
# modules finding their shared libraries through an rpath of $ORIGIN/../..
# (python/lib), as the standalone builds do.
set -euo pipefail
version=$1 target=${2:-x86_64}
minor=${version%.*}
export DEBIAN_FRONTEND=noninteractive
libs="libssl-dev libffi-dev libsqlite3-dev zlib1g-dev libbz2-dev liblzma-dev
    libreadline-dev libncurses-dev libgdbm-dev uuid-dev libexpat1-dev"
case $target in
x86_64)
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends build-essential pkg-config patchelf \
        xz-utils $libs file >/dev/null
    tools=""
    configure_args=(--with-ensurepip=install)
    ;;
aarch64)
    # The build steps that run Python (freezing, compileall, pip) need one of
    # the same version that runs here; the x86_64 archive is one.
    mkdir -p /build-python
    tar -xzf /build-python.tar.gz -C /build-python --strip-components=1
    build_python=/build-python/bin/python$minor
    [ "$("$build_python" -c 'import platform; print(platform.python_version())')" = "$version" ] || {
        echo "/build-python.tar.gz is not CPython $version" >&2
        exit 1
    }
    dpkg --add-architecture arm64
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends crossbuild-essential-arm64 make \
        pkg-config patchelf xz-utils file $(printf '%s:arm64 ' $libs) >/dev/null
    tools=aarch64-linux-gnu-
    # bookworm has no aarch64-linux-gnu-pkg-config: point the plain one at
    # the arm64 .pc files only, so no amd64 library is ever picked up.
    export PKG_CONFIG=pkg-config
    export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
    # configure cannot run test programs for another architecture and then
    # guesses pessimistically; these are the answers a native aarch64 build
    # on glibc gets (checked against one configured under emulation).
    cat >/config.site <<'SITE'
ac_cv_file__dev_ptmx=yes
ac_cv_file__dev_ptc=no
ac_cv_buggy_getaddrinfo=no
ac_cv_working_tzset=yes
ac_cv_computed_gotos=yes
ac_cv_aligned_required=no
ac_cv_pthread_is_default=yes
ac_cv_kthread=no
ac_cv_pthread=no
ac_cv_pthread_system_supported=yes
ac_cv_broken_sem_getvalue=no
ac_cv_wchar_t_signed=no
ac_cv_ffi_complex_double_supported=yes
SITE
    export CONFIG_SITE=/config.site
    # `make install` would run ensurepip with the build Python, which puts pip
    # in that Python's own prefix; pip is installed into /python below.
    configure_args=(--with-ensurepip=no --build=x86_64-linux-gnu
        --host=aarch64-linux-gnu --with-build-python="$build_python")
    ;;
*)
    echo "unknown target $target (x86_64 or aarch64)" >&2
    exit 2
    ;;
esac
mkdir -p /build && cd /build
tar -xJf /src/python.tar.xz --strip-components=1
./configure --prefix=/python "${configure_args[@]}" >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
cd /python
# What ensurepip would do, run by the build Python on the bundled wheel: the
# prefix points pip at /python, and sys.executable names the Python the
# scripts' #! lines (and their RECORD hashes) must point at.
if [ -n "$tools" ]; then
    ENSUREPIP_OPTIONS=install PYTHONPATH=$(echo "lib/python$minor/ensurepip/_bundled/pip-"*.whl) \
        "$build_python" -c "import runpy, sys; sys.executable = '/python/bin/python$minor'; \
runpy.run_module('pip', run_name='__main__', alter_sys=True)" install --no-cache-dir --no-index \
        --find-links "lib/python$minor/ensurepip/_bundled" --ignore-installed --prefix=/python pip >/dev/null
fi
# Nothing at run time needs the static library or the test suite.
find . -name 'libpython*.a' -delete
rm -rf "lib/python$minor/test" "lib/python$minor/idlelib/idle_test"
# No bytecode, as in the standalone archives: `make install` compiles the
# standard library at three optimisation levels; `uv python install
# --compile-bytecode` is what writes it in a real build.
find . -name __pycache__ -type d -prune -exec rm -rf {} +
# Stripped, as the archives uv installs are (before patchelf edits them).
find bin lib -type f \( -name 'python3*' -o -name '*.so' -o -name '*.so.*' \) -exec sh -c \
    'strip=$1; shift; for f; do if file -b "$f" | grep -q "^ELF"; then "$strip" --strip-unneeded "$f"; fi; done' \
    sh "${tools}strip" {} +
# The libraries an ELF file needs, found the way the loader would: ldd for
# our own architecture; for another, which ldd cannot load, each DT_NEEDED
# name looked up in the multiarch folder and followed to its own needs.
needed_libs() { # ELF...
    if [ -z "$tools" ]; then
        for so; do ldd "$so" | awk '$3 ~ /^\// {print $3}'; done
        return
    fi
    local queue=("$@") seen=" " name path
    while [ ${#queue[@]} -gt 0 ]; do
        for name in $("${tools}readelf" -d "${queue[0]}" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
            case $seen in *" $name "*) continue ;; esac
            seen="$seen$name "
            path=/usr/lib/aarch64-linux-gnu/$name
            [ -e "$path" ] || { echo "$name: not found for aarch64" >&2; return 1; }
            echo "$path"
            queue+=("$path")
        done
        queue=("${queue[@]:1}")
    done
}
# Bundle the non-libc libraries the extension modules link, next to them.
needed_libs lib/python"$minor"/lib-dynload/*.so | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|libutil|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" lib/ && "${tools}strip" --strip-unneeded "lib/$(basename "$lib")"; done
for lib in lib/*.so.*; do patchelf --set-rpath '$ORIGIN' "$lib"; done
for so in lib/python"$minor"/lib-dynload/*.so; do patchelf --set-rpath '$ORIGIN/../..' "$so"; done
# For aarch64 this runs under the host's qemu (see the header).
bin/python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, decimal; print("ok")'
cd / && tar -czf "/out/cpython-$version-linux-$target-gnu-install_only.tar.gz" python
