#!/usr/bin/env bash
# python/bench/bench-web.sh: the live-editing load bench, behind "make
# bench-web" (test/run.sh bench-web builds and installs lockable first).
#
#   bench-web.sh [--clients N] [--documents N] [--seconds S] [--ttl S]
#                [--viewers F] [--servers N] [--target-p99 MS]
#
# A throwaway cluster with track_commit_timestamp on; the example site's
# database with N extra users (user0 ...) and the documents; an AFTER
# trigger on lockable.locks (the kind a DBA may add, see the README's
# Maintenance) records every grant in bench.grants, so that the commit time
# of each grant can be read with pg_xact_commit_timestamp; one Daphne
# process (--servers N: N of them, the clients spread over them); then
# python/bench/bench_web.py drives the clients and prints a Markdown table.
# Defaults: 200 clients on 20 documents for 60 s, half of them viewers
# (--viewers 0.5: presence, issue 22), leases of 6 s, one Daphne.  Exits
# non-zero if a target (p99 <= --target-p99 ms, default 100; no double
# editor) is not met.
source "$(dirname "$0")/../../test/lib.sh"
EnsurePackages python3 python3-django python3-djangorestframework python3-django-channels daphne \
    python3-psycopg python3-psycopg2 python3-websockets
PG_BINDIR=${PG_BINDIR:-$("$PG_CONFIG" --bindir)}
export PG_BINDIR

clients=200
documents=20
seconds=60
ttl=6
viewers=0.5
servers=1
target=100
while [ $# -gt 0 ]; do
    case $1 in
    --viewers) viewers=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --target-p99) target=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --documents) documents=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --ttl) ttl=$2; shift 2 ;;
    *) echo "usage: $0 [--clients N] [--documents N] [--seconds S] [--ttl S] [--viewers F] [--servers N] [--target-p99 MS]" >&2
       exit 2 ;;
    esac
done

ulimit -n 16384 2>/dev/null || true
StartCluster "track_commit_timestamp = on" "max_connections = 300"
trap 'StopDaphnes; StopCluster' EXIT
db=lockable_bench_web
role=lockable_bench_web
ExampleDatabase "$db" "$role" --documents "$documents" --extra-users "$clients" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
CREATE SCHEMA bench;
CREATE TABLE bench.grants (
    uid text NOT NULL,
    owner text NOT NULL,
    token bigint NOT NULL,
    previous_owner text,
    previous_expires timestamptz,
    at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
-- Runs inside lockable's functions, with search_path pg_catalog, pg_temp.
CREATE FUNCTION bench.record_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.token IS DISTINCT FROM OLD.token) THEN
        INSERT INTO bench.grants (uid, owner, token, previous_owner, previous_expires)
        VALUES (NEW.uid, NEW.owner, NEW.token,
                CASE WHEN TG_OP = 'UPDATE' THEN OLD.owner END,
                CASE WHEN TG_OP = 'UPDATE' THEN OLD.expires_at END);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER record_grant AFTER INSERT OR UPDATE OF owner, token ON lockable.locks
    FOR EACH ROW EXECUTE FUNCTION bench.record_grant();
SQL
first=$(psql -X -At -d "$db" -c "SELECT min(id) FROM documents_document")

ports=()
logs=()
for _ in $(seq "$servers"); do
    port=$(FreePort)
    log=$(mktemp /tmp/lockable-bench-web-daphne.XXXXXX.log)
    StartDaphne "$port" "$log" "$db" "$role" EXAMPLE_LOCK_TTL="$ttl"
    ports+=("$port")
    logs+=("$log")
done
postmaster=$(head -1 "$CLUSTER_DIR/data/postmaster.pid")

Say "live editing under load: $clients websocket clients on $documents documents ($viewers viewers), $servers Daphne, $seconds s"
set +e
PGDATABASE=$db PGUSER=$role PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$LOCKABLE_TOP/python/bench/bench_web.py" \
    --ports "$(IFS=,; echo "${ports[*]}")" --clients "$clients" --documents "$documents" --first-document "$first" \
    --seconds "$seconds" --ttl "$ttl" --viewers "$viewers" --target-p99 "$target" \
    --daphne-pids "$(IFS=,; echo "${DAPHNE_PIDS[*]}")" --postmaster-pid "$postmaster" \
    --superuser-dsn "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER"
rc=$?
set -e
for log in "${logs[@]}"; do
    errors=$(grep -c -E "Traceback|ERROR" "$log" || true)
    echo "Daphne log: $errors tracebacks or errors ($log)"
    [ "$errors" -eq 0 ] && rm -f "$log"
done
exit $rc
