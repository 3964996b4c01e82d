#!/usr/bin/env bash
# test/bench/run.sh: the benchmark harness behind "make bench" (issue 5).
#
#   test/bench/run.sh [--smoke] [--duration SECS] [--runs N]
#                     [--scale-cycles N] [--scale-uids N] [--live-locks N]
#                     [--only SCENARIO,...] [--systems SYSTEM,...]
#                     [--sync off|on] [--no-scale]
#
# (--only, --systems, --sync and --no-scale are for development: e.g.
# "--only fresh --systems acquire,upsert-acquire --sync on --no-scale"
# measures just those.)
#
# Starts a throwaway cluster (fsync on, so that synchronous_commit = on
# means a real flush) and a Redis server on 127.0.0.1 at a port it picks,
# then measures, with pgbench (4 clients, prepared statements) and
# redis-benchmark (4 clients):
#
#   - lockable's C functions, the PL/pgSQL implementation of the same
#     contract in plpgsql_baseline.sql, the raw single-statement upsert,
#     PostgreSQL's advisory locks and Redis SET NX PX, on: fresh grants
#     over many uids, renewals, contended tries over 4 hot uids,
#     acquire + release cycles and lock_owner look-ups;
#   - UPDATE of a table with lockable.version_check, with
#     lockable.enforce_lock, and with no trigger;
#   - the cost of notifications (lockable.notify on vs off);
#   - a scale check: table growth and HOT updates over many cycles, and
#     acquire latency with many live locks against few.
#
# Every figure is the median of --runs runs per system, run alternately
# (A B C, B C A, C A B, ...) so that drift of the machine cancels out;
# everything is measured with synchronous_commit off (CPU cost) and on
# (durable cost).
# Prints Markdown tables and the issue's targets with MET / NOT MET.
#
# --smoke (used by test/suites/90-bench-smoke.sh) runs every scenario for
# about a second, once, at small scale, and checks no targets: it exists so
# that the harness cannot rot.  Any scenario that errors fails the run.
#
# Environment: LOCKABLE_BENCH_DURATION, LOCKABLE_BENCH_RUNS,
# LOCKABLE_BENCH_SCALE_CYCLES set the same values as the options (so that
# "LOCKABLE_BENCH_DURATION=2 make bench" is a quick run).
source "$(dirname "$0")/../lib.sh"
BENCH_DIR="$LOCKABLE_TOP/test/bench"

smoke=false
duration=${LOCKABLE_BENCH_DURATION:-4}
runs=${LOCKABLE_BENCH_RUNS:-3}
scale_cycles=${LOCKABLE_BENCH_SCALE_CYCLES:-1000000}
scale_uids=10000
live_locks=1000000
only=
systems=
sync_modes="off on"
scale=true
while [ $# -gt 0 ]; do
    case "$1" in
    --smoke)
        smoke=true
        # Figures are not the point of a smoke run: spare the disk.
        LOCKABLE_FSYNC=${LOCKABLE_FSYNC:-off}
        duration=1
        runs=1
        scale_cycles=20000
        scale_uids=1000
        live_locks=10000
        ;;
    --duration) duration=$2; shift ;;
    --runs) runs=$2; shift ;;
    --scale-cycles) scale_cycles=$2; shift ;;
    --scale-uids) scale_uids=$2; shift ;;
    --live-locks) live_locks=$2; shift ;;
    --only) only=",$2,"; shift ;;
    --systems) systems=",$2,"; shift ;;
    --sync) sync_modes=$2; shift ;;
    --no-scale) scale=false ;;
    *)
        echo "usage: $0 [--smoke] [--duration SECS] [--runs N] [--scale-cycles N] [--scale-uids N] [--live-locks N] [--only SCENARIO,...] [--systems SYSTEM,...] [--sync off|on] [--no-scale]" >&2
        exit 2
        ;;
    esac
    shift
done

CLIENTS=4
THREADS=2
if $smoke; then
    FRESH_UIDS=2000
else
    FRESH_UIDS=100000
fi
FEW_LIVE_LOCKS=1000
DOCS=10000

EnsureServer
if [ "$LOCKABLE_DEFAULT_SERVER" = 1 ]; then
    EnsurePackages "postgresql-client-$PG_MAJOR"
fi
EnsurePackages redis-server redis-tools

WORK=$(mktemp -d /tmp/lockable-bench.XXXXXX)
chmod 755 "$WORK"
REDIS_PORT=
REDIS_DIR="$WORK/redis"
ADVISORY_HOLDER_PID=
PRE_HOST= PRE_PORT= PRE_DIR=

Cleanup() {
    if [ -n "$ADVISORY_HOLDER_PID" ]; then
        exec 7>&- 2>/dev/null || true
        kill "$ADVISORY_HOLDER_PID" 2>/dev/null || true
        wait "$ADVISORY_HOLDER_PID" 2>/dev/null || true
    fi
    StopRedis
    StopPreloadedCluster
    StopCluster
    rm -rf "$WORK"
}

#---- Redis ----

# StartRedis: a Redis server on 127.0.0.1 only, at a free port we pick, with
# no persistence (SetRedisDurable switches it to fsync-every-write).
StartRedis() {
    local try port
    mkdir -p "$REDIS_DIR"
    for try in 1 2 3 4 5 6 7 8 9 10; do
        port=$((30000 + RANDOM % 20000))
        # A port someone answers on is taken.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            continue
        fi
        if redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
            --save '' --appendonly no --dir "$REDIS_DIR" \
            --daemonize yes --pidfile "$REDIS_DIR/redis.pid" \
            --logfile "$REDIS_DIR/redis.log" >/dev/null; then
            local i
            for i in $(seq 50); do
                if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
                    REDIS_PORT=$port
                    return 0
                fi
                sleep 0.1
            done
        fi
    done
    echo "could not start redis-server" >&2
    cat "$REDIS_DIR/redis.log" >&2 || true
    return 1
}

