# test/citus/cluster.sh: a throwaway Citus cluster for the Citus suite: a
# coordinator and workers on localhost, in one temporary directory, run as
# the postgres OS user when we are root (as test/lib.sh's StartCluster).
# Sourced, not run, after test/lib.sh, with Citus and lockable installed
# into $PG_CONFIG's PostgreSQL (see ensure-citus.sh).
#
#   StartCitusCluster [extra postgresql.conf lines...]
#                           initdb and start every node with
#                           shared_preload_libraries = 'citus', create
#                           $CITUS_DB with extensions citus and lockable on
#                           every node, register the coordinator
#                           (citus_set_coordinator_host) and add the workers
#                           (citus_add_node); exports PGHOST, PGPORT (the
#                           coordinator), PGUSER and PGDATABASE
#   StopCitusCluster        stop every node and remove the directory (also
#                           on exit: StartCitusCluster sets "trap
#                           StopCitusCluster EXIT", replacing an earlier trap)
#   CitusPort N             the port of node N: 0 is the coordinator, 1..
#                           the workers
#   CitusPsql N [ARGS...]   psql -X -q -v ON_ERROR_STOP=1 on node N's $CITUS_DB
#   StopCitusNode N         stop node N (fast shutdown)
#   StartCitusNode N        start node N again (after a stop or a kill)
#   RestartCitusNode N      stop and start node N (fast shutdown)
#   KillCitusNode N         SIGKILL node N's postmaster and every one of its
#                           children at once, as a crash of the node's
#                           machine would; the node stays down
#   CrashCitusNode N        KillCitusNode, then StartCitusNode: the node
#                           comes back through crash recovery
#
# Settings, all optional: CITUS_DB (database, default "lockable"),
# CITUS_WORKERS (default 2), CITUS_PORT_BASE (the coordinator's port, the
# workers on the next ones; default a free run in 41000-41999),
# CITUS_PRELOAD (libraries to preload after citus, which must come first),
# LOCKABLE_FSYNC (default off).
#
# The nodes listen on localhost, since Citus nodes reach each other over TCP
# by the names given to citus_add_node, with initdb's trust authentication:
# fine for a throwaway cluster, never for anything else.

CITUS_DB=${CITUS_DB:-lockable}
CITUS_WORKERS=${CITUS_WORKERS:-2}
CITUS_DIR=

CitusBinDir() {
    echo "${PG_BINDIR:-$("$PG_CONFIG" --bindir)}"
}

CitusPort() {
    echo $((CITUS_PORT_BASE + $1))
}

CitusData() {
    echo "$CITUS_DIR/node$1"
}

CitusPsql() {
    local node=$1
    shift
    "$(CitusBinDir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$CITUS_DIR" \
        -p "$(CitusPort "$node")" -U postgres -d "$CITUS_DB" "$@"
}

# CitusPortsFree BASE: are BASE .. BASE+CITUS_WORKERS free on localhost?
CitusPortsFree() {
    local port
    for ((port = $1; port <= $1 + CITUS_WORKERS; port++)); do
        if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 1
        fi
    done
}

PickCitusPorts() {
    local try
    if [ -n "${CITUS_PORT_BASE:-}" ]; then
        return 0
    fi
    for try in $(seq 1 50); do
        CITUS_PORT_BASE=$((41000 + RANDOM % (1000 - CITUS_WORKERS)))
        CitusPortsFree "$CITUS_PORT_BASE" && return 0
    done
    echo "no free ports for a Citus cluster in 41000-41999" >&2
    return 1
}

StartCitusNode() {
    local node=$1 data out
    data=$(CitusData "$node")
    # After a kill, pg_ctl warns that "another server might be running":
    # shown only if the start fails.
    out=$(AsServerUser "$(CitusBinDir)/pg_ctl" -D "$data" -l "$data.log" -w \
        -t 120 start 2>&1) || {
        echo "$out" >&2
        tail -n 30 "$data.log" >&2
        return 1
    }
}

