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

# The server under test.  Unset, PG_CONFIG is Debian 12's PostgreSQL 15,
# installed from its packages when missing.  Set, it names any installed
# PostgreSQL (a source build, PGDG's or Debian's packages): nothing is
# installed for it, and PG_MAJOR is read from it.
if [ -z "${PG_CONFIG:-}" ]; then
    export PG_CONFIG=pg_config
    PG_MAJOR=${PG_MAJOR:-15}
    LOCKABLE_DEFAULT_SERVER=1
else
    export PG_CONFIG
    if [ -z "${PG_MAJOR:-}" ]; then
        PG_MAJOR=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
        [ -n "$PG_MAJOR" ] || { echo "cannot read the version of $PG_CONFIG" >&2; exit 1; }
    fi
    # Inherited from a run on the default server (a suite of it), or not.
    if [ "$PG_CONFIG" != pg_config ]; then
        LOCKABLE_DEFAULT_SERVER=0
    fi
    LOCKABLE_DEFAULT_SERVER=${LOCKABLE_DEFAULT_SERVER:-0}
fi
export PG_MAJOR LOCKABLE_DEFAULT_SERVER

# A suite that cannot run here exits with this code after printing one
# "skipped: <why>" line; test/run.sh counts it as skipped, not passed.
SKIP=77

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
    if [ "$LOCKABLE_DEFAULT_SERVER" = 1 ]; then
        EnsurePackages make gcc "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
    else
        EnsurePackages make gcc
        [ -x "$("$PG_CONFIG" --bindir)/postgres" ] &&
            [ -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ] || {
            echo "$PG_CONFIG names no server with its headers (postgres, postgres.h)" >&2
            return 1
        }
    fi
    PG_BINDIR=$("$PG_CONFIG" --bindir)
    PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/../..
    PGXS_DIR=$(cd "$PGXS_DIR" && pwd)
    # psql, pgbench, pg_dump ... of the server under test, not whichever
    # version a wrapper on the PATH would pick
    case ":$PATH:" in
    *":$PG_BINDIR:"*) ;;
    *) PATH="$PG_BINDIR:$PATH" ;;
    esac
    export PG_BINDIR PGXS_DIR PATH
}

# DebianServer: is the server under test Debian's own package, so that
# Debian's packages of extensions (postgresql-NN-cron, ...) install into it?
DebianServer() {
    [ "$("$PG_CONFIG" --bindir)" = "/usr/lib/postgresql/$PG_MAJOR/bin" ] &&
        dpkg-query -W -f='${Status}' "postgresql-$PG_MAJOR" 2>/dev/null | grep -q 'ok installed'
}

# ServerPackagesAvailable PKG...: can Debian packages built for the server
# under test (an extension such as postgresql-$PG_MAJOR-cron) be installed
# into it?  Only when the server is Debian's own and the packages exist for
# its version; otherwise says why on stdout and returns 1.
ServerPackagesAvailable() {
    local p
    if ! DebianServer; then
        echo "$* (Debian's packages, for Debian's server only; this is $("$PG_CONFIG" --version))"
        return 1
    fi
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' && continue
        if [ "$(id -u)" = 0 ] && [ -z "${LOCKABLE_APT_UPDATED:-}" ]; then
            apt-get update -qq && export LOCKABLE_APT_UPDATED=1
        fi
        apt-cache show "$p" >/dev/null 2>&1 || {
            echo "$p is not packaged for this system"
            return 1
        }
    done
}

