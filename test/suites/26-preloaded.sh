#!/usr/bin/env bash
# The same races and hammers with the library preloaded (issue 12):
# shared_preload_libraries = 'lockable' on a cluster of this suite's own, so
# that waiting acquires sleep on condition variables in shared memory and
# are woken by the commits that may free their lock, instead of polling.
# Checked: the shared memory is there; every isolation spec passes (the
# wait specs among them); the exclusion, takeover and queue hammers find no
# violation.
source "$(dirname "$0")/../lib.sh"
EnsureServer
EnsurePackages libdbd-pg-perl
cd "$LOCKABLE_TOP"

StartCluster "shared_preload_libraries = 'lockable'"
failed=0

slots=$(psql -X -At -d postgres -c \
    "SELECT count(*) FROM pg_catalog.pg_shmem_allocations WHERE name = 'lockable wait slots'")
if [ "$slots" = 1 ]; then
    echo "preloaded: the condition variables of the waiters are in shared memory"
else
    echo "FAIL: no 'lockable wait slots' in pg_shmem_allocations: the library was not preloaded"
    failed=1
fi

out=$(mktemp -d)
trap 'rm -rf "$out"; StopCluster' EXIT
"$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
    --inputdir=test/isolation --outputdir="$out" --bindir="$PG_BINDIR" \
    --dbname=lockable_isolation_preloaded --load-extension=lockable \
    $(make -s --no-print-directory print-isolation) || {
    cat "$out/regression.diffs" 2>/dev/null
    failed=1
}

db=lockable_hammer_preloaded
createdb "$db"
psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
export PGDATABASE=$db
reliability="$LOCKABLE_TOP/test/reliability"
perl "$reliability/hammer.pl" --mode exclusion --clients 32 --uids 4 --seconds 15 --sweep || failed=1
perl "$reliability/hammer.pl" --mode takeover --clients 32 --uids 4 --seconds 10 || failed=1
perl "$reliability/queue_hammer.pl" --clients 32 --uids 4 --seconds 15 || failed=1
exit $failed
