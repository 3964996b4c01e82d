#!/bin/bash
# test/citus/ensure-citus.sh: make Citus available to the PostgreSQL that
# $PG_CONFIG names, for the Citus suite.
#
# Sourced:  . test/citus/ensure-citus.sh; EnsureCitus
#           EnsureCitus returns 0 and sets CITUS_AVAILABLE=1 when Citus is
#           installed, or returns 0 and sets CITUS_AVAILABLE=0 after printing
#           the single line "skipped: Citus not available (<why>)" when it
#           cannot be had.  It returns non-zero only on a real failure (a build or an
#           install that went wrong), so callers under "set -e" can write
#               EnsureCitus
#               [ "$CITUS_AVAILABLE" = 1 ] || exit 0
# Run:      test/citus/ensure-citus.sh
#           exits 0 when Citus is installed, 77 (the automake "skip" code)
#           after printing "skipped: Citus not available", 1 on failure.
#
# Where Citus comes from, in this order:
#   1. citus.so in $PG_CONFIG --pkglibdir and citus.control in
#      $PG_CONFIG --sharedir/extension: used as they are.
#   2. CITUS_SRC, a Citus source tarball (as "git archive" or a release makes
#      it, one top-level directory): unpacked, patched with CITUS_PATCH if set
#      (patch -p1), configured for $PG_CONFIG and built once into
#          $CITUS_CACHE_DIR/<sha256 of the tarball>/<variant>/
#      where <variant> names the patch and the PostgreSQL it was built for,
#      then installed from there with "make install" (seconds when cached).
#      CITUS_CACHE_DIR defaults to ${XDG_CACHE_HOME}/lockable-citus, else
#      /var/cache/lockable-citus as root, ~/.cache/lockable-citus otherwise:
#      outside the clone, so "git clean" keeps it.  Build and install run
#      under flock on <sha256>.lock, so concurrent runs wait for each other
#      instead of corrupting the cache; a build is used only once its
#      ".built" marker exists, and an unfinished one is redone.  The build
#      packages come through test/lib.sh's EnsurePackages (as root).
#   3. Otherwise (CITUS_SRC unset or unreadable, or a PostgreSQL that Citus
#      13.2 does not support): skip, as above.
#
# Building and installing need write access to $PG_CONFIG's installation:
# run as root, or point PG_CONFIG at a private copy of PostgreSQL.

if [ -z "$(type -t EnsurePackages 2>/dev/null)" ]; then
    # shellcheck source=../lib.sh
    . "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
fi

# CitusInstalled: are both citus.so and citus.control in $PG_CONFIG's dirs?
CitusInstalled() {
    [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] &&
        [ -f "$("$PG_CONFIG" --sharedir)/extension/citus.control" ]
}

CitusCacheRoot() {
    if [ -n "${CITUS_CACHE_DIR:-}" ]; then
        echo "$CITUS_CACHE_DIR"
    elif [ -n "${XDG_CACHE_HOME:-}" ]; then
        echo "$XDG_CACHE_HOME/lockable-citus"
    elif [ "$(id -u)" = 0 ]; then
        echo /var/cache/lockable-citus
    else
        echo "$HOME/.cache/lockable-citus"
    fi
}

# BuildCitusInto DIR: unpack, patch, configure and build CITUS_SRC in DIR.
# Called with the cache lock held, and from an "if", where "set -e" does not
# apply: every step checks its own status.
BuildCitusInto() {
    local dir=$1 log
    rm -rf "$dir"
    mkdir -p "$dir" || return 1
    log=$dir/build.log
    Say "building Citus from $(basename "$CITUS_SRC") (once; log in $log)"
    # with_llvm=no: no JIT bitcode, which would double the build's time;
    # Citus runs the same without it.
    # libkrb5-dev: Debian's server headers include <gssapi/gssapi.h>
    # (libpq-be.h, PostgreSQL being built with GSSAPI), which
    # postgresql-server-dev-15 does not pull in.
    EnsurePackages make gcc xz-utils patch \
        libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev || return 1
    if [ ! -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ]; then
        if [ "$LOCKABLE_DEFAULT_SERVER" = 1 ]; then
            EnsurePackages "postgresql-server-dev-$PG_MAJOR" || return 1
        else
            echo "$PG_CONFIG has no server headers" >&2
            return 1
        fi
    fi
    if ! {
        tar -xf "$CITUS_SRC" -C "$dir" --strip-components=1 &&
            if [ -n "${CITUS_PATCH:-}" ]; then
                patch -p1 -d "$dir" <"$CITUS_PATCH"
            fi &&
            (cd "$dir" && ./configure PG_CONFIG="$PG_CONFIG" &&
                make -j"$(nproc)" with_llvm=no)
    } >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "Citus build failed; see $log" >&2
        return 1
    fi
    touch "$dir/.built"
}

EnsureCitus() {
    CITUS_AVAILABLE=0
    if CitusInstalled; then
        CITUS_AVAILABLE=1
        return 0
    fi
    # The vendored Citus 13.2 builds against PostgreSQL 15 to 17 only.
    if [ "$PG_MAJOR" -lt 15 ] || [ "$PG_MAJOR" -gt 17 ]; then
        echo "skipped: Citus not available (Citus 13.2 supports PostgreSQL 15 to 17; this is $PG_MAJOR)"
        return 0
    fi
    if [ -z "${CITUS_SRC:-}" ] || [ ! -r "$CITUS_SRC" ] ||
        { [ -n "${CITUS_PATCH:-}" ] && [ ! -r "$CITUS_PATCH" ]; }; then
        echo "skipped: Citus not available (no Citus installed, and CITUS_SRC names no source)"
        return 0
    fi

    local root sha variant dir lockfd
    root=$(CitusCacheRoot)
    sha=$(sha256sum "$CITUS_SRC" | cut -d' ' -f1)
    # One tarball, several builds: with or without a patch, and for each
    # PostgreSQL (headers and install paths are fixed at configure time).
    variant=patch-$(if [ -n "${CITUS_PATCH:-}" ]; then
        sha256sum "$CITUS_PATCH" | cut -c1-12
    else
        echo none
    fi)-pg-$({ "$PG_CONFIG" --version; "$PG_CONFIG" --includedir-server \
        --pkglibdir --sharedir; } | sha256sum | cut -c1-12)
    dir=$root/$sha/$variant
    mkdir -p "$root"

    exec {lockfd}>"$root/$sha.lock"
    flock "$lockfd"
    if [ ! -f "$dir/.built" ] && ! BuildCitusInto "$dir"; then
        flock -u "$lockfd"
        exec {lockfd}>&-
        return 1
    fi
    Say "installing Citus from $dir"
    if ! make -C "$dir" -s install with_llvm=no PG_CONFIG="$PG_CONFIG" >"$dir/install.log" 2>&1; then
        cat "$dir/install.log" >&2
        flock -u "$lockfd"
        exec {lockfd}>&-
        return 1
    fi
    flock -u "$lockfd"
    exec {lockfd}>&-

    if ! CitusInstalled; then
        echo "Citus installed from $dir, but citus.so or citus.control is missing" >&2
        return 1
    fi
    CITUS_AVAILABLE=1
}

# Run as a script: exit 0 (installed), 77 (skipped) or 1 (failure).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    EnsureCitus || exit 1
    [ "$CITUS_AVAILABLE" = 1 ] || exit 77
    exit 0
fi