StopRedis() {
    [ -n "$REDIS_PORT" ] || return 0
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    if [ -f "$REDIS_DIR/redis.pid" ]; then
        kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
    fi
    REDIS_PORT=
}

Rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# SetRedisDurable on|off: append-only file fsynced on every write, or none.
SetRedisDurable() {
    if [ "$1" = on ]; then
        Rcli config set appendfsync always >/dev/null
        Rcli config set appendonly yes >/dev/null
        # Wait for the initial rewrite of the append-only file to finish.
        while Rcli info persistence | grep -q 'aof_rewrite_in_progress:1'; do
            sleep 0.1
        done
    else
        Rcli config set appendonly no >/dev/null
    fi
}

#---- PostgreSQL ----

Psql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# Setup: the bench database, with lockable, the PL/pgSQL baseline, the peers'
# tables and the tables for the UPDATE scenarios.
Setup() {
    Psql -d postgres -c "CREATE DATABASE bench"
    Psql -d bench -c "CREATE EXTENSION lockable"
    Psql -d bench -f "$BENCH_DIR/plpgsql_baseline.sql"
    Psql -d bench -v fresh="$FRESH_UIDS" -v docs="$DOCS" -f "$BENCH_DIR/setup.sql"
    # The waiting line's scenarios, and the same lock table under the catalog
    # of 1.1, which has no line: the library serves it without touching any
    # of the line's code, so the two measure what the unused line costs.
    HAVE_LINE=false
    if [ "$(Psql -d bench -Atc "SELECT pg_catalog.to_regclass('lockable.places') IS NOT NULL")" = t ]; then
        HAVE_LINE=true
        Psql -d bench -v clients="$CLIENTS" -f "$BENCH_DIR/setup_line.sql" >/dev/null
        # Two databases of their own, seeded alike and untouched by the
        # other scenarios, so that their tables start in the same state.
        local db version
        for db in bench11 bench12; do
            version="VERSION '1.1'"
            [ "$db" = bench12 ] && version=
            Psql -d postgres -c "CREATE DATABASE $db"
            Psql -d "$db" -c "CREATE EXTENSION lockable $version"
            Psql -d "$db" -f "$BENCH_DIR/plpgsql_baseline.sql"
            Psql -d "$db" -v fresh="$FRESH_UIDS" -v docs="$DOCS" -f "$BENCH_DIR/setup.sql"
            Psql -d "$db" -c "VACUUM ANALYZE"
        done
    fi
    if [ "$(Psql -d bench -Atc "SELECT pg_catalog.to_regproc('lockable.enable_versioning') IS NOT NULL
                                  AND pg_catalog.to_regproc('lockable.enable_lock_enforcement') IS NOT NULL")" = t ]; then
        HAVE_TRIGGERS=true
        Psql -d bench -v docs="$DOCS" -f "$BENCH_DIR/setup_triggers.sql"
    else
        HAVE_TRIGGERS=false
    fi
    HAVE_TRANSFER=false
    if [ "$(Psql -d bench -Atc "SELECT pg_catalog.to_regproc('lockable.lock_take_over') IS NOT NULL")" = t ]; then
        HAVE_TRANSFER=true
    fi
    Psql -d bench -c "VACUUM ANALYZE"
}

