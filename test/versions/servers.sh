#!/usr/bin/env bash
# test/versions/servers.sh: the PostgreSQL servers of the version matrix
# that Debian 12 does not package, each made once into a cache outside the
# clone.  Sourced by test/run.sh; needs test/lib.sh.
#
#   EnsureSourceServer TARBALL
#       PostgreSQL built from a source tarball (as upstream's "git archive"
#       or Debian's orig tarball make it: one top-level directory), with
#       amcheck, pg_stat_statements and the TAP modules, installed under
#           $LOCKABLE_CACHE/postgres/<sha256 of the tarball>/install
#       Sets SOURCE_PG_CONFIG.  Returns 1, with WHY set to a line saying
#       why, when there is no tarball to read, and 2 when the build failed.
#
#   EnsureDebianRoot SUITE MAJOR
#       A root file system of Debian SUITE (trixie), made with debootstrap,
#       with Debian's PostgreSQL MAJOR, its headers and what the suites
#       need, under
#           $LOCKABLE_CACHE/debian/<suite>-<sha of the package list>/root
#       Sets DEBIAN_ROOT.  Returns 1, with WHY set to a line saying why,
#       when debootstrap or apt-get cannot reach Debian's mirror.
#
#   EnsureOlderDebianServer MAJOR
#       The oldest PostgreSQL MAJOR that apt offers, unpacked from Debian's
#       packages, not installed; for the pg_upgrade check.  Sets
#       OLDER_PG_CONFIG.
#
#   RunInRoot ROOT CMD...
#       CMD inside ROOT, as root, in a mount namespace of its own with /proc,
#       /dev and /dev/shm mounted, so that nothing is left mounted when it
#       ends, whatever way it ends.  The environment is cleared: pass what
#       CMD needs as NAME=VALUE words before it, as env(1) takes them.  The
#       host's Go toolchain, if any, is mounted read-only at its own path
#       and put first on the PATH, with the host's Go module cache
#       (/var/cache/lockable/go) at its own path.
#
# LOCKABLE_CACHE defaults to ${XDG_CACHE_HOME}/lockable, else
# /var/cache/lockable as root, ~/.cache/lockable otherwise.  Every entry is
# made under flock on <entry>.lock, so that concurrent runs wait for each
# other instead of corrupting it, and is used only once its ".built" marker
# exists: an unfinished one (a run killed half way) is made again.

LockableCacheRoot() {
    if [ -n "${LOCKABLE_CACHE:-}" ]; then
        echo "$LOCKABLE_CACHE"
    elif [ -n "${XDG_CACHE_HOME:-}" ]; then
        echo "$XDG_CACHE_HOME/lockable"
    elif [ "$(id -u)" = 0 ]; then
        echo /var/cache/lockable
    else
        echo "$HOME/.cache/lockable"
    fi
}

# WithCacheLock ENTRY CMD...: CMD under the entry's flock.
WithCacheLock() {
    local entry=$1 lockfd rc=0
    shift
    mkdir -p "$(dirname "$entry")" || return 1
    exec {lockfd}>"$entry.lock"
    flock "$lockfd"
    "$@" || rc=$?
    flock -u "$lockfd"
    exec {lockfd}>&-
    return $rc
}

# BuildSourceServer TARBALL DIR: build and install into DIR/install.
BuildSourceServer() {
    local tarball=$1 dir=$2 log
    [ -f "$dir/.built" ] && return 0
    rm -rf "$dir"
    mkdir -p "$dir/build" || return 1
    log=$dir/build.log
    Say "building PostgreSQL from $(basename "$tarball") (once; log in $log)"
    # bison and flex: the tarball has no generated parser files.
    # libipc-run-perl: --enable-tap-tests wants IPC::Run at configure time.
    EnsurePackages make gcc xz-utils bison flex pkg-config libreadline-dev \
        zlib1g-dev libicu-dev libipc-run-perl || return 1
    if ! {
        tar -xf "$tarball" -C "$dir/build" --strip-components=1 &&
            (
                cd "$dir/build" &&
                    # No LLVM: JIT bitcode would double the build's time,
                    # and lockable's functions are not JIT-compiled anyway.
                    ./configure --prefix="$dir/install" --without-llvm --enable-tap-tests &&
                    make -j"$(nproc)" &&
                    make install &&
                    make -C contrib/amcheck install &&
                    make -C contrib/pg_stat_statements install &&
                    make -C src/test/perl install
            )
    } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "PostgreSQL build failed; see $log" >&2
        return 1
    fi
    # The build tree is 1 GB; the installation is all later runs need.
    mv "$log" "$dir/install/build.log"
    rm -rf "$dir/build"
    # The server runs as the postgres OS user and reads its library here.
    chmod -R a+rX "$dir"
    touch "$dir/.built"
}

EnsureSourceServer() {
    local tarball=$1 sha dir
    SOURCE_PG_CONFIG=
    if [ -z "$tarball" ] || [ ! -r "$tarball" ]; then
        WHY="no PostgreSQL source${tarball:+ at $tarball} (set LOCKABLE_PG18_SRC to a source tarball)"
        return 1
    fi
    sha=$(sha256sum "$tarball" | cut -d' ' -f1)
    dir=$(LockableCacheRoot)/postgres/$sha
    WithCacheLock "$dir" BuildSourceServer "$tarball" "$dir" || {
        WHY="the PostgreSQL build from $tarball failed"
        return 2
    }
    SOURCE_PG_CONFIG=$dir/install/bin/pg_config
}

