#!/usr/bin/env bash
# The exclusion hammer while a DBA works on lockable.locks (issue 8): an
# extra index on owner makes every grant and release a non-HOT update that
# must reach every index, and alongside the clients
#   1. REINDEX INDEX CONCURRENTLY of the primary key and of that index, and
#      CREATE / DROP INDEX CONCURRENTLY of a third, loop all the time;
#   2. pg_repack --table lockable.locks loops, on a table padded with 100,000
#      released rows so that each rebuild overlaps many grants.
# hammer.pl checks afterwards: one row per uid, no grant or release lost,
# mutual exclusion, growing tokens, and amcheck on every index and the heap.
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl "postgresql-$PG_MAJOR-repack"

hammer="$LOCKABLE_TOP/test/reliability/hammer.pl"
failed=0
for ddl in reindex repack; do
    db=lockable_hammer_$ddl
    createdb "$db"
    psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
    if [ "$ddl" = reindex ]; then
        PGDATABASE=$db perl "$hammer" --mode exclusion --clients 16 --uids 300 \
            --seconds 15 --ddl reindex || failed=1
    else
        # pg_repack's client must match the server: Debian puts it in bindir
        PATH="$PG_BINDIR:$PATH" PGDATABASE=$db perl "$hammer" --mode exclusion \
            --clients 8 --uids 400 --seconds 20 --ddl repack --padding 100000 ||
            failed=1
    fi
    dropdb --if-exists "$db"
done
exit $failed
