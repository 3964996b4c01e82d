#!/bin/bash
# test/citus/smoke.sh: check the Citus test infrastructure itself: find or
# build Citus (ensure-citus.sh), start a coordinator and 2 workers
# (cluster.sh), check that every node runs citus and lockable and that the
# cluster routes a distributed table to both workers, restart one worker,
# crash another with SIGKILL and bring it back, and remove the cluster.
#
# Usage (lockable already installed into $PG_CONFIG's PostgreSQL):
#   PG_CONFIG=... [CITUS_SRC=... CITUS_PATCH=...] test/citus/smoke.sh
# Exits 0 when all is well or after "skipped: Citus not available".

set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib.sh"
. "$here/ensure-citus.sh"
. "$here/cluster.sh"

EnsureCitus
[ "$CITUS_AVAILABLE" = 1 ] || exit 0

Fail() {
    echo "FAIL: $*" >&2
    exit 1
}

Say "starting a Citus cluster"
StartCitusCluster
echo "coordinator on port $(CitusPort 0), workers on $(CitusPort 1) and $(CitusPort 2), in $CITUS_DIR"

for node in 0 1 2; do
    got=$(CitusPsql "$node" -Atc "SELECT string_agg(extname, ',' ORDER BY extname)
        FROM pg_extension WHERE extname IN ('citus', 'lockable')")
    [ "$got" = citus,lockable ] || Fail "node $node has extensions '$got'"
done
got=$(CitusPsql 0 -Atc "SELECT count(*) FROM pg_dist_node
    WHERE isactive AND hasmetadata AND metadatasynced")
[ "$got" = 3 ] || Fail "$got active nodes with synced metadata, expected 3"

CitusPsql 0 -c "CREATE TABLE smoke (k int PRIMARY KEY, v text)" \
    -c "SELECT create_distributed_table('smoke', 'k')" >/dev/null
CitusPsql 0 -c "INSERT INTO smoke SELECT g, 'v' || g FROM generate_series(1, 100) g"
got=$(CitusPsql 0 -Atc "SELECT count(DISTINCT nodeport) FROM citus_shards
    WHERE table_name = 'smoke'::regclass")
[ "$got" = 2 ] || Fail "shards of smoke on $got workers, expected 2"

Say "restarting worker 1, crashing worker 2"
RestartCitusNode 1
CrashCitusNode 2
grep -q "not properly shut down" "$(CitusData 2).log" ||
    Fail "worker 2 did not go through crash recovery"
got=$(CitusPsql 0 -Atc "SELECT count(*) FROM smoke")
[ "$got" = 100 ] || Fail "smoke has $got rows after the restarts, expected 100"
got=$(CitusPsql 0 -Atc "SELECT count(*) FILTER (WHERE NOT result)
    FROM citus_check_cluster_node_health()")
[ "$got" = 0 ] || Fail "$got node pairs cannot connect"

StopCitusCluster
echo "ok: Citus cluster infrastructure works"