StopCitusNode() {
    AsServerUser "$(CitusBinDir)/pg_ctl" -D "$(CitusData "$1")" -m fast -w \
        -t 120 stop >/dev/null
}

RestartCitusNode() {
    StopCitusNode "$1"
    StartCitusNode "$1"
}

# KillCitusNode N: every process of the node dies at the same instant, so
# no backend outlives its postmaster and the next start recovers from WAL.
KillCitusNode() {
    local data pid pids child
    data=$(CitusData "$1")
    pid=$(head -n 1 "$data/postmaster.pid")
    pids=$pid
    for child in $(pgrep -P "$pid" || true); do
        pids="$pids $child"
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    for pid in $pids; do
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    done
}

CrashCitusNode() {
    KillCitusNode "$1"
    StartCitusNode "$1"
}

InitCitusNode() {
    local node=$1 data line
    data=$(CitusData "$node")
    AsServerUser "$(CitusBinDir)/initdb" -D "$data" -U postgres --auth=trust \
        -E UTF8 --locale=C >"$data.initdb.log" 2>&1 || {
        cat "$data.initdb.log" >&2
        return 1
    }
    {
        echo "listen_addresses = 'localhost'"
        echo "unix_socket_directories = '$CITUS_DIR'"
        echo "port = $(CitusPort "$node")"
        echo "shared_preload_libraries = 'citus${CITUS_PRELOAD:+,$CITUS_PRELOAD}'"
        echo "max_connections = 200"
        # Citus commits multi-node writes with two-phase commit.
        echo "max_prepared_transactions = 200"
        # citus_move_shard_placement copies shards by logical replication.
        echo "wal_level = logical"
        echo "max_replication_slots = 20"
        echo "max_wal_senders = 20"
        echo "fsync = ${LOCKABLE_FSYNC:-off}"
        echo "log_min_messages = warning"
        # No calls home, and no self-signed certificates made and switched
        # on by CREATE EXTENSION citus (citus_setup_ssl): plain localhost.
        echo "citus.enable_statistics_collection = off"
        echo "citus.node_conninfo = 'sslmode=disable'"
        for line in "${@:2}"; do echo "$line"; done
    } | AsServerUser tee -a "$data/postgresql.conf" >/dev/null
}

# StartCitusCluster [extra postgresql.conf lines...]
StartCitusCluster() {
    local node
    PickCitusPorts
    CITUS_DIR=$(mktemp -d /tmp/lockable-citus.XXXXXX)
    chmod 755 "$CITUS_DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$CITUS_DIR"; fi
    trap StopCitusCluster EXIT
    export PGHOST=$CITUS_DIR
    export PGPORT
    PGPORT=$(CitusPort 0)
    export PGUSER=postgres
    export PGDATABASE=$CITUS_DB

    for ((node = 0; node <= CITUS_WORKERS; node++)); do
        InitCitusNode "$node" "$@"
        StartCitusNode "$node"
        "$(CitusBinDir)/createdb" -h "$CITUS_DIR" -p "$(CitusPort "$node")" \
            -U postgres "$CITUS_DB"
        CitusPsql "$node" -c "CREATE EXTENSION citus" \
            -c "CREATE EXTENSION lockable"
    done
    CitusPsql 0 -c "SELECT citus_set_coordinator_host('localhost', $(CitusPort 0))" \
        >/dev/null
    for ((node = 1; node <= CITUS_WORKERS; node++)); do
        CitusPsql 0 -c "SELECT citus_add_node('localhost', $(CitusPort "$node"))" \
            >/dev/null
    done
}

StopCitusCluster() {
    local node
    [ -n "${CITUS_DIR:-}" ] || return 0
    for ((node = 0; node <= CITUS_WORKERS; node++)); do
        if [ -f "$(CitusData "$node")/postmaster.pid" ]; then
            StopCitusNode "$node" >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$CITUS_DIR"
    CITUS_DIR=
}
