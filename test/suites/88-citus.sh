#!/usr/bin/env bash
# 88-citus: lockable on a Citus cluster, as far as 1.2 goes (issue 13, first
# part): lockable's own tables stay local on the coordinator, and whatever
# would silently break is refused with an error.
#
# Citus comes from test/citus/ensure-citus.sh: an installed Citus, or a
# build of the tarball CITUS_SRC names (patched with CITUS_PATCH), cached
# outside the clone; .ci/run points both at ../shared/vendor.  Without
# either, the suite prints "skipped: Citus not available" and passes.
#
# On a coordinator and 2 workers (test/citus/cluster.sh), all through the
# coordinator:
#   - the core and the waiting line: grant, refusal, renewal, a place in
#     line, hand-off on release with its notification, lock_verify,
#     lock_release_all and lock_sweep, with Citus's hooks in every backend;
#   - the exclusion and queue hammers, 0 violations, amcheck clean;
#   - version_check on a distributed table and on a reference table: the
#     trigger fires in the shards on the workers, a stale update is 40001;
#   - enforce_lock on a distributed table is refused (0A000): at
#     enable_lock_enforcement, and when a trigger installed before
#     create_distributed_table fires, instead of letting every write pass;
#   - distributing lockable.locks makes every lock function fail at once
#     with 55000 (1.1 looped for ever).
source "$(dirname "$0")/../lib.sh"
# shellcheck source=../citus/ensure-citus.sh
source "$LOCKABLE_TOP/test/citus/ensure-citus.sh"
# shellcheck source=../citus/cluster.sh
source "$LOCKABLE_TOP/test/citus/cluster.sh"

EnsureCitus
[ "$CITUS_AVAILABLE" = 1 ] || exit 0
EnsurePackages libdbd-pg-perl

failed=0
Fail() {
    echo "FAIL: $*"
    failed=1
}

# Q SQL...: one value (or rows of values, |-separated) from the coordinator.
Q() {
    CitusPsql 0 -At "$@"
}

# Expect WHAT GOT WANT
Expect() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        Fail "$1: got '$2', expected '$3'"
    fi
}

# ExpectError WHAT SQLSTATE SQL: the statement fails with SQLSTATE (within
# 60 s: a statement that loops is a failure, not a hang).
ExpectError() {
    local what=$1 state=$2 sql=$3 out
    out=$(PGOPTIONS="-c statement_timeout=60s" CitusPsql 0 -At \
        -c '\set VERBOSITY verbose' -c "$sql" 2>&1) && {
        Fail "$what: succeeded, expected $state: $out"
        return
    }
    if grep -q "ERROR:  $state:" <<<"$out"; then
        echo "ok: $what ($state: $(grep -m1 "ERROR:" <<<"$out" | sed "s/.*ERROR:  $state: //"))"
    else
        Fail "$what: expected $state, got: $out"
    fi
}

Say "starting a Citus cluster: a coordinator and 2 workers"
StartCitusCluster
echo "coordinator on port $(CitusPort 0), workers on $(CitusPort 1) and $(CitusPort 2)"
Expect "every node has synced Citus metadata" \
    "$(Q -c "SELECT count(*) FROM pg_dist_node WHERE isactive AND hasmetadata AND metadatasynced")" 3

Say "the core and the waiting line through the coordinator"
Expect "a grant" "$(Q -c "SELECT granted, token FROM lockable.lock_acquire('doc:1', 'alice', '1 minute')")" "t|1"
Expect "a refusal names the holder" \
    "$(Q -c "SELECT granted, owner FROM lockable.lock_acquire('doc:1', 'bob', '1 minute')")" "f|alice"
Expect "a renewal keeps the token" \
    "$(Q -c "SELECT granted, token FROM lockable.lock_acquire('doc:1', 'alice', '2 minutes')")" "t|1"
Expect "a place in line" \
    "$(Q -c "SELECT granted, position FROM lockable.lock_acquire('doc:1', 'bob', '1 minute', queue => true)")" "f|1"
out=$(CitusPsql 0 -At -c "LISTEN lockable" \
    -c "SELECT lockable.lock_release('doc:1', 'alice')" -c "SELECT 'after'")
Expect "the release is accepted" "$(sed -n 1p <<<"$out")" t
if grep -q 'Asynchronous notification "lockable" with payload ".*"event" *: *"acquired".*"owner" *: *"bob"' <<<"$out"; then
    echo "ok: the hand-off is announced on the coordinator"
else
    Fail "no 'acquired' notification for bob: $out"
fi
Expect "the lock was handed to the first in line" \
    "$(Q -c "SELECT owner, token FROM lockable.active_locks WHERE uid = 'doc:1'")" "bob|2"
