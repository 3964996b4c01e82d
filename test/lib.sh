# test/lib.sh: shared set-up for "make test", "make demo", "make bench" and
# "make stress".  Sourced, not run.
#
#   EnsurePackages PKG...   apt-get install what is missing (as root only)
#   BuildAndInstall         make && make install with PG_CONFIG
#   StartCluster            initdb + start a throwaway cluster in a temporary
#                           directory (as the postgres OS user when we are
#                           root, since the server refuses to run as root);
#                           exports PGHOST, PGPORT, PGUSER, PGDATABASE
#   StopCluster             stop it and remove the directory (also on exit)
#   AsServerUser CMD...     run a command as the cluster's OS user

set -euo pipefail

LOCKABLE_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
export PG_CONFIG=${PG_CONFIG:-pg_config}

Say() { printf '\n== %s\n' "$*"; }

AsServerUser() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# EnsurePackages PKG...: install the Debian packages that are not installed.
EnsurePackages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
        return 1
    fi
    Say "installing ${missing[*]}"
    if [ -z "${LOCKABLE_APT_UPDATED:-}" ]; then
        apt-get update -qq
        export LOCKABLE_APT_UPDATED=1
    fi
    # Another apt-get on the machine (a parallel run) holds dpkg's lock for
    # a while: wait for it rather than fail.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
}

EnsureServer() {
    EnsurePackages make gcc "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
    PG_BINDIR=$("$PG_CONFIG" --bindir)
    PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/../..
    PGXS_DIR=$(cd "$PGXS_DIR" && pwd)
    export PG_BINDIR PGXS_DIR
}

BuildAndInstall() {
    Say "building and installing lockable"
    make -C "$LOCKABLE_TOP" -s PG_CONFIG="$PG_CONFIG" >/dev/null
    make -C "$LOCKABLE_TOP" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# StartCluster [extra postgresql.conf lines...]
StartCluster() {
    CLUSTER_DIR=$(mktemp -d /tmp/lockable-cluster.XXXXXX)
    chmod 755 "$CLUSTER_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$CLUSTER_DIR"
    trap StopCluster EXIT
    export PGHOST=$CLUSTER_DIR
    export PGPORT=$((20000 + RANDOM % 20000))
    export PGUSER=postgres
    export PGDATABASE=postgres
    AsServerUser "$PG_BINDIR/initdb" -D "$CLUSTER_DIR/data" -U postgres \
        --auth=trust -E UTF8 --locale=C >"$CLUSTER_DIR/initdb.log" 2>&1 || {
        cat "$CLUSTER_DIR/initdb.log" >&2
        return 1
    }
    {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$CLUSTER_DIR'"
        echo "port = $PGPORT"
        echo "max_connections = 200"
        echo "fsync = ${LOCKABLE_FSYNC:-off}"
        echo "log_min_messages = warning"
        local line
        for line in "$@"; do echo "$line"; done
    } | AsServerUser tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
    AsServerUser "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
        -w start >/dev/null || {
        cat "$CLUSTER_DIR/server.log" >&2
        return 1
    }
}

StopCluster() {
    [ -n "${CLUSTER_DIR:-}" ] || return 0
    AsServerUser "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop \
        >/dev/null 2>&1 || true
    rm -rf "$CLUSTER_DIR"
    CLUSTER_DIR=
}