# EnsureServerPackagesOrSkip PKG...: install them, or print "skipped: ..."
# and exit the suite with $SKIP.
EnsureServerPackagesOrSkip() {
    local why
    why=$(ServerPackagesAvailable "$@") || {
        echo "skipped: $why"
        exit "$SKIP"
    }
    EnsurePackages "$@"
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

# ---- django-lockable's example site (python/example), for "make demo-web",
# "make bench-web" and test/suites/85-live-editing.sh.
#
#   FreePort                 a loopback TCP port nobody listens on now
#   ExampleDatabase DB ROLE [example_setup options...]
#                            on the running cluster: the ordinary role ROLE
#                            (made if missing) owns database DB and is
#                            granted lockable_user, the superuser creates
#                            lockable
#                            there, the site migrates as ROLE and gets its
#                            users (alice, bob, carol; password lockable) and
#                            documents
#   ExampleManage DB ROLE ARGS...
#                            the site's manage.py as ROLE on DB, with
#                            $EXAMPLE_PYTHON (default Debian's /usr/bin/python3:
#                            a cell of the test matrix passes its own)
#   StartDaphne PORT LOG DB ROLE [NAME=VALUE...]
#                            serve the site on 127.0.0.1:PORT in the
#                            background (Debian's daphne), with these extra
#                            environment variables; returns once it answers;
#                            its pid is appended to DAPHNE_PIDS
#   StopDaphnes              stop the servers StartDaphne started, by pid
#   ExampleClusterSettings DB...
#                            the postgresql.conf lines (one a line) of a
#                            cluster that serves the site as a deployment
#                            should: lockable preloaded, its background
#                            sweeper on in the databases DB... every minute,
#                            for the rows of locks that ended over an hour ago
#                            (python/README.md, "Deployment")

EXAMPLE_PYTHONPATH="$LOCKABLE_TOP/python/example:$LOCKABLE_TOP/python"
# Warnings are errors, but for the two of Debian's Django 3.2 on Python 3.11
# at import (as the test suites' pytest settings say).
EXAMPLE_WARNINGS=(-W error -W "ignore:'cgi' is deprecated:DeprecationWarning"
    -W "ignore:Use setlocale(), getencoding() and getlocale() instead:DeprecationWarning")
DAPHNE_PIDS=()

ExampleClusterSettings() {
    local IFS=,
    echo "shared_preload_libraries = 'lockable'"
    echo "lockable.sweep_interval = '1min'"
    echo "lockable.sweep_databases = '$*'"
    echo "lockable.sweep_older_than = '1 hour'"
}

FreePort() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ExampleManage() {
    local db=$1 role=$2
    shift 2
    PGDATABASE=$db PGUSER=$role PYTHONDONTWRITEBYTECODE=1 \
        "${EXAMPLE_PYTHON:-/usr/bin/python3}" "${EXAMPLE_WARNINGS[@]}" "$LOCKABLE_TOP/python/example/manage.py" "$@"
}

ExampleDatabase() {
    local db=$1 role=$2
    shift 2
    psql -X -At -d postgres -c "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '$role'" | grep -q 1 ||
        psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE $role LOGIN"
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db OWNER $role"
    # from 1.4 a role may use lockable once granted lockable_user
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION lockable" \
        -c "GRANT lockable_user TO $role"
    ExampleManage "$db" "$role" migrate --verbosity 0
    ExampleManage "$db" "$role" example_setup "$@"
}

StartDaphne() {
    local port=$1 log=$2 db=$3 role=$4 pid _
    shift 4
    # A session of its own: a Ctrl-C meant for the script does not reach it.
    env "$@" PGDATABASE="$db" PGUSER="$role" PYTHONPATH="$EXAMPLE_PYTHONPATH" \
        DJANGO_SETTINGS_MODULE=example_site.settings PYTHONDONTWRITEBYTECODE=1 \
        setsid daphne -b 127.0.0.1 -p "$port" example_site.asgi:application >"$log" 2>&1 &
    pid=$!
    DAPHNE_PIDS+=("$pid")
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            echo "daphne on port $port exited" >&2
            return 1
        fi
        /usr/bin/python3 - "$port" <<'PY' && return 0
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/accounts/login/", timeout=2)
except OSError:
    sys.exit(1)
PY
        sleep 0.2
    done
    echo "daphne on port $port did not answer within a minute; see $log" >&2
    return 1
}

StopDaphnes() {
    local pid _
    for pid in "${DAPHNE_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    DAPHNE_PIDS=()
}
