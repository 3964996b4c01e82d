#!/usr/bin/env bash
# The waiting-line hammer (issue 9): 32 clients queue for 4 hot uids, keep
# their places with heartbeats, work when handed the lock and release it,
# and a few vanish without a word (places lapse, leases run out).  See
# test/reliability/queue_hammer.pl for what is checked; any violation fails.
# Then lock_release_all racing itself over crossing lines
# (test/reliability/release_all_race.pl): no deadlock, nothing left; and
# the line with take overs and hand overs mixed in
# (test/reliability/transfer_hammer.pl).
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl

db=lockable_queue_hammer
createdb "$db"
trap 'dropdb --if-exists "$db"' EXIT
psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
PGDATABASE=$db perl "$LOCKABLE_TOP/test/reliability/queue_hammer.pl" \
    --clients 32 --uids 4 --seconds 25
# lock_release_all with crossing lines: no deadlock, nothing left behind.
PGDATABASE=$db perl "$LOCKABLE_TOP/test/reliability/release_all_race.pl" \
    --clients 12 --uids 6 --seconds 10
# Take overs and hand overs mixed in (test/reliability/transfer_hammer.pl):
# fenced writes, tokens, and the history against the grants seen.
PGDATABASE=$db perl "$LOCKABLE_TOP/test/reliability/transfer_hammer.pl" \
    --clients 12 --admins 2 --uids 4 --seconds 15
