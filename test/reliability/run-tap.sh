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
trap 'rm -rf "$work"' EXIT
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