# StartPreloadedCluster: a second cluster, configured like the first but
# with shared_preload_libraries = 'lockable', and in each a database
# "benchpre" set up alike, for the waiting line with preloading on and off.
StartPreloadedCluster() {
    local host=$PGHOST port=$PGPORT dir=$CLUSTER_DIR
    LOCKABLE_FSYNC=${LOCKABLE_FSYNC:-on} StartCluster "${MAIN_CONF[@]}" \
        "shared_preload_libraries = 'lockable'" || return 1
    PRE_HOST=$PGHOST PRE_PORT=$PGPORT PRE_DIR=$CLUSTER_DIR
    export PGHOST=$host PGPORT=$port
    CLUSTER_DIR=$dir
    trap Cleanup EXIT # StartCluster set its own
    local h p
    for h in "$PGHOST:$PGPORT" "$PRE_HOST:$PRE_PORT"; do
        p=${h##*:}
        h=${h%:*}
        PGHOST=$h PGPORT=$p Psql -d postgres -c "CREATE DATABASE benchpre"
        PGHOST=$h PGPORT=$p Psql -d benchpre -c "CREATE EXTENSION lockable"
        PGHOST=$h PGPORT=$p Psql -d benchpre -f "$BENCH_DIR/plpgsql_baseline.sql"
        PGHOST=$h PGPORT=$p Psql -d benchpre -v fresh="$FRESH_UIDS" -v docs="$DOCS" -f "$BENCH_DIR/setup.sql"
        PGHOST=$h PGPORT=$p Psql -d benchpre -v clients="$CLIENTS" -f "$BENCH_DIR/setup_line.sql" >/dev/null
        PGHOST=$h PGPORT=$p Psql -d benchpre -c "VACUUM ANALYZE"
    done
    [ "$(PGHOST=$PRE_HOST PGPORT=$PRE_PORT Psql -d postgres -Atc "SELECT pg_catalog.count(*) FROM pg_catalog.pg_shmem_allocations WHERE name = 'lockable wait slots'")" = 1 ] || {
        echo "the preloaded cluster has no wait slots in shared memory" >&2
        return 1
    }
}

StopPreloadedCluster() {
    [ -n "$PRE_DIR" ] || return 0
    AsServerUser "$PG_BINDIR/pg_ctl" -D "$PRE_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PRE_DIR"
    PRE_DIR= PRE_HOST= PRE_PORT=
}

#---- Measurements ----

declare -A RESULT       # "sync|scenario|system" -> median TPS
declare -A SAMPLES      # same key -> space-separated TPS of every run

# RunPgbench SYNC SCRIPT [NOTIFY [DB]]: one pgbench run; prints its TPS.
RunPgbench() {
    local sync=$1 script=$2 notify=${3:-off} db=${4:-bench} options out
    # lockable.history (1.4) is off but where a scenario asks for it: the
    # lock scenarios measure the locks, the "history" ones its cost.
    options="-c synchronous_commit=$sync -c lockable.notify=$notify -c lockable.history=${BENCH_HISTORY:-off}"
    # The acting owner of the UPDATE scenarios holds every document's lock
    # (but the unlocked documents are written with no owner set).
    [[ $script == update-* && $script != update-enforced-free ]] && options+=" -c lockable.owner=app"
    out=$(PGOPTIONS="$options" \
        pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$duration" \
        -f "$BENCH_DIR/scripts/$script.sql" -D fresh="$FRESH_UIDS" \
        -D docs="$DOCS" "$db" 2>&1) || {
        echo "pgbench failed for $script (synchronous_commit=$sync):" >&2
        echo "$out" >&2
        return 1
    }
    if echo "$out" | grep -q 'number of failed transactions: [1-9]'; then
        echo "pgbench reported failed transactions for $script:" >&2
        echo "$out" >&2
        return 1
    fi
    echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p'
}

# RunRedis COMMAND...: one redis-benchmark run of about $duration seconds;
# prints requests per second.  The first call per command calibrates -n.
declare -A REDIS_N
RunRedis() {
    local key="$*" n rps
    n=${REDIS_N[$key]:-}
    if [ -z "$n" ]; then
        rps=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" \
            -n 20000 -r "$REDIS_KEYSPACE" --csv "$@" | RedisRps)
        n=$(awk -v r="$rps" -v d="$duration" 'BEGIN { n = int(r * d); print (n < 20000 ? 20000 : n) }')
        REDIS_N[$key]=$n
    fi
    redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" \
        -n "$n" -r "$REDIS_KEYSPACE" --csv "$@" | RedisRps
}

RedisRps() {
    awk -F'","' 'NR == 2 { print $2 + 0 }'
}

REDIS_RELEASE_SCRIPT="if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
REDIS_RENEW_SCRIPT="if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"

# Measure SYNC SYSTEM: one run of one system of the current scenario.
Measure() {
    local sync=$1 system=$2
    case "$system" in
    redis-acquire)
        REDIS_KEYSPACE=$FRESH_UIDS RunRedis SET 'f:__rand_int__' c1 NX PX 1 ;;
    redis-renew)
        REDIS_KEYSPACE=100 RunRedis EVAL "$REDIS_RENEW_SCRIPT" 1 'r:__rand_int__' c1 3600000 ;;
    redis-contended)
        REDIS_KEYSPACE=4 RunRedis SET 'h:__rand_int__' c1 NX PX 60000 ;;
    redis-release)
        REDIS_KEYSPACE=$FRESH_UIDS RunRedis EVAL "$REDIS_RELEASE_SCRIPT" 1 'y:__rand_int__' c1 ;;
    redis-owner)
        REDIS_KEYSPACE=$DOCS RunRedis GET 'o:__rand_int__' ;;
    *:notify)
        RunPgbench "$sync" "${system%:notify}" on ;;
    *:history)
        BENCH_HISTORY=on RunPgbench "$sync" "${system%:history}" ;;
    *@1.1)
        RunPgbench "$sync" "${system%@1.1}" off bench11 ;;
    *@1.2)
        RunPgbench "$sync" "${system%@1.2}" off bench12 ;;
    *@np)
        RunPgbench "$sync" "${system%@np}" off benchpre ;;
    *@pre)
        PGHOST=$PRE_HOST PGPORT=$PRE_PORT RunPgbench "$sync" "${system%@pre}" off benchpre ;;
    *)
        RunPgbench "$sync" "$system" ;;
    esac
}

