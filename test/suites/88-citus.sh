#!/usr/bin/env bash
# 88-citus: lockable on a Citus cluster, local on the coordinator and then
# distributed by lockable.distribute() (1.3), and back.
#
# Citus comes from test/citus/ensure-citus.sh: an installed Citus, or a
# build of the tarball CITUS_SRC names (patched with CITUS_PATCH), cached
# outside the clone; .ci/run points both at ../shared/vendor.  Without
# either, the suite prints "skipped: Citus not available" and is counted as
# skipped.
#
# On a coordinator and 2 workers (test/citus/cluster.sh), all through the
# coordinator:
#   - with lockable's tables local on the coordinator: the core and the
#     waiting line, with the hand-off's notification; the exclusion and
#     queue hammers; version_check on a distributed and a reference table
#     (40001 from the shards); enforce_lock on a distributed table refused
#     (0A000) at install and when it fires;
#   - lockable.locks distributed by hand: every lock function refuses at
#     once (55000; 1.1 looped for ever), until lockable.distribute()
#     finishes the job; distribute() on a worker (55000), by a role that is
#     not a superuser (42501), twice (idempotent);
#   - distributed: the core and the line, each call delegated to the worker
#     of its uid (its row is in a shard there, its token carries that
#     worker's group); the hand-off announced on that worker, heard by psql
#     and by django-lockable's notification bridge given only the
#     coordinator; a call Citus does not delegate refused (0A000);
#     enforce_lock refused; tokens unique across nodes; release_all and
#     sweep across the shards; tokens increasing per uid across a sweep and
#     a move to a node whose sequence is behind; distribute() again raises
#     every shard's high-water row;
#   - the exclusion (with sweeps), takeover and queue hammers delegated,
#     then the exclusion hammer while hot shards move back and forth, and
#     while a worker is SIGKILLed and restarted: 0 violations, no
#     acknowledged grant lost, amcheck clean on every shard of every node;
#   - lockable.undistribute(): refusals as for distribute(), and in a
#     transaction block (25001); the catalog is
#     then a fresh install's (the regression fingerprint), the locks and
#     lines are back on the coordinator with plain tokens above every
#     distributed one; distribute() again works.
source "$(dirname "$0")/../lib.sh"
# shellcheck source=../citus/ensure-citus.sh
source "$LOCKABLE_TOP/test/citus/ensure-citus.sh"
# shellcheck source=../citus/cluster.sh
source "$LOCKABLE_TOP/test/citus/cluster.sh"

