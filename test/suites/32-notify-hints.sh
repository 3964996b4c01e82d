#!/usr/bin/env bash
# 32-notify-hints: notifications are hints that never stop the lock change
# they announce (issue 20; src/notify.c): a grant in a prepared transaction,
# a grant with every hint dropped by lockable.notify_queue_limit, and hints
# of a rolled-back savepoint.  On a cluster of its own that allows prepared
# transactions and preloads lockable (so the drops are counted server-wide).
# See test/reliability/notify_hints.pl.
source "$(dirname "$0")/../lib.sh"
EnsureServer
EnsurePackages libdbd-pg-perl
StartCluster "max_prepared_transactions = 4" "shared_preload_libraries = 'lockable'"
createdb lockable_hints
psql -X -q -d lockable_hints -c 'CREATE EXTENSION lockable'
PGDATABASE=lockable_hints perl "$LOCKABLE_TOP/test/reliability/notify_hints.pl" hints