# Compare SYNC SCENARIO SYSTEM...: run the systems alternately, $runs rounds
# in rotating order, and record the median TPS of each.
Compare() {
    local sync=$1 scenario=$2 run system tps
    shift 2
    [ -z "$only" ] || [[ $only == *",${scenario%-redis},"* ]] || return 0
    if [ -n "$systems" ]; then
        local wanted=()
        for system in "$@"; do
            [[ $systems != *",$system,"* ]] || wanted+=("$system")
        done
        [ ${#wanted[@]} -gt 0 ] || return 0
        set -- "${wanted[@]}"
    fi
    local all=("$@") count=$# i
    Equalize
    for ((run = 1; run <= runs; run++)); do
        # Rotate the order each round (A B C, B C A, C A B), so that no
        # system always runs first, just after another scenario's writes.
        for ((i = 0; i < count; i++)); do
            system=${all[(i + run - 1) % count]}
            tps=$(Measure "$sync" "$system")
            [ -n "$tps" ] || { echo "no figure for $scenario/$system" >&2; return 1; }
            SAMPLES["$sync|$scenario|$system"]+="$tps "
        done
    done
    for system in "$@"; do
        RESULT["$sync|$scenario|$system"]=$(Median ${SAMPLES["$sync|$scenario|$system"]})
    done
    for system in "$@"; do
        printf '%-3s %-12s %-22s median %10.1f  runs: %s\n' "$sync" "$scenario" "$system" \
            "${RESULT["$sync|$scenario|$system"]}" "${SAMPLES["$sync|$scenario|$system"]}" >&2
    done
}

# Equalize: before each scenario, vacuum every bench database and
# checkpoint, so that no system starts with the dead rows or the dirty pages
# of the scenario before (the durable grant measured 0.86x the raw upsert in
# 1.1's full run and 0.98x alone, from table state the systems did not
# share).
Equalize() {
    local db
    for db in $(Psql -d postgres -Atc "SELECT datname FROM pg_catalog.pg_database
                                        WHERE datname LIKE 'bench%'"); do
        Psql -d "$db" -c "VACUUM"
    done
    Psql -d postgres -c "CHECKPOINT"
    if [ -n "$PRE_PORT" ]; then
        PGHOST=$PRE_HOST PGPORT=$PRE_PORT Psql -d benchpre -c "VACUUM"
        PGHOST=$PRE_HOST PGPORT=$PRE_PORT Psql -d postgres -c "CHECKPOINT"
    fi
}

Median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The Redis acquire + release cycle is derived from its two halves, each
# one round trip: 1 / (1 / SET + 1 / release script).
DeriveRedisCycle() {
    local sync=$1 a r
    a=${RESULT["$sync|cycle-redis|redis-acquire"]}
    r=${RESULT["$sync|cycle-redis|redis-release"]}
    RESULT["$sync|cycle|redis"]=$(awk -v a="$a" -v r="$r" 'BEGIN { printf "%.1f", 1 / (1 / a + 1 / r) }')
}

MeasureAll() {
    local sync
    for sync in $sync_modes; do
        Say "synchronous_commit = $sync"
        SetRedisDurable "$sync"
        Compare "$sync" fresh acquire plpgsql-acquire upsert-acquire advisory-acquire redis-acquire
        Compare "$sync" renew renew plpgsql-renew upsert-renew redis-renew
        Compare "$sync" contended contended plpgsql-contended upsert-contended advisory-contended redis-contended
        Compare "$sync" cycle cycle plpgsql-cycle upsert-cycle advisory-cycle
        Compare "$sync" cycle-redis redis-acquire redis-release
        [ -z "${RESULT["$sync|cycle-redis|redis-release"]:-}" ] || DeriveRedisCycle "$sync"
        Compare "$sync" owner owner plpgsql-owner upsert-owner redis-owner
        Compare "$sync" notify acquire acquire:notify cycle cycle:notify plpgsql-cycle plpgsql-cycle:notify
        if $HAVE_TRIGGERS; then
            Compare "$sync" update update-plain update-floor update-versioned update-enforced update-enforced-free
        fi
        if $HAVE_TRANSFER; then
            Compare "$sync" history acquire:history acquire cycle:history cycle
            Compare "$sync" transfer acquire take-over cycle hand-over
            Compare "$sync" saved update-versioned:notify update-saved:notify
        fi
        if $HAVE_LINE; then
            Compare "$sync" line-unused acquire@1.2 acquire@1.1 cycle@1.2 cycle@1.1
            Compare "$sync" line handoff join cycle
            [ -z "$PRE_PORT" ] || Compare "$sync" line-preload \
                acquire@np acquire@pre cycle@np cycle@pre handoff@np handoff@pre join@np join@pre
        fi
    done
    if $HAVE_LINE && { [ -z "$only" ] || [[ $only == *",release-all,"* ]]; }; then
        ReleaseAllTiming
    fi
    if [ -z "$only" ] || [[ $only == *",wait,"* ]]; then
        WaitBench
    fi
}

# WaitBench: test/bench/wait_bench.pl on two clusters of its own, one that
# preloads lockable (waiters sleep on condition variables) and one that does
# not (waiters poll); track_commit_timestamp gives the release's commit time.
declare -A WAIT
WaitBench() {
    local mode conf waiters=10,100,200 sample=10 wakes=200 out
    if $smoke; then waiters=2,5; sample=1; wakes=10; fi
    for mode in polling preloaded; do
        conf=()
        [ "$mode" = preloaded ] && conf+=("shared_preload_libraries = 'lockable'")
        Say "waiting: $mode"
        out=$(
            StartCluster "${conf[@]}" "track_commit_timestamp = on" \
                "max_connections = 300" "fsync = off" || exit 1
            psql -X -q -d postgres -c "CREATE DATABASE waits" &&
                PGDATABASE=waits psql -X -q -c "CREATE EXTENSION lockable" &&
                PGDATABASE=waits perl "$BENCH_DIR/wait_bench.pl" --waiters "$waiters" \
                    --sample-seconds "$sample" --wakes "$wakes"
        ) || { echo "wait bench failed ($mode)" >&2; return 1; }
        echo "$out" >&2
        while read -r kind a b c; do
            case "$kind" in
            cpu) WAIT["$mode|cpu|$a"]=$b ;;
            wake) WAIT["$mode|p50"]=$a; WAIT["$mode|p99"]=$b; WAIT["$mode|wakes"]=$c ;;
            esac
        done <<<"$out"
    done
    WAIT_WAITERS=$waiters
}

# ReleaseAllTiming: lock_release_all of an owner with 1000 live locks and
# 1000 places (each place in the line of a lock another owner holds), timed
# by the server, median of 3; and, for scale, the same number of plain
# releases of single locks.
RELEASE_ALL_MS=
ReleaseAllTiming() {
    local round ms=()
    for round in 1 2 3; do
        Psql -d bench -c "
            SELECT count(*) FROM pg_catalog.generate_series(1, 1000) AS g,
                   LATERAL lockable.lock_acquire('ra:own:' || g, 'many', '1 hour') AS a;
            SELECT count(*) FROM pg_catalog.generate_series(1, 1000) AS g,
                   LATERAL lockable.lock_acquire('ra:other:' || g, 'other', '1 hour') AS a;
            SELECT count(*) FROM pg_catalog.generate_series(1, 1000) AS g,
                   LATERAL lockable.lock_acquire('ra:other:' || g, 'many', '1 hour', '0', true) AS a;" >/dev/null
        ms+=("$(Psql -d bench -At <<'SQL'
SELECT pg_catalog.clock_timestamp() AS t0 \gset
SELECT lockable.lock_release_all('many') AS n \gset
SELECT pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() - :'t0')::numeric * 1000, 1);
SQL
)")
        Psql -d bench -c "SELECT lockable.lock_release_all('other')" >/dev/null
    done
    RELEASE_ALL_MS=$(Median "${ms[@]}")
    printf 'release_all of 1000 locks + 1000 places: median %s ms (runs: %s)\n' \
        "$RELEASE_ALL_MS" "${ms[*]}" >&2
}

