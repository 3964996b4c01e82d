#!/usr/bin/env bash
# test/citus/bench.sh: the per-call overhead of lockable on Citus, in one run
# on one machine: lock_acquire of fresh uids and an acquire/release cycle of
# hot uids, through the coordinator, first with lockable's tables local on
# the coordinator (the single-node case, Citus loaded but not involved),
# then after lockable.distribute(), each call delegated to the worker that
# holds its uid's shard.  pgbench, CITUS_BENCH_CLIENTS clients (4),
# CITUS_BENCH_SECONDS (10) per run, the median of CITUS_BENCH_RUNS (3).
#
# On one machine the three nodes share its cores, so this measures what
# delegation adds to a call (a network round trip from the coordinator to a
# worker, and the planning on both), not how throughput grows with workers.
# Prints one line per figure; exits 77 (skipped) without Citus.
source "$(dirname "$0")/../lib.sh"
# shellcheck source=ensure-citus.sh
source "$LOCKABLE_TOP/test/citus/ensure-citus.sh"
# shellcheck source=cluster.sh
source "$LOCKABLE_TOP/test/citus/cluster.sh"

EnsureCitus
[ "$CITUS_AVAILABLE" = 1 ] || exit 77
clients=${CITUS_BENCH_CLIENTS:-4}
seconds=${CITUS_BENCH_SECONDS:-10}
runs=${CITUS_BENCH_RUNS:-3}

StartCitusCluster
scripts=$CITUS_DIR/scripts
mkdir -p "$scripts"
cat >"$scripts/fresh.sql" <<'SQL'
\set n random(1, 1000000000)
SELECT * FROM lockable.lock_acquire('fresh:' || :n || ':' || :client_id, 'bench', '1 minute');
SQL
cat >"$scripts/cycle.sql" <<'SQL'
\set n random(1, 1000)
SELECT * FROM lockable.lock_acquire('hot:' || :n || ':' || :client_id, 'bench', '1 minute');
SELECT lockable.lock_release('hot:' || :n || ':' || :client_id, 'bench');
SQL

# Rate SCRIPT: the median transactions per second of the runs.
Rate() {
    local i
    for ((i = 0; i < runs; i++)); do
        "$(CitusBinDir)/pgbench" -n -h "$CITUS_DIR" -p "$(CitusPort 0)" -U postgres \
            -c "$clients" -j "$clients" -T "$seconds" -f "$scripts/$1" "$CITUS_DB" 2>&1 |
            awk '/^tps = / { printf "%.0f\n", $3 }'
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

Say "lockable's tables local on the coordinator"
local_fresh=$(Rate fresh.sql)
local_cycle=$(Rate cycle.sql)
echo "acquire of fresh uids: $local_fresh/s; acquire+release cycle: $local_cycle/s"

Say "after lockable.distribute(): each call delegated to a worker"
CitusPsql 0 -c "SET client_min_messages = warning" -c "SELECT lockable.distribute()" >/dev/null
dist_fresh=$(Rate fresh.sql)
dist_cycle=$(Rate cycle.sql)
echo "acquire of fresh uids: $dist_fresh/s; acquire+release cycle: $dist_cycle/s"

Say "distributed against local (same run, $clients clients, median of $runs x ${seconds}s)"
awk -v a="$dist_fresh" -v b="$local_fresh" 'BEGIN { printf "acquire of fresh uids: %.2fx\n", a / b }'
awk -v a="$dist_cycle" -v b="$local_cycle" 'BEGIN { printf "acquire+release cycle: %.2fx\n", a / b }'
StopCitusCluster
