#!/usr/bin/env bash
# Mutual-exclusion hammer, short form (the long form is "make stress"):
# 32 clients over 4 hot uids for about 25 seconds, then the takeover form,
# where leases run out under their holders all the time.  See
# test/reliability/hammer.pl for what is checked; any violation fails.
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl

db=lockable_hammer
createdb "$db"
trap 'dropdb --if-exists "$db"' EXIT
psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
export PGDATABASE=$db

hammer="$LOCKABLE_TOP/test/reliability/hammer.pl"
perl "$hammer" --mode exclusion --clients 32 --uids 4 --seconds 25 --sweep
perl "$hammer" --mode takeover --clients 32 --uids 4 --seconds 15