#---- Scale check ----

# Scale: cycles over many uids (table growth, HOT updates), then acquire
# latency with few and with many live locks.
SCALE=()
ScaleCheck() {
    local size_first size_after upd_before hot_before upd hot per_client
    Say "scale check: $scale_cycles acquire/release cycles over $scale_uids uids"
    Psql -d postgres -c "CREATE DATABASE scale"
    Psql -d scale -c "CREATE EXTENSION lockable"
    # The first pass: every uid granted and released once.
    PGOPTIONS="-c lockable.notify=off -c synchronous_commit=off" Psql -d scale -c "
        SELECT pg_catalog.count(*)
          FROM pg_catalog.generate_series(1, $scale_uids) AS g,
               LATERAL lockable.lock_acquire('s:' || g, 'first') AS a,
               LATERAL lockable.lock_release('s:' || g, 'first') AS r" >/dev/null
    size_first=$(RelationSize scale)
    Psql -d scale -c "SELECT pg_catalog.pg_stat_force_next_flush()" >/dev/null
    read -r upd_before hot_before < <(UpdateCounts scale)

    per_client=$(((scale_cycles + CLIENTS - 1) / CLIENTS))
    PGOPTIONS="-c synchronous_commit=off -c lockable.notify=off" \
        pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -t "$per_client" \
        -f "$BENCH_DIR/scripts/scale-cycle.sql" -D uids="$scale_uids" scale \
        >"$WORK/scale.out" 2>&1 || { cat "$WORK/scale.out" >&2; return 1; }
    sleep 1
    size_after=$(RelationSize scale)
    read -r upd hot < <(UpdateCounts scale)
    upd=$((upd - upd_before))
    hot=$((hot - hot_before))
    SCALE_SIZE_FIRST=$size_first
    SCALE_SIZE_AFTER=$size_after
    SCALE_UPDATES=$upd
    SCALE_HOT=$hot
    SCALE_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$WORK/scale.out")

    Say "acquire latency: $FEW_LIVE_LOCKS vs $live_locks live locks"
    LatencyDatabase lat_few "$FEW_LIVE_LOCKS"
    LatencyDatabase lat_many "$live_locks"
    local run db
    for ((run = 1; run <= runs; run++)); do
        for db in lat_few lat_many; do
            LatencyRun "$db" "$run"
        done
    done
    LAT_FEW_P99=$(Percentile 99 "$WORK"/lat/lat_few.*)
    LAT_MANY_P99=$(Percentile 99 "$WORK"/lat/lat_many.*)
    LAT_FEW_AVG=$(Percentile avg "$WORK"/lat/lat_few.*)
    LAT_MANY_AVG=$(Percentile avg "$WORK"/lat/lat_many.*)
}

RelationSize() {
    Psql -d "$1" -Atc "SELECT pg_catalog.pg_table_size('lockable.locks')
                            + pg_catalog.pg_indexes_size('lockable.locks')"
}

UpdateCounts() {
    Psql -d "$1" -AtF' ' -c "SELECT n_tup_upd, n_tup_hot_upd
                              FROM pg_catalog.pg_stat_user_tables
                             WHERE relid = 'lockable.locks'::pg_catalog.regclass"
}

# LatencyDatabase DB LIVE: a database whose lock table holds LIVE live locks
# (rows written directly, as the superuser, in the shape lock_acquire gives
# them) and $scale_uids released uids for the measured grants.
LatencyDatabase() {
    local db=$1 live=$2
    Psql -d postgres -c "CREATE DATABASE $db"
    Psql -d "$db" -c "CREATE EXTENSION lockable"
    Psql -d "$db" -c "
        INSERT INTO lockable.locks (uid, owner, token, acquired_at, expires_at)
        SELECT 'live:' || g, 'holder', pg_catalog.nextval('lockable.token_seq'),
               pg_catalog.now(), pg_catalog.now() + interval '1 day'
          FROM pg_catalog.generate_series(1, $live) AS g;
        INSERT INTO lockable.locks (uid, owner, token, acquired_at, expires_at)
        SELECT 'g:' || g, NULL, pg_catalog.nextval('lockable.token_seq'),
               pg_catalog.now(), pg_catalog.now()
          FROM pg_catalog.generate_series(1, $scale_uids) AS g;"
    Psql -d "$db" -c "VACUUM ANALYZE lockable.locks"
    # Read the whole table and index once, so both start cached.
    Psql -d "$db" -c "SELECT pg_catalog.count(*) FROM lockable.locks WHERE uid > ''" >/dev/null
}

LatencyRun() {
    local db=$1 run=$2 out
    mkdir -p "$WORK/lat"
    out=$(cd "$WORK/lat" && PGOPTIONS="-c synchronous_commit=off -c lockable.notify=off" \
        pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$duration" \
        -l --log-prefix="$db.$run" -f "$BENCH_DIR/scripts/latency-acquire.sql" \
        -D uids="$scale_uids" "$db" 2>&1) || {
        echo "$out" >&2
        return 1
    }
}

# Percentile P|avg FILE...: the P-th percentile (or the mean) of the
# per-transaction latencies in pgbench logs, in milliseconds.
Percentile() {
    local p=$1
    shift
    cat "$@" | awk '{ print $3 }' | sort -n | awk -v p="$p" '
        { v[NR] = $1; sum += $1 }
        END {
            if (NR == 0) { print "nan"; exit }
            if (p == "avg") { printf "%.3f", sum / NR / 1000; exit }
            i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1
            printf "%.3f", v[i] / 1000
        }'
}

#---- Report ----

Ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'
}

