#!/usr/bin/env bash
# 33-notify-queue-full: a full NOTIFY queue does not stop grants (issue 20,
# item 11): a listener idle in a transaction, the queue filled until
# PostgreSQL refuses notifications, and a grant that still commits, with a
# WARNING and the drop counted.  It needs a small queue,
# max_notify_queue_pages (PostgreSQL 17 and later): on 15, whose queue is
# 8 GB, the suite is skipped (lockable.notify_queue_limit's drop path is
# tested on every version by 32-notify-hints).
# See test/reliability/notify_hints.pl.
source "$(dirname "$0")/../lib.sh"
EnsureServer
if [ "$PG_MAJOR" -lt 17 ]; then
    echo "skipped: max_notify_queue_pages exists from PostgreSQL 17; this is $PG_MAJOR"
    exit "$SKIP"
fi
EnsurePackages libdbd-pg-perl
StartCluster "max_notify_queue_pages = 64" "shared_preload_libraries = 'lockable'"
createdb lockable_queue_full
psql -X -q -d lockable_queue_full -c 'CREATE EXTENSION lockable'
PGDATABASE=lockable_queue_full perl "$LOCKABLE_TOP/test/reliability/notify_hints.pl" queue-full
