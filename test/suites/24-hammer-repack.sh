#!/usr/bin/env bash
# The exclusion hammer while pg_repack rebuilds lockable.locks (issue 8):
# pg_repack --table lockable.locks loops, on a table padded with 100,000
# released rows so that each rebuild overlaps many grants, with an extra
# index on owner.  hammer.pl checks afterwards: one row per uid, no grant or
# release lost, mutual exclusion, growing tokens, and amcheck on every index
# and the heap.  pg_repack comes from Debian's package for the server under
# test; without one, the suite is skipped.
source "$(dirname "$0")/../lib.sh"
EnsureServerPackagesOrSkip "postgresql-$PG_MAJOR-repack"
EnsurePackages libdbd-pg-perl

db=lockable_hammer_repack
createdb "$db"
trap 'dropdb --if-exists "$db"' EXIT
psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
# pg_repack's client must match the server: Debian puts it in bindir
PATH="$PG_BINDIR:$PATH" PGDATABASE=$db perl "$LOCKABLE_TOP/test/reliability/hammer.pl" \
    --mode exclusion --clients 8 --uids 400 --seconds 20 --ddl repack --padding 100000
