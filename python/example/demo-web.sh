#!/usr/bin/env bash
# python/example/demo-web.sh: the example documents site, live, behind
# "make demo-web" (test/run.sh demo-web builds and installs lockable first).
#
# A throwaway cluster (the server runs as the postgres OS user) set up as
# python/README.md's "Deployment" says: lockable preloaded, with its
# background sweeper on (lockable.sweep_interval = '1min', for the rows of
# locks that ended over an hour ago); a database owned by an ordinary role
# that is granted lockable_admin (carol may take documents over), migrated,
# with users alice, bob and carol
# (password "lockable") and a few documents; Daphne serves the site on
# 127.0.0.1:8000 (DEMO_WEB_PORT to change it), and pages of
# http://localhost:8000 and http://127.0.0.1:8000 may open its websocket.
# Ctrl-C stops Daphne and removes the cluster.
source "$(dirname "$0")/../../test/lib.sh"
EnsurePackages python3 python3-django python3-djangorestframework python3-django-channels daphne \
    python3-psycopg python3-psycopg2
PG_BINDIR=${PG_BINDIR:-$("$PG_CONFIG" --bindir)}
export PG_BINDIR

port=${DEMO_WEB_PORT:-8000}
if ! /usr/bin/python3 -c 'import socket, sys; socket.create_server(("127.0.0.1", int(sys.argv[1]))).close()' \
    "$port" 2>/dev/null; then
    echo "port $port on 127.0.0.1 is taken: stop what listens there, or set DEMO_WEB_PORT" >&2
    exit 1
fi

db=lockable_example
role=lockable_example
mapfile -t settings < <(ExampleClusterSettings "$db")
StartCluster "${settings[@]}"
trap 'StopDaphnes; StopCluster' EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM
if [ -z "$(psql -X -At -d postgres -c "SELECT pg_catalog.current_setting('lockable.sweep_interval', true)")" ]; then
    echo "note: this build of lockable has no background sweeper (lockable.sweep_interval): nothing sweeps" \
        "lockable.locks; run manage.py lockable_sweep, or schedule lockable.lock_sweep" >&2
fi
Say "the example site's database: $db, owned by role $role"
ExampleDatabase "$db" "$role"
# carol may take documents over (example_setup gives her take_over_lock):
# the site's role takes locks over for her, which needs lockable_admin
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "GRANT lockable_admin TO $role"
StartDaphne "$port" "$CLUSTER_DIR/daphne.log" "$db" "$role"

Say "the example documents site is up"
cat <<EOF
Open http://localhost:$port/ in two browsers (or a normal and a private
window), log in as alice, bob or carol (password: lockable), and open the
same document in both: the first edits, the second waits in line and is let
in, without reloading, as soon as the first closes the tab, loses the
network, or stays idle (the page asks "Still editing?" first).

Watch the locks and the line change while you click, in psql:

PGHOST=$PGHOST PGPORT=$PGPORT PGDATABASE=$db

  PGHOST=$PGHOST PGPORT=$PGPORT PGDATABASE=$db psql -U postgres \\
      -c 'TABLE lockable.active_locks' -c 'TABLE lockable.lock_queue'

lockable is preloaded, and its background sweeper deletes the rows of locks
that ended over an hour ago, every minute (SHOW lockable.sweep_interval).

Server log: $CLUSTER_DIR/daphne.log
Ctrl-C stops everything and removes the cluster.
EOF
wait "${DAPHNE_PIDS[0]}"