Fmt() {
    if [ -z "${1:-}" ]; then echo "n/a"; else awk -v v="$1" 'BEGIN { printf "%.0f", v }'; fi
}

R() { echo "${RESULT["$1"]:-}"; }

Report() {
    local sync
    Say "results"
    echo
    echo "Transactions per second (pgbench: $CLIENTS clients, -M prepared; redis-benchmark: $CLIENTS clients), median of $runs alternating runs of ${duration}s; lockable.notify = off and lockable.history = off unless stated."
    for sync in $sync_modes; do
        echo
        echo "#### synchronous_commit = $sync$([ "$sync" = on ] && echo " (Redis: appendfsync always)" || echo " (Redis: no persistence)")"
        echo
        echo "| scenario | lockable (C) | PL/pgSQL | raw upsert | advisory lock | Redis | C / PL/pgSQL | C / upsert |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        Row "$sync" "fresh grant (acquire)" fresh acquire plpgsql-acquire upsert-acquire advisory-acquire redis-acquire
        Row "$sync" "renewal by the holder" renew renew plpgsql-renew upsert-renew "" redis-renew
        Row "$sync" "contended try, 4 hot uids" contended contended plpgsql-contended upsert-contended advisory-contended redis-contended
        Row "$sync" "acquire + release cycle" cycle cycle plpgsql-cycle upsert-cycle advisory-cycle redis
        Row "$sync" "lock_owner look-up" owner owner plpgsql-owner upsert-owner "" redis-owner
        echo
        echo "| notifications (lockable.notify) | off | on | on / off |"
        echo "|---|---:|---:|---:|"
        NotifyRow "$sync" "lockable fresh grant" acquire
        NotifyRow "$sync" "lockable acquire + release cycle" cycle
        NotifyRow "$sync" "PL/pgSQL acquire + release cycle" plpgsql-cycle
        echo
        echo "| UPDATE of one row by primary key | TPS | / no trigger | / the floor |"
        echo "|---|---:|---:|---:|"
        if $HAVE_TRIGGERS; then
            local base floor; base=$(R "$sync|update|update-plain"); floor=$(R "$sync|update|update-floor")
            echo "| no trigger | $(Fmt "$base") | 1.00 | $(Ratio "$base" "$floor") |"
            echo "| suppress_redundant_updates_trigger (built-in C trigger: the floor) | $(Fmt "$floor") | $(Ratio "$floor" "$base") | 1.00 |"
            UpdateRow "$sync" "lockable.version_check" update-versioned "$base" "$floor"
            UpdateRow "$sync" "lockable.enforce_lock, no owner set, row unlocked" update-enforced-free "$base" "$floor"
            UpdateRow "$sync" "lockable.enforce_lock, the holder writes" update-enforced "$base" "$floor"
        else
            echo "| no trigger / version_check / enforce_lock | n/a (triggers not installed) | n/a | n/a |"
        fi
    done
    if [ -n "${WAIT_WAITERS:-}" ]; then
        echo
        echo "#### Waiting: polling, and preloaded (condition variables)"
        echo
        echo "| measure | not preloaded (polling) | preloaded | preloaded / polling |"
        echo "|---|---:|---:|---:|"
        local n
        for n in ${WAIT_WAITERS//,/ }; do
            echo "| CPU of $n waiters on one held uid (cores) | ${WAIT["polling|cpu|$n"]:-n/a} | ${WAIT["preloaded|cpu|$n"]:-n/a} | $(Ratio "${WAIT["preloaded|cpu|$n"]:-}" "${WAIT["polling|cpu|$n"]:-}") |"
        done
        echo "| wake latency, release commit to the waiter's return: p50 (ms) | ${WAIT["polling|p50"]:-n/a} | ${WAIT["preloaded|p50"]:-n/a} | |"
        echo "| wake latency: p99 (ms), over ${WAIT["preloaded|wakes"]:-?} wakes | ${WAIT["polling|p99"]:-n/a} | ${WAIT["preloaded|p99"]:-n/a} | |"
    fi
    if $HAVE_TRANSFER; then
        echo
        echo "#### Take over, hand over, history, saved announcements (1.4)"
        echo
        echo "| scenario | TPS | against | ratio |"
        echo "|---|---:|---:|---:|"
        local sync
        for sync in $sync_modes; do
            local a an c cn t h u us
            a=$(R "$sync|history|acquire:history"); an=$(R "$sync|history|acquire")
            c=$(R "$sync|history|cycle:history"); cn=$(R "$sync|history|cycle")
            t=$(R "$sync|transfer|take-over"); h=$(R "$sync|transfer|hand-over")
            u=$(R "$sync|saved|update-versioned:notify"); us=$(R "$sync|saved|update-saved:notify")
            echo "| fresh grant, history on / off (sync $sync) | $(Fmt "$a") | $(Fmt "$an") | $(Ratio "$a" "$an") |"
            echo "| acquire + release, history on / off (sync $sync) | $(Fmt "$c") | $(Fmt "$cn") | $(Ratio "$c" "$cn") |"
            echo "| take over of a free uid / fresh grant (sync $sync) | $(Fmt "$t") | $(Fmt "$(R "$sync|transfer|acquire")") | $(Ratio "$t" "$(R "$sync|transfer|acquire")") |"
            echo "| acquire + hand over + release (3 transactions) / acquire + release (2) (sync $sync) | $(Fmt "$h") | $(Fmt "$(R "$sync|transfer|cycle")") | $(Ratio "$h" "$(R "$sync|transfer|cycle")") |"
            echo "| versioned UPDATE with the saved announcement / without, notify on (sync $sync) | $(Fmt "$us") | $(Fmt "$u") | $(Ratio "$us" "$u") |"
        done
    fi
    if $HAVE_LINE; then
        echo
        echo "#### The waiting line"
        echo
        echo "| scenario | TPS | |"
        echo "|---|---:|---:|"
        local sync
        for sync in $sync_modes; do
            local a a11 c c11 h j cy
            a=$(R "$sync|line-unused|acquire@1.2"); a11=$(R "$sync|line-unused|acquire@1.1")
            c=$(R "$sync|line-unused|cycle@1.2"); c11=$(R "$sync|line-unused|cycle@1.1")
            h=$(R "$sync|line|handoff"); j=$(R "$sync|line|join"); cy=$(R "$sync|line|cycle")
            echo "| fresh grant, 1.2 catalog / 1.1 catalog (sync $sync) | $(Fmt "$a") / $(Fmt "$a11") | $(Ratio "$a" "$a11")x |"
            echo "| acquire + release cycle, 1.2 catalog / 1.1 catalog (sync $sync) | $(Fmt "$c") / $(Fmt "$c11") | $(Ratio "$c" "$c11")x |"
            echo "| hand-off chain: release handing on + the releaser's join, per hand-off (sync $sync) | $(Fmt "$h") | $(Ratio "$h" "$cy")x the plain cycle |"
            echo "| joins under contention: join + leave, 4 hot uids (sync $sync) | $(Fmt "$j") | $(Ratio "$j" "$cy")x the plain cycle |"
        done
        echo "| lock_release_all of an owner with 1000 locks and 1000 places (ms, median of 3) | ${RELEASE_ALL_MS:-n/a} | |"
        if [ -n "$(R "off|line-preload|acquire@pre")" ] || [ -n "$(R "on|line-preload|acquire@pre")" ]; then
            echo
            echo "| the line, preloaded / not preloaded (two clusters alike, one database each set up alike) | not preloaded | preloaded | |"
            echo "|---|---:|---:|---:|"
            for sync in $sync_modes; do
                local s
                for s in acquire cycle handoff join; do
                    a=$(R "$sync|line-preload|$s@np"); c=$(R "$sync|line-preload|$s@pre")
                    echo "| $s (sync $sync) | $(Fmt "$a") | $(Fmt "$c") | $(Ratio "$c" "$a")x |"
                done
            done
        fi
    fi
    echo
    echo "Redis acquire + release is derived from its two round trips: 1 / (1 / SET NX PX + 1 / compare-and-delete script)."
    echo "Advisory grant and contended rows use pg_try_advisory_xact_lock (released at commit); its cycle row is pg_try_advisory_lock + pg_advisory_unlock."

    echo
    echo "#### Targets"
    echo
    echo "| target | ratio | |"
    echo "|---|---:|---|"
    Target "acquire >= 1.5x PL/pgSQL (sync off)" "$(Ratio "$(R "off|fresh|acquire")" "$(R "off|fresh|plpgsql-acquire")")" 1.5
    Target "acquire >= 0.9x raw upsert (sync off)" "$(Ratio "$(R "off|fresh|acquire")" "$(R "off|fresh|upsert-acquire")")" 0.9
    Target "acquire + release >= 1.5x PL/pgSQL (sync off)" "$(Ratio "$(R "off|cycle|cycle")" "$(R "off|cycle|plpgsql-cycle")")" 1.5
    if $HAVE_TRIGGERS; then
        local floor; floor=$(R "off|update|update-floor")
        Target "versioned UPDATE >= 0.98x the floor trigger (sync off)" "$(Ratio "$(R "off|update|update-versioned")" "$floor")" 0.98
        Target "enforced UPDATE, no owner, row unlocked >= 0.97x the floor trigger (sync off)" "$(Ratio "$(R "off|update|update-enforced-free")" "$floor")" 0.97
        Target "enforced UPDATE by the holder >= 0.93x the floor trigger (sync off)" "$(Ratio "$(R "off|update|update-enforced")" "$floor")" 0.93
    else
        echo "| UPDATE targets | n/a (triggers not installed) | |"
    fi
    Target "acquire >= 0.95x raw upsert (sync on)" "$(Ratio "$(R "on|fresh|acquire")" "$(R "on|fresh|upsert-acquire")")" 0.95
    if [ -n "${WAIT_WAITERS:-}" ] && [[ ",$WAIT_WAITERS," == *",100,"* ]]; then
        TargetBelow "preloaded: 100 waiters <= 0.02 cores" "${WAIT["preloaded|cpu|100"]:-n/a}" 0.02
        TargetBelow "preloaded: wake p50 <= 1 ms" "${WAIT["preloaded|p50"]:-n/a}" 1
        TargetBelow "preloaded: wake p99 <= 5 ms" "${WAIT["preloaded|p99"]:-n/a}" 5
    fi
    if $HAVE_LINE; then
        Target "unused line: grant >= 0.97x the 1.1 catalog (sync off)" "$(Ratio "$(R "off|line-unused|acquire@1.2")" "$(R "off|line-unused|acquire@1.1")")" 0.97
        Target "unused line: cycle >= 0.97x the 1.1 catalog (sync off)" "$(Ratio "$(R "off|line-unused|cycle@1.2")" "$(R "off|line-unused|cycle@1.1")")" 0.97
        if [ -n "$(R "off|line-preload|acquire@pre")" ]; then
            local s
            for s in acquire cycle handoff join; do
                Target "preloaded: line $s >= 0.97x not preloaded (sync off)" "$(Ratio "$(R "off|line-preload|$s@pre")" "$(R "off|line-preload|$s@np")")" 0.97
            done
        fi
    fi
    if $scale; then ScaleReport; fi
}

ScaleReport() {
    echo
    echo "#### Scale"
    echo
    echo "| check | figure | target | |"
    echo "|---|---:|---:|---|"
    echo "| $scale_cycles acquire/release cycles over $scale_uids uids | $(Fmt "$SCALE_TPS") cycles/s | | |"
    echo "| lockable.locks table + index after first pass | $((SCALE_SIZE_FIRST / 1024)) kB | | |"
    echo "| ... after all cycles | $((SCALE_SIZE_AFTER / 1024)) kB ($(Ratio "$SCALE_SIZE_AFTER" "$SCALE_SIZE_FIRST")x) | <= 2x | $(Verdict "$(Ratio "$SCALE_SIZE_AFTER" "$SCALE_SIZE_FIRST")" le 2) |"
    echo "| HOT updates | $SCALE_HOT of $SCALE_UPDATES ($(awk -v h="$SCALE_HOT" -v u="$SCALE_UPDATES" 'BEGIN { printf "%.1f", u ? 100 * h / u : 0 }')%) | >= 90% | $(Verdict "$(Ratio "$SCALE_HOT" "$SCALE_UPDATES")" ge 0.90) |"
    echo "| acquire latency, $FEW_LIVE_LOCKS live locks: avg / p99 | $LAT_FEW_AVG / $LAT_FEW_P99 ms | | |"
    echo "| acquire latency, $live_locks live locks: avg / p99 | $LAT_MANY_AVG / $LAT_MANY_P99 ms ($(Ratio "$LAT_MANY_P99" "$LAT_FEW_P99")x) | <= 1.5x | $(Verdict "$(Ratio "$LAT_MANY_P99" "$LAT_FEW_P99")" le 1.5) |"

}

Row() {
    local sync=$1 label=$2 scenario=$3 c=$4 p=$5 u=$6 a=$7 r=$8
    local vc vp vu va vr
    vc=$(R "$sync|$scenario|$c")
    vp=$(R "$sync|$scenario|$p")
    vu=$(R "$sync|$scenario|$u")
    va=$([ -n "$a" ] && R "$sync|$scenario|$a" || true)
    if [ "$r" = redis ]; then vr=$(R "$sync|$scenario|redis"); else vr=$(R "$sync|$scenario|$r"); fi
    echo "| $label | $(Fmt "$vc") | $(Fmt "$vp") | $(Fmt "$vu") | $(Fmt "$va") | $(Fmt "$vr") | $(Ratio "$vc" "$vp") | $(Ratio "$vc" "$vu") |"
}

UpdateRow() {
    local v; v=$(R "$1|update|$3")
    echo "| $2 | $(Fmt "$v") | $(Ratio "$v" "$4") | $(Ratio "$v" "$5") |"
}

NotifyRow() {
    local off on
    off=$(R "$1|notify|$3")
    on=$(R "$1|notify|$3:notify")
    echo "| $2 | $(Fmt "$off") | $(Fmt "$on") | $(Ratio "$on" "$off") |"
}

Verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (v == "n/a") { print "n/a"; exit }
        ok = (op == "le") ? (v <= t) : (v >= t)
        print ok ? "MET" : "NOT MET" }'
}

