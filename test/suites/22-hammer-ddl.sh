#!/usr/bin/env bash
# The exclusion hammer while a DBA reindexes lockable.locks (issue 8): an
# extra index on owner makes every grant and release a non-HOT update that
# must reach every index, and alongside the clients REINDEX INDEX
# CONCURRENTLY of the primary key and of that index, and CREATE / DROP INDEX
# CONCURRENTLY of a third, loop all the time.  hammer.pl checks afterwards:
# one row per uid, no grant or release lost, mutual exclusion, growing
# tokens, and amcheck on every index and the heap.  pg_repack's half is
# suite 24-hammer-repack.
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl

db=lockable_hammer_reindex
createdb "$db"
trap 'dropdb --if-exists "$db"' EXIT
psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
PGDATABASE=$db perl "$LOCKABLE_TOP/test/reliability/hammer.pl" --mode exclusion \
    --clients 16 --uids 300 --seconds 15 --ddl reindex
