#!/usr/bin/env bash
# Mutual-exclusion hammer, takeover form with fenced writes (issue 3's
# enforce_lock): 32 clients over 4 hot uids with 40 ms leases that run out
# under their holders; each holder writes its row of hammer.resource with
# SET LOCAL lockable.owner and lockable.token.  A holder whose lease was
# taken over must be refused (55P03), and then have its release and renew
# refused; no write from an older grant may land after a newer grant.
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl

db=lockable_hammer_fenced
createdb "$db"
trap 'dropdb --if-exists "$db"' EXIT
psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
export PGDATABASE=$db
if [ "$(psql -X -At -c "SELECT to_regproc('lockable.enable_lock_enforcement') IS NOT NULL")" != t ]; then
    echo "lockable.enable_lock_enforcement is missing: this suite needs enforce_lock (issue 3)"
    exit 1
fi
perl "$LOCKABLE_TOP/test/reliability/hammer.pl" --mode takeover --fenced \
    --clients 32 --uids 4 --seconds 15