EnsureCitus
[ "$CITUS_AVAILABLE" = 1 ] || exit "$SKIP"
EnsurePackages libdbd-pg-perl python3-psycopg python3-django

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
    out=$(PGOPTIONS="-c statement_timeout=60s" CitusPsql "${ON_NODE:-0}" -At \
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

Say "distributing lockable's own table by hand is refused by every lock function"
# A local table whose writes enforce_lock checks, from before distribute().
CitusPsql 0 -c "CREATE TABLE page (id bigint PRIMARY KEY, body text)" \
    -c "SELECT lockable.enable_lock_enforcement('page', 'id', 'page:')" \
    -c "INSERT INTO page SELECT g, 'v1' FROM generate_series(1, 3) AS g" >/dev/null
last_token=$(Q -c "SELECT max(token) FROM lockable.locks")
CitusPsql 0 -c "SELECT create_distributed_table('lockable.locks', 'uid')" >/dev/null 2>&1 ||
    Fail "create_distributed_table('lockable.locks', 'uid') failed"
ExpectError "lock_acquire of a uid that has a row" 55000 \
    "SELECT * FROM lockable.lock_acquire('doc:1', 'dave', '1 minute')"
ExpectError "lock_acquire of a new uid" 55000 \
    "SELECT * FROM lockable.lock_acquire('doc:new', 'dave', '1 minute')"
ExpectError "lock_owner" 55000 "SELECT lockable.lock_owner('doc:1')"
ExpectError "lock_release" 55000 "SELECT lockable.lock_release('doc:1', 'bob')"
ExpectError "verify_installation" 55000 "SELECT lockable.verify_installation()"

Say "lockable.distribute()"
ON_NODE=1 ExpectError "distribute() on a worker" 55000 "SELECT lockable.distribute()"
Q -c "CREATE ROLE app LOGIN" >/dev/null
ExpectError "distribute() by a role that is not a superuser" 42501 \
    "SET ROLE app; SELECT lockable.distribute()"
Q -c "SET client_min_messages = warning" -c "SELECT lockable.distribute()" >/dev/null ||
    Fail "distribute() failed"
Q -c "SET client_min_messages = warning" -c "SELECT lockable.distribute()" >/dev/null ||
    Fail "distribute() a second time failed"
Expect "both tables hash-distributed on uid, colocated" \
    "$(Q -c "SELECT count(*), count(DISTINCT colocationid) FROM pg_dist_partition
             WHERE logicalrelid IN ('lockable.locks'::regclass, 'lockable.places'::regclass)
               AND partmethod = 'h'")" "2|1"
Expect "the per-uid functions are delegated on uid" \
    "$(Q -c "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_dist_object o
             JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND o.objid = p.oid
             WHERE o.distribution_argument_index = 0")" \
    "lock_acquire,lock_break,lock_owner,lock_release,lock_verify"
Expect "the lock functions work again once distribute() finished the job" \
    "$(Q -c "SELECT lockable.lock_owner('doc:1')")" bob

# NodeOf UID: the worker (1 or 2) that holds UID's shard.
NodeOf() {
    local port
    port=$(Q -c "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
                 WHERE p.shardid = get_shard_id_for_distribution_column('lockable.locks', '$1')")
    for n in 1 2; do
        if [ "$port" = "$(CitusPort "$n")" ]; then echo "$n"; fi
    done
}
# GroupOf NODE: its Citus group id.
GroupOf() {
    CitusPsql "$1" -At -c "SELECT groupid FROM pg_dist_local_group"
}

Say "the core and the line on the workers, through the coordinator"
node=$(NodeOf dist:1)
echo "dist:1 is on worker $node (group $(GroupOf "$node"))"
read -r granted token <<<"$(Q -F ' ' -c "SELECT granted, token FROM lockable.lock_acquire('dist:1', 'alice', '1 minute')")"
Expect "a grant" "$granted" t
Expect "its token is above every token drawn before distribute()" "$((token > last_token))" 1
Expect "its token carries the group of the node that drew it" "$((token % 4096))" "$(GroupOf "$node")"
Expect "the call ran on the worker: its row is in a shard there" \
    "$(CitusPsql "$node" -At -c "SELECT count(*) FROM lockable.locks WHERE uid = 'dist:1'")" 1
Expect "a refusal names the holder" \
    "$(Q -c "SELECT granted, owner FROM lockable.lock_acquire('dist:1', 'bob', '1 minute')")" "f|alice"
Expect "a renewal keeps the token" \
    "$(Q -c "SELECT granted, token FROM lockable.lock_acquire('dist:1', 'alice', '2 minutes')")" "t|$token"
Expect "a place in line" \
    "$(Q -c "SELECT granted, position FROM lockable.lock_acquire('dist:1', 'bob', '1 minute', queue => true)")" "f|1"
Expect "lock_owner" "$(Q -c "SELECT lockable.lock_owner('dist:1')")" alice
Expect "lock_verify" "$(Q -c "SELECT lockable.lock_verify('dist:1', 'alice', $token)")" t
Expect "the views read every shard" \
    "$(Q -c "SELECT owner, waiters FROM lockable.active_locks WHERE uid = 'dist:1'")" "alice|1"
listen_out=$CITUS_DIR/listen.out
CitusPsql "$node" -At -c "LISTEN lockable" -c "SELECT pg_sleep(3)" >"$listen_out" 2>&1 &
listener=$!
sleep 1
Expect "the release through the coordinator" "$(Q -c "SELECT lockable.lock_release('dist:1', 'alice')")" t
wait $listener
if grep -q 'Asynchronous notification "lockable" with payload ".*"event" *: *"acquired".*"owner" *: *"bob"' "$listen_out"; then
    echo "ok: the hand-off is announced on the worker that made it"
else
    Fail "no 'acquired' notification for bob on worker $node: $(cat "$listen_out")"
fi
read -r owner token2 <<<"$(Q -F ' ' -c "SELECT owner, token FROM lockable.active_locks WHERE uid = 'dist:1'")"
Expect "the lock was handed to the first in line" "$owner" bob
Expect "with a higher token" "$((token2 > token))" 1
Expect "lock_break" "$(Q -c "SELECT lockable.lock_break('dist:1')")" t
ExpectError "a call Citus does not delegate (in a transaction block)" 0A000 \
    "BEGIN; SELECT * FROM lockable.lock_acquire('dist:1', 'carol'); COMMIT"
Expect "the refused call changed nothing" "$(Q -c "SELECT lockable.lock_owner('dist:1')")" ""

Say "django-lockable's notification bridge hears a hand-off on a worker"
Q -c "SELECT granted FROM lockable.lock_acquire('dist:bridge', 'alice', '1 minute')" >/dev/null
Q -c "SELECT granted FROM lockable.lock_acquire('dist:bridge', 'bob', '1 minute', queue => true)" >/dev/null
if /usr/bin/python3 "$LOCKABLE_TOP/test/citus/bridge_handoff.py" dist:bridge; then
    echo "ok: the bridge, given the coordinator, heard 'acquired' for bob from worker $(NodeOf dist:bridge)"
else
    Fail "the bridge did not hear the hand-off on worker $(NodeOf dist:bridge)"
fi

Say "django-lockable's calls are delegated (each a statement by itself)"
node=$(NodeOf dist:package)
if /usr/bin/python3 "$LOCKABLE_TOP/test/citus/package_calls.py" dist:package "$(GroupOf "$node")"; then
    echo "ok: acquire, verify, a join with presence, the look, release: delegated to worker $node"
else
    Fail "django-lockable's calls on a distributed install"
fi

Say "enforce_lock once the locks are distributed: refused, never passed"
ExpectError "enable_lock_enforcement on a local table" 0A000 \
    "CREATE TABLE note (id bigint PRIMARY KEY, body text);
     SELECT lockable.enable_lock_enforcement('note', 'id', 'note:')"
Q -c "SELECT granted FROM lockable.lock_acquire('page:1', 'alice', '1 minute')" >/dev/null
ExpectError "a trigger installed before distribute() fires" 0A000 \
    "UPDATE page SET body = 'bob was here' WHERE id = 1"
Expect "the refused write changed nothing" "$(Q -c "SELECT body FROM page WHERE id = 1")" v1

Say "tokens across the cluster"
for i in $(seq 1 60); do
    Q -c "SELECT token FROM lockable.lock_acquire('tok:$i', 'dave', '1 minute')"
done >"$CITUS_DIR/tokens"
Expect "60 grants, 60 distinct tokens" "$(sort -u "$CITUS_DIR/tokens" | wc -l)" 60
Expect "drawn on both workers" \
    "$(awk '{ print $1 % 4096 }' "$CITUS_DIR/tokens" | sort -u | wc -l)" 2

Say "lock_release_all and lock_sweep across the shards"
for n in 1 2; do
    CitusPsql "$n" -At -c "LISTEN lockable" -c "SELECT pg_sleep(4)" >"$CITUS_DIR/listen.$n" 2>&1 &
done
sleep 1
Expect "lock_release_all counts every lock on every worker" \
    "$(Q -c "SELECT lockable.lock_release_all('dave')")" 60
wait
for n in 1 2; do
    expected=$(awk -v g="$(GroupOf "$n")" '$1 % 4096 == g' "$CITUS_DIR/tokens" | wc -l)
    got=$(grep -c 'Asynchronous notification "lockable" with payload ".*"event" *: *"released".*"owner" *: *"dave"' \
        "$CITUS_DIR/listen.$n" || true)
    Expect "worker $n announced the release of each of dave's locks it held" "$got" "$expected"
done
Expect "no lock of dave is left" "$(Q -c "SELECT count(*) FROM lockable.active_locks WHERE owner = 'dave'")" 0
swept=$(Q -c "SELECT lockable.lock_sweep()")
Expect "lock_sweep deletes the ended rows on every worker" "$((swept >= 60))" 1
Expect "no ended row is left" \
    "$(Q -c "SELECT count(*) FROM lockable.locks WHERE uid LIKE 'tok:%'")" 0

Say "tokens stay increasing per uid across a shard move"
# mv:1 is swept away (its token kept by its shard's high-water row); mv:2,
# on the same shard, keeps its row.  The other worker draws its counter far
# behind, and then the shard moves there.
from=$(NodeOf mv:1)
to=$((3 - from))
shard=$(Q -c "SELECT get_shard_id_for_distribution_column('lockable.locks', 'mv:1')")
mv2=$(Q -c "SELECT 'mv:' || g FROM generate_series(2, 10000) AS g
            WHERE get_shard_id_for_distribution_column('lockable.locks', 'mv:' || g) = $shard LIMIT 1")
for i in $(seq 1 30); do
    Q -c "SELECT granted FROM lockable.lock_acquire('mv:1', 'erin', '1 minute')" >/dev/null
    Q -c "SELECT lockable.lock_release('mv:1', 'erin')" >/dev/null
done
mv1_token=$(Q -c "SELECT token FROM lockable.locks WHERE uid = 'mv:1'")
mv2_token=$(Q -c "SELECT token FROM lockable.lock_acquire('$mv2', 'erin', '1 minute')")
Q -c "SELECT lockable.lock_release('mv:1', 'erin')" >/dev/null
Q -c "SELECT lockable.lock_sweep()" >/dev/null
Expect "mv:1's row was swept" "$(Q -c "SELECT count(*) FROM lockable.locks WHERE uid = 'mv:1'")" 0
behind=$(CitusPsql "$to" -At -c "SELECT (last_value + 1) * 4096 + $(GroupOf "$to") < $mv1_token FROM lockable.token_seq")
Expect "the new node's own next token would be below mv:1's last (so the test can fail)" "$behind" t
Q -c "SELECT citus_move_shard_placement($shard, 'localhost', $(CitusPort "$from"),
        'localhost', $(CitusPort "$to"), shard_transfer_mode := 'block_writes')" >/dev/null ||
    Fail "citus_move_shard_placement"
Expect "the shard moved" "$(NodeOf mv:1)" "$to"
read -r granted token <<<"$(Q -F ' ' -c "SELECT granted, token FROM lockable.lock_acquire('mv:1', 'frank', '1 minute')")"
Expect "a swept uid, granted on the new node" "$granted|$((token % 4096))" "t|$(GroupOf "$to")"
Expect "its token is above the one it had before the sweep and the move" "$((token > mv1_token))" 1
Q -c "SELECT lockable.lock_release('$mv2', 'erin')" >/dev/null
token=$(Q -c "SELECT token FROM lockable.lock_acquire('$mv2', 'frank', '1 minute')")
Expect "a uid whose row moved: its next token is above its last" "$((token > mv2_token))" 1

Say "the hammers through the coordinator, delegated to the workers"
perl "$LOCKABLE_TOP/test/reliability/hammer.pl" --delegated --mode exclusion \
    --clients 8 --uids 4 --seconds 10 --sweep || Fail "exclusion hammer, delegated, with sweeps"
perl "$LOCKABLE_TOP/test/reliability/hammer.pl" --delegated --mode takeover \
    --clients 8 --uids 4 --seconds 10 || Fail "takeover hammer, delegated"
perl "$LOCKABLE_TOP/test/reliability/queue_hammer.pl" --delegated \
    --clients 16 --uids 4 --seconds 15 --vanish 8 || Fail "queue hammer, delegated"

Say "distribute() again raises every shard's token floor"
Q -c "SET client_min_messages = warning" -c "SELECT lockable.distribute()" >/dev/null ||
    Fail "distribute() on a distributed install"
shards=$(Q -c "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'lockable.locks'::regclass")
top=$(Q -c "SELECT max(token) FROM lockable.locks WHERE uid <> ''")
Expect "every shard has its high-water row, at the highest token or above" \
    "$(Q -c "SELECT count(*), count(*) FILTER (WHERE result::bigint >= $top)
             FROM run_command_on_shards('lockable.locks', 'SELECT token FROM %s WHERE uid = ''''')")" \
    "$shards|$shards"
ExpectError "undistribute() in a transaction block" 25001 \
    "BEGIN; SELECT lockable.undistribute(); COMMIT"

Say "a hot uid's shard moved back and forth in the middle of the hammer"
perl "$LOCKABLE_TOP/test/reliability/hammer.pl" --delegated --mode exclusion \
    --clients 8 --uids 4 --seconds 20 --move-shards 3 || Fail "exclusion hammer with shard moves"

Say "a worker killed with SIGKILL in the middle of the hammer, and restarted"
perl "$LOCKABLE_TOP/test/reliability/hammer.pl" --delegated --mode exclusion \
    --clients 8 --uids 4 --seconds 20 &
hammer=$!
victim=$(NodeOf hot:1)
sleep 5
echo "killing worker $victim, which holds hot:1"
KillCitusNode "$victim"
sleep 2
StartCitusNode "$victim"
wait $hammer || Fail "exclusion hammer across a worker's crash"

Say "lockable.undistribute()"
Q -c "SELECT granted FROM lockable.lock_acquire('keep:1', 'alice', '5 minutes')" >/dev/null
Q -c "SELECT granted FROM lockable.lock_acquire('keep:1', 'bob', '5 minutes', queue => true)" >/dev/null
last_token=$(Q -c "SELECT max(token) FROM lockable.locks")
ON_NODE=1 ExpectError "undistribute() on a worker" 55000 "SELECT lockable.undistribute()"
ExpectError "undistribute() by a role that is not a superuser" 42501 \
    "SET ROLE app; SELECT lockable.undistribute()"
Q -c "SET client_min_messages = warning" -c "SELECT lockable.undistribute()" >/dev/null ||
    Fail "undistribute() failed"
Q -c "SET client_min_messages = warning" -c "SELECT lockable.undistribute()" >/dev/null ||
    Fail "undistribute() a second time failed"
Expect "no lockable table is a Citus table" \
    "$(Q -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'lockable.%'")" 0
Expect "no lockable function is delegated" \
    "$(Q -c "SELECT count(*) FROM pg_dist_object o JOIN pg_proc p ON o.classid = 'pg_proc'::regclass
             AND o.objid = p.oid WHERE p.pronamespace = 'lockable'::regnamespace")" 0
(cd "$LOCKABLE_TOP" &&
    CitusPsql 0 -At -c '\set ECHO none' -c '\i sql/upgrade_fingerprint.psql' \
        -c '\echo :fp_fingerprint') >"$CITUS_DIR/undistributed.fp"
"$(CitusBinDir)/createdb" -h "$CITUS_DIR" -p "$(CitusPort 0)" -U postgres fresh
(cd "$LOCKABLE_TOP" &&
    "$(CitusBinDir)/psql" -X -q -At -h "$CITUS_DIR" -p "$(CitusPort 0)" -U postgres -d fresh \
        -c "CREATE EXTENSION lockable" -c '\set ECHO none' -c '\i sql/upgrade_fingerprint.psql' \
        -c '\echo :fp_fingerprint') >"$CITUS_DIR/fresh.fp"
if diff "$CITUS_DIR/fresh.fp" "$CITUS_DIR/undistributed.fp"; then
    echo "ok: the catalog is a fresh install's, object for object ($(wc -l <"$CITUS_DIR/fresh.fp") lines)"
else
    Fail "the undistributed catalog differs from a fresh install's"
fi
Expect "the locks came back with their holders" "$(Q -c "SELECT lockable.lock_owner('keep:1')")" alice
Expect "and their lines" "$(Q -c "SELECT owner, position FROM lockable.lock_queue WHERE uid = 'keep:1'")" "bob|1"
Expect "no high-water row came back" "$(Q -c "SELECT count(*) FROM lockable.locks WHERE uid = ''")" 0
Expect "a call in a transaction block works again" \
    "$(Q -c "BEGIN" -c "SELECT lockable.lock_release('keep:1', 'alice')" -c "COMMIT")" t
read -r owner token <<<"$(Q -F ' ' -c "SELECT owner, token FROM lockable.locks WHERE uid = 'keep:1'")"
Expect "the hand-off went to the line" "$owner" bob
Expect "with a plain token above every distributed one" "$((token > last_token))" 1
Q -c "SET client_min_messages = warning" -c "SELECT lockable.distribute()" >/dev/null ||
    Fail "distribute() after undistribute() failed"
node=$(NodeOf keep:2)
Q -c "SELECT granted FROM lockable.lock_acquire('keep:2', 'carol', '1 minute')" >/dev/null
Expect "distributed again: the call ran on the worker" \
    "$(CitusPsql "$node" -At -c "SELECT count(*) FROM lockable.locks WHERE uid = 'keep:2'")" 1
Expect "bob's lock moved into the shards with the rest" "$(Q -c "SELECT lockable.lock_owner('keep:1')")" bob

StopCitusCluster
exit $failed
