#!/usr/bin/env bash
# 85-live-editing: django-lockable's live editing (issue 11), for real, in
# the cells of its test matrix (python/matrix.toml) that have it.
#
# On a cluster of its own (the tests stop and start PostgreSQL), set up as
# the example's deployment notes say (lockable preloaded, its background
# sweeper on in every cell's database: ExampleClusterSettings), each cell
# gets the example documents site's database (python/example), owned by an
# ordinary role that is granted lockable_user, migrated with the cell's
# Django, with users alice, bob and carol.  Then python/tests_live runs:
#   live     (every cell with it) without the browser: the decisions of a
#            session as plain functions; LockConsumer through
#            channels.testing.WebsocketCommunicator (every message and
#            error, anonymous and cross-site sockets, silent sockets, a
#            forged NOTIFY, an unreachable database); the notification
#            bridge (several nodes, a killed listener, a restart); the
#            example's pages;
#   browser  (the newest cell) in headless Chromium, once per server of
#            the cell's "servers" (Daphne, Uvicorn): lockable.js's state
#            machine with a fake socket, each close code as the browser
#            receives it from the real server, and the seven end-to-end
#            scenarios of the issue, one browser per user, against two
#            server processes sharing only PostgreSQL.
# Screenshots of the waiting, editing and idle-warning states and of issue
# 22's editor page (presence, a request, a take over, restoring a draft, a
# save seen by a waiter, a lost connection), and the servers' and
# chromedrivers' logs, go to test/tmp/live-editing/<server>/.
# A cell whose virtualenv cannot be had (PyPI unreachable, nothing cached)
# is reported as skipped.  No bytecode or caches are left in the tree.
source "$(dirname "$0")/../lib.sh"
source "$LOCKABLE_TOP/test/django-matrix.sh"
EnsurePackages python3 python3-django python3-djangorestframework python3-django-channels daphne \
    python3-psycopg python3-psycopg2 python3-pytest chromium chromium-driver
PG_BINDIR=${PG_BINDIR:-$("$PG_CONFIG" --bindir)}
export PG_BINDIR

out=$LOCKABLE_TOP/test/tmp/live-editing
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/lockable-live.XXXXXX)

Leftovers() {
    find "$LOCKABLE_TOP/python" \( -name __pycache__ -o -name '*.pyc' -o -name .pytest_cache \
        -o -name '*.egg-info' -o -name build -o -name dist \) -print | sort
}
leftovers_before=$(Leftovers)

# The databases the cells below make, for the sweeper's lockable.sweep_databases.
live_dbs=()
for cell in $(MatrixCells); do
    case " $(MatrixField "$cell" parts) " in *" live "* | *" browser "*) live_dbs+=("lockable_live_c$((${#live_dbs[@]} + 1))") ;; esac
done
mapfile -t sweeper < <(ExampleClusterSettings "${live_dbs[@]}")
StartCluster "max_connections = 300" "${sweeper[@]}"
trap 'rm -rf "$work"; StopCluster' EXIT
role=lockable_live_app

# LivePytest DB OUTPUT [PYTEST ARGS...]: tests_live with the cell's Python
# (the browser tests' servers: $server, Daphne or Uvicorn).
server=daphne
LivePytest() {
    local db=$1 output=$2
    shift 2
    (
        cd "$LOCKABLE_TOP/python/tests_live"
        LIVE_ASGI_SERVER=$server LIVE_PGHOST=$PGHOST LIVE_PGPORT=$PGPORT LIVE_DB=$db LIVE_ROLE=$role LIVE_SUPERUSER=$PGUSER \
            LIVE_PGDATA=$CLUSTER_DIR/data LIVE_PG_BINDIR=$PG_BINDIR LIVE_OUTPUT=$output \
            "$CELL_PYTHON" -m pytest -q -rs --basetemp="$work/pytest" --durations=5 "$@"
    )
}

# Screenshots SERVER: the states the browser suite photographs (issue 11's
# three, and issue 22's editor page: python/docs/live-editing-*.png).
Screenshots() {
    local server=$1 shot missing=0
    for shot in waiting editing idle-warning presence request taken-over restore-compare saved \
        connection-lost; do
        if [ ! -s "$out/$server/browser/screenshots/$shot.png" ]; then
            echo "FAIL: no screenshot of the $shot state under $server"
            missing=1
        fi
    done
    [ $missing -eq 0 ] && echo "screenshots: 1 passed, 0 failed"
    return $missing
}

index=0
for cell in $(MatrixCells); do
    parts=" $(MatrixField "$cell" parts) "
    case $parts in *" live "* | *" browser "*) ;; *) continue ;; esac
    index=$((index + 1))
    rc=0
    CellPython "$cell" || rc=$?
    if [ $rc -ne 0 ]; then
        if [ $rc -eq "$SKIP" ]; then
            echo "skipped: cell $cell: $CELL_WHY"
            ReportLine "$(printf '%-44s skipped: %s' "$cell live:" "$CELL_WHY")"
        else
            ReportLine "$(printf '%-44s FAILED: %s' "$cell live:" "$CELL_WHY")"
            MATRIX_FAILED=1
        fi
        continue
    fi
    Say "cell $cell: $(/usr/bin/python3 "$MATRIX" describe "$cell")"
    db=lockable_live_c$index
    EXAMPLE_PYTHON=$CELL_PYTHON ExampleDatabase "$db" "$role" >/dev/null
    case $parts in *" live "*)
        RunCellPart "$cell live" "$work/$cell-live.out" LivePytest "$db" "$out/$cell" -m "not browser" ;;
    esac
    case $parts in *" browser "*)
        for server in $(MatrixField "$cell" servers); do
            RunCellPart "$cell browser, $server" "$work/$cell-browser-$server.out" \
                LivePytest "$db" "$out/$server" -m browser
            RunCellPart "$cell screenshots, $server" "$work/$cell-shots-$server.out" Screenshots "$server"
        done ;;
    esac
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
done

if [ "$(Leftovers)" != "$leftovers_before" ]; then
    echo "FAIL: the run left bytecode, caches or build files in python/:"
    comm -13 <(echo "$leftovers_before") <(Leftovers)
    MATRIX_FAILED=1
fi

PrintMatrixReport "django-lockable: live editing in each cell"
echo "output: $out"
exit $MATRIX_FAILED