TARGETS_MET=0
TARGETS_TOTAL=0
# Target LABEL VALUE LIMIT [ge|le]: a row of the targets table, counted;
# met when VALUE >= LIMIT (ge, the default) or VALUE <= LIMIT (le).
Target() {
    local verdict
    verdict=$(Verdict "$2" "${4:-ge}" "$3")
    TARGETS_TOTAL=$((TARGETS_TOTAL + 1))
    [ "$verdict" = MET ] && TARGETS_MET=$((TARGETS_MET + 1))
    echo "| $1 | $2 | $verdict |"
}

TargetBelow() { Target "$1" "$2" "$3" le; }

#---- Main ----

# Everything runs from this function, called on the last line, so that bash
# has read the whole script before it starts (editing the file during a run
# cannot derail it).
Main() {
    trap Cleanup EXIT
    MAIN_CONF=("shared_buffers = 512MB" "max_wal_size = 8GB"
               "checkpoint_timeout = 30min" "lockable.notify = off")
    LOCKABLE_FSYNC=${LOCKABLE_FSYNC:-on} StartCluster "${MAIN_CONF[@]}"
    trap Cleanup EXIT # StartCluster set its own

    StartRedis

    Say "setting up (duration ${duration}s, $runs runs, $CLIENTS clients)"
    Setup
    $HAVE_TRIGGERS || echo "triggers not installed: UPDATE scenarios reported as n/a"
    if $HAVE_LINE && { [ -z "$only" ] || [[ $only == *",line-preload,"* ]]; }; then
        StartPreloadedCluster
    fi
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" eval \
        "for i = 0, 3 do redis.call('set', string.format('h:%012d', i), 'holder', 'PX', 3600000) end
         for i = 0, 99 do redis.call('set', string.format('r:%012d', i), 'c1', 'PX', 3600000) end
         for i = 0, tonumber(ARGV[1]) - 1, 2 do redis.call('set', string.format('o:%012d', i), 'holder', 'PX', 3600000) end
         return 1" 0 "$DOCS" >/dev/null

    # A session that holds the 4 hot advisory locks for the contended
    # scenario.  It waits idle, reading its next command from a pipe, not in
    # a statement: a statement running all along would hold back the xmin
    # horizon, so no dead row version could be pruned in any table for the
    # whole run, and the scenarios that update a few rows over and over would
    # slow down as their version chains grew.
    mkfifo "$WORK/advisory.fifo"
    psql -X -q -d bench <"$WORK/advisory.fifo" >/dev/null 2>&1 &
    ADVISORY_HOLDER_PID=$!
    exec 7>"$WORK/advisory.fifo"
    echo "SELECT pg_catalog.pg_advisory_lock(k) FROM pg_catalog.generate_series(1001, 1004) AS k;" >&7

    START=$(date +%s)
    MeasureAll
    if $scale; then ScaleCheck; fi
    Report
    echo
    echo "Measured in $(( $(date +%s) - START ))s on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(psql -X -Atc 'SHOW server_version' -d postgres | sed 's/ .*//')."
    if ! $smoke && $scale; then
        echo "$TARGETS_MET of $TARGETS_TOTAL throughput targets met."
    fi
}

Main
exit