# The packages of a Debian root: the server and its headers, a compiler,
# and the clients of the suites (the hammers' Perl, the TAP modules).
DebianRootPackages() {
    local major=$1
    echo "postgresql-$major postgresql-server-dev-$major make gcc libc6-dev" \
        "libdbd-pg-perl libipc-run-perl util-linux ca-certificates"
}

# MakeDebianRoot SUITE MAJOR DIR
MakeDebianRoot() {
    local suite=$1 major=$2 dir=$3 root log
    [ -f "$dir/.built" ] && return 0
    rm -rf "$dir"
    mkdir -p "$dir" || return 1
    root=$dir/root
    log=$dir/make.log
    Say "making a Debian $suite root with PostgreSQL $major (once; log in $log)"
    EnsurePackages debootstrap || return 1
    if ! debootstrap --variant=minbase "$suite" "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
        >"$log" 2>&1; then
        tail -n 5 "$log" >&2
        return 1
    fi
    # No cluster made by the packages, no service started in the root.
    mkdir -p "$root/etc/postgresql-common"
    echo "create_main_cluster = false" >"$root/etc/postgresql-common/createcluster.conf"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    # shellcheck disable=SC2046
    if ! RunInRoot "$root" /bin/sh -c "apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            $(DebianRootPackages "$major")" >>"$log" 2>&1; then
        tail -n 10 "$log" >&2
        return 1
    fi
    RunInRoot "$root" /bin/sh -c 'apt-get clean' >>"$log" 2>&1 || true
    touch "$dir/.built"
}

EnsureDebianRoot() {
    local suite=$1 major=$2 key dir
    DEBIAN_ROOT=
    key=$suite-$(DebianRootPackages "$major" | sha256sum | cut -c1-12)
    dir=$(LockableCacheRoot)/debian/$key
    WithCacheLock "$dir" MakeDebianRoot "$suite" "$major" "$dir" || {
        WHY="no Debian $suite root: debootstrap or apt-get could not reach Debian's mirror"
        return 1
    }
    DEBIAN_ROOT=$dir/root
}

RunInRoot() {
    local root=$1 goroot=
    shift
    # The host's Go toolchain, read-only at the same path, for the suites
    # written in Go (Debian 13's is older than they need).
    if command -v go >/dev/null 2>&1; then
        goroot=$(dirname "$(dirname "$(readlink -f "$(command -v go)")")")
    fi
    unshare --mount --propagation private /bin/sh -c '
        root=$1 goroot=$2
        shift 2
        mount -t proc proc "$root/proc" &&
            mount --rbind /dev "$root/dev" &&
            mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm" || exit 1
        path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        if [ -n "$goroot" ] && mkdir -p "$root$goroot" &&
            mount --bind -o ro "$goroot" "$root$goroot"; then
            path=$goroot/bin:$path
            # and the host'"'"'s module cache, so that nothing needs the proxy
            # from inside (whose TLS the root may not trust)
            gocache=$(cachedir=${LOCKABLE_GO_CACHE:-/var/cache/lockable/go}; [ -d "$cachedir" ] && echo "$cachedir")
            if [ -n "$gocache" ] && mkdir -p "$root$gocache"; then
                mount --bind "$gocache" "$root$gocache"
            fi
        fi
        exec chroot "$root" /usr/bin/env -i PATH="$path" \
            HOME=/root LANG=C.UTF-8 "$@"' RunInRoot "$root" "$goroot" "$@"
}

# ExtractDebianServer MAJOR VERSION DIR: the server, client and headers
# packages of that exact version, unpacked (not installed) into DIR/root.
ExtractDebianServer() {
    local major=$1 version=$2 dir=$3 p
    [ -f "$dir/.built" ] && return 0
    rm -rf "$dir"
    mkdir -p "$dir/debs" "$dir/root" || return 1
    Say "unpacking Debian's PostgreSQL $version into $dir (once)"
    for p in "postgresql-$major" "postgresql-client-$major" "postgresql-server-dev-$major"; do
        # apt-get download runs as _apt, which must be able to write here
        (cd "$dir/debs" && chmod 777 . && apt-get download -qq "$p=$version") || return 1
    done
    for p in "$dir"/debs/*.deb; do
        dpkg-deb -x "$p" "$dir/root" || return 1
    done
    rm -rf "$dir/debs"
    chmod -R a+rX "$dir"
    touch "$dir/.built"
}

# EnsureOlderDebianServer MAJOR
#   The oldest version of Debian's PostgreSQL MAJOR that apt offers (the
#   point release's, when a security update is newer), unpacked under
#       $LOCKABLE_CACHE/debian-server/<version>/root
#   where its pg_config finds its own directories (PostgreSQL's paths are
#   relative to the binaries).  For the pg_upgrade check: a server no newer
#   than the PostgreSQL 18 it is upgraded to.  Sets OLDER_PG_CONFIG, or
#   returns 1 with WHY set.
EnsureOlderDebianServer() {
    local major=$1 version dir
    OLDER_PG_CONFIG=
    if [ -z "${LOCKABLE_APT_UPDATED:-}" ] && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && export LOCKABLE_APT_UPDATED=1
    fi
    version=$(apt-cache madison "postgresql-$major" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
        sort -V | head -n 1)
    if [ -z "$version" ]; then
        WHY="apt offers no postgresql-$major"
        return 1
    fi
    dir=$(LockableCacheRoot)/debian-server/$version
    WithCacheLock "$dir" ExtractDebianServer "$major" "$version" "$dir" || {
        WHY="Debian's PostgreSQL $version could not be downloaded"
        return 1
    }
    OLDER_PG_CONFIG=$dir/root/usr/lib/postgresql/$major/bin/pg_config
}
