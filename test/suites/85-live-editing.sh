#!/usr/bin/env bash
# 85-live-editing: django-lockable's live editing (issue 11), for real.
#
# On a cluster of its own (the tests stop and start PostgreSQL), the example
# documents site (python/example) gets a database owned by an ordinary role,
# migrated, with users alice, bob and carol.  Then python/tests_live runs:
#   - the decisions of a session as plain functions (no socket, no database);
#   - LockConsumer through channels.testing.WebsocketCommunicator: every
#     message and error, anonymous and cross-site sockets, silent sockets,
#     a forged NOTIFY, an unreachable database;
#   - the notification bridge: several nodes, a killed listener, a restart;
#   - lockable.js's state machine in headless Chromium, with a fake socket;
#   - the seven end-to-end scenarios of the issue in headless Chromium, one
#     browser per user, against two Daphne processes sharing only
#     PostgreSQL (the tests start them on free loopback ports).
# Screenshots of the waiting, editing and idle-warning states, and the
# servers' and chromedrivers' logs, go to test/tmp/live-editing/.  Then the
# package is built into a wheel offline and checked for the live modules
# and lockable.js.  No bytecode or caches are left in the tree.
source "$(dirname "$0")/../lib.sh"
EnsurePackages python3 python3-django python3-djangorestframework python3-django-channels daphne \
    python3-psycopg python3-psycopg2 python3-pytest python3-selenium chromium chromium-driver \
    python3-pip python3-setuptools python3-wheel
PG_BINDIR=${PG_BINDIR:-$("$PG_CONFIG" --bindir)}
export PG_BINDIR

python=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
out=$LOCKABLE_TOP/test/tmp/live-editing
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/lockable-live.XXXXXX)

Leftovers() {
    find "$LOCKABLE_TOP/python" \( -name __pycache__ -o -name '*.pyc' -o -name .pytest_cache \
        -o -name '*.egg-info' -o -name build -o -name dist \) -print | sort
}
leftovers_before=$(Leftovers)

StartCluster "max_connections = 300"
trap 'rm -rf "$work"; StopCluster' EXIT
db=lockable_live
role=lockable_live_app
ExampleDatabase "$db" "$role" >/dev/null

failed=0
Say "live editing: python/tests_live"
start=$(date +%s%N)
set +e
(
    cd "$LOCKABLE_TOP/python/tests_live"
    LIVE_PGHOST=$PGHOST LIVE_PGPORT=$PGPORT LIVE_DB=$db LIVE_ROLE=$role LIVE_SUPERUSER=$PGUSER \
        LIVE_PGDATA=$CLUSTER_DIR/data LIVE_PG_BINDIR=$PG_BINDIR LIVE_OUTPUT=$out \
        $python -m pytest -q -rs --basetemp="$work/pytest" --durations=8
) 2>&1 | tee "$work/pytest.out"
rc=${PIPESTATUS[0]}
set -e
wall_ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" -eq 0 ] || failed=1
summary=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$work/pytest.out" | tail -1 |
    sed -e 's/^=* *//' -e 's/ *=*$//')

for shot in waiting editing idle-warning; do
    if [ ! -s "$out/browser/screenshots/$shot.png" ]; then
        echo "FAIL: no screenshot of the $shot state"
        failed=1
    fi
done

Say "building the wheel offline"
cp -r "$LOCKABLE_TOP/python" "$work/src"
rm -rf "$work/src/example" "$work/src/tests_live"
if $python -m pip wheel -q --no-build-isolation --no-deps --no-index --no-cache-dir \
    -w "$work/wheel" "$work/src" >"$work/wheel.log" 2>&1; then
    contents=$($python -m zipfile -l "$work/wheel"/*.whl)
    for member in django_lockable/channels.py django_lockable/live.py django_lockable/notifications.py \
        django_lockable/static/django_lockable/lockable.js; do
        grep -q " *$member " <<<"$contents" || {
            echo "FAIL: the wheel lacks $member"
            failed=1
        }
    done
else
    cat "$work/wheel.log"
    echo "FAIL: the wheel did not build"
    failed=1
fi

if [ "$(Leftovers)" != "$leftovers_before" ]; then
    echo "FAIL: the run left bytecode, caches or build files in python/:"
    comm -13 <(echo "$leftovers_before") <(Leftovers)
    failed=1
fi

Say "live editing figures"
printf '%-16s %s (wall %d s)\n' "tests_live:" "${summary:-no summary}" $((wall_ms / 1000))
printf '%-16s %s\n' "screenshots:" "$(cd "$out/browser/screenshots" 2>/dev/null && ls | tr '\n' ' ')"
printf '%-16s %s\n' "output:" "$out"
exit $failed