Expect "lock_verify of the new grant" "$(Q -c "SELECT lockable.lock_verify('doc:1', 'bob', 2)")" t
Expect "lock_verify of the old grant" "$(Q -c "SELECT lockable.lock_verify('doc:1', 'alice', 1)")" f
Q -c "SELECT count(*) FROM generate_series(1, 20) AS g,
        LATERAL lockable.lock_acquire('many:' || g, 'carol', '1 minute') AS a" >/dev/null
Expect "lock_release_all counts every lock" "$(Q -c "SELECT lockable.lock_release_all('carol')")" 20
Expect "lock_sweep deletes the ended rows" "$(Q -c "SELECT lockable.lock_sweep()")" 20
Expect "lockable's tables are local, not Citus tables" \
    "$(Q -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'lockable.%'")" 0

Say "the hammers through the coordinator"
perl "$LOCKABLE_TOP/test/reliability/hammer.pl" --mode exclusion --clients 16 --uids 4 --seconds 10 --sweep ||
    Fail "exclusion hammer"
perl "$LOCKABLE_TOP/test/reliability/queue_hammer.pl" --clients 32 --uids 4 --seconds 15 --vanish 8 ||
    Fail "queue hammer"

Say "version_check on a distributed table and on a reference table"
CitusPsql 0 -c "SET citus.enable_unsafe_triggers = on" \
    -c "CREATE TABLE doc (id bigint PRIMARY KEY, body text)" \
    -c "SELECT lockable.enable_versioning('doc')" \
    -c "SELECT create_distributed_table('doc', 'id')" \
    -c "CREATE TABLE kind (id bigint PRIMARY KEY, name text)" \
    -c "SELECT lockable.enable_versioning('kind')" \
    -c "SELECT create_reference_table('kind')" \
    -c "INSERT INTO doc SELECT g, 'v1' FROM generate_series(1, 10) AS g" \
    -c "INSERT INTO kind VALUES (1, 'memo')" >/dev/null
Expect "doc's shards are on both workers" \
    "$(Q -c "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'doc'::regclass")" 2
Expect "an update based on the current version bumps it" \
    "$(Q -c "UPDATE doc SET body = 'v2', version = 1 WHERE id = 7 RETURNING version")" 2
ExpectError "a stale update of a distributed table" 40001 \
    "UPDATE doc SET body = 'stale', version = 1 WHERE id = 7"
Expect "the stale update changed nothing" "$(Q -c "SELECT body, version FROM doc WHERE id = 7")" "v2|2"
Expect "a reference table's update bumps its version" \
    "$(Q -c "UPDATE kind SET name = 'note', version = 1 WHERE id = 1 RETURNING version")" 2
ExpectError "a stale update of a reference table" 40001 \
    "UPDATE kind SET name = 'stale', version = 1 WHERE id = 1"

Say "enforce_lock on a distributed table is refused, never silently passed"
ExpectError "enable_lock_enforcement on a distributed table" 0A000 \
    "SELECT lockable.enable_lock_enforcement('doc', 'id', 'doc:')"
CitusPsql 0 -c "SET citus.enable_unsafe_triggers = on" \
    -c "CREATE TABLE memo (id bigint PRIMARY KEY, body text)" \
    -c "SELECT lockable.enable_lock_enforcement('memo', 'id', 'memo:')" \
    -c "SELECT create_distributed_table('memo', 'id')" \
    -c "INSERT INTO memo SELECT g, 'v1' FROM generate_series(1, 10) AS g" >/dev/null
Q -c "SELECT granted FROM lockable.lock_acquire('memo:3', 'alice', '1 minute')" >/dev/null
ExpectError "a write to a distributed table with enforce_lock" 0A000 \
    "UPDATE memo SET body = 'bob was here' WHERE id = 3"
Expect "the refused write changed nothing" "$(Q -c "SELECT body FROM memo WHERE id = 3")" v1

Say "distributing lockable's own table is refused by every lock function"
CitusPsql 0 -c "SELECT create_distributed_table('lockable.locks', 'uid')" >/dev/null 2>&1 ||
    Fail "create_distributed_table('lockable.locks', 'uid') failed"
ExpectError "lock_acquire of a uid that has a row" 55000 \
    "SELECT * FROM lockable.lock_acquire('doc:1', 'dave', '1 minute')"
ExpectError "lock_acquire of a new uid" 55000 \
    "SELECT * FROM lockable.lock_acquire('doc:new', 'dave', '1 minute')"
ExpectError "lock_owner" 55000 "SELECT lockable.lock_owner('doc:1')"
ExpectError "lock_release" 55000 "SELECT lockable.lock_release('doc:1', 'bob')"
ExpectError "verify_installation" 55000 "SELECT lockable.verify_installation()"

StopCitusCluster
exit $failed
