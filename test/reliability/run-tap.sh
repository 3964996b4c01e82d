#!/usr/bin/env bash
# test/reliability/run-tap.sh TEST.pl...: run TAP tests written with
# PostgreSQL::Test::Cluster (from the server's PGXS tree) under prove.
# initdb and the server refuse to run as root, so when we are root the tests
# run as the postgres OS user, from a copy in a temporary directory that user
# can write (the clusters live under its tmp_check/).  On failure the
# server logs are printed.
source "$(dirname "$0")/../lib.sh"
EnsureServer
EnsurePackages libipc-run-perl libdbd-pg-perl

work=$(mktemp -d /tmp/lockable-tap.XXXXXX)
# A test that timed out leaves its servers running: stop those (by the pids
# in their own postmaster.pid files) before removing their directories.
Cleanup() {
    local pidfile pid
    for pidfile in "$work"/tmp_check/*/pgdata/postmaster.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(head -n 1 "$pidfile")
        # only if that pid is still a postmaster of ours
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$work" &&
            kill -QUIT "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap Cleanup EXIT
mkdir "$work/t"
cp "$@" "$work/t/"
chmod -R a+rX "$work"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"

rc=0
(
    cd "$work"
    AsServerUser env PATH="$PG_BINDIR:$PATH" \
        PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
        TESTDIR="$work" \
        timeout --kill-after=10 300 \
        prove -I "$PGXS_DIR/src/test/perl" --verbose t/*.pl
) || rc=$?
if [ $rc -ne 0 ]; then
    for f in "$work"/tmp_check/log/*; do
        [ -f "$f" ] || continue
        echo "---- $(basename "$f") (last 40 lines)"
        tail -n 40 "$f"
    done
fi
exit $rc
