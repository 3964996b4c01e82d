#!/usr/bin/env bash
# 80-django-package: django-lockable (python/), for real.
#
# Its pytest suite (python/tests) runs against the throwaway cluster with
# Debian's Django 3.2, Django REST framework, psycopg2 and psycopg 3,
# connecting as an ordinary role that owns its database, as an application
# would (a superuser creates the extension first):
#   1. directly;
#   2. the same suite through PgBouncer in pool_mode = transaction, on a
#      free loopback port, on a database of its own;
#   3. on a database that still has lockable 1.1 (the library is new, ALTER
#      EXTENSION UPDATE has not run yet): everything but the waiting line,
#      and what the package does without it (marker without_waiting_line).
# Runs 1 and 2 require the waiting line (LOCKABLE_TEST_REQUIRE_QUEUE=1: a
# database without it stops the run).  Then the package is built into a
# wheel offline, as "pip install ./python" would.  No bytecode or caches are
# left in the tree.
source "$(dirname "$0")/../lib.sh"
EnsurePackages python3 python3-django python3-djangorestframework python3-psycopg2 \
    python3-psycopg python3-pytest python3-pytest-django pgbouncer \
    python3-pip python3-setuptools python3-wheel
cd "$LOCKABLE_TOP/python"

role=lockable_django_app
direct_db=lockable_django
pooled_db=lockable_django_pooled
old_db=lockable_django_1_1
# Debian's interpreter, where apt installed the packages
python=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1

work=$(mktemp -d /tmp/lockable-django.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" = 0 ] && chown postgres: "$work"

DropObjects() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $direct_db" \
        -c "DROP DATABASE IF EXISTS $pooled_db" -c "DROP DATABASE IF EXISTS $old_db" \
        -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
}
Cleanup() {
    # stop the PgBouncer we started, by its pid
    if [ -s "$work/pgbouncer.pid" ]; then
        kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -e "$work/pgbouncer.pid" ] || break
            sleep 0.1
        done
    fi
    DropObjects
    rm -rf "$work"
}
DropObjects  # left over from an interrupted run
trap Cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE $role LOGIN"
for db in "$direct_db" "$pooled_db" "$old_db"; do
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db OWNER $role"
    version=
    [ "$db" = "$old_db" ] && version="VERSION '1.1'"
    # the superuser's part: the extension, and public owned by the app
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
        -c "CREATE EXTENSION lockable $version" \
        -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" \
        -c "ALTER SCHEMA public OWNER TO $role"
done

# The waiting line is judged by what the extension has (lock_status has
# waiters), not by its version number.
version=$(psql -X -At -d "$direct_db" -c \
    "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockable'")
echo "lockable $version; a database of 1.1 for run 3"

# a loopback port that is free now (the kernel picks it)
port=$($python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
AsServerUser tee "$work/pgbouncer.ini" >/dev/null <<INI
[databases]
$pooled_db = host=$PGHOST port=$PGPORT dbname=$pooled_db user=$role

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 4
min_pool_size = 4
server_round_robin = 1
max_client_conn = 200
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
AsServerUser pgbouncer -d -q "$work/pgbouncer.ini"
for _ in $(seq 100); do
    psql -X -q -h 127.0.0.1 -p "$port" -U "$role" -d "$pooled_db" -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
done

failed=0
figures=()
# What a Python run may leave behind in the tree; there must be no more
# of it afterwards than before.
Leftovers() {
    find "$LOCKABLE_TOP/python" \( -name __pycache__ -o -name '*.pyc' -o -name .pytest_cache \
        -o -name '*.egg-info' -o -name build -o -name dist \) -print | sort
}
leftovers_before=$(Leftovers)

# RunPytest NAME HOST PORT DB POOLED REQUIRE_QUEUE [PYTEST ARGS...]: the
# suite once; its summary line and wall time go into the figures.
RunPytest() {
    local name=$1 host=$2 port=$3 db=$4 pooled=$5 require=$6 start rc summary
    shift 6
    Say "django-lockable tests: $name"
    start=$(date +%s%N)
    set +e
    LOCKABLE_TEST_DB=$db LOCKABLE_TEST_USER=$role LOCKABLE_TEST_HOST=$host \
        LOCKABLE_TEST_PORT=$port LOCKABLE_TEST_POOLED=$pooled \
        LOCKABLE_TEST_REQUIRE_QUEUE=$require \
        $python -m pytest -p no:cacheprovider -q -rs --basetemp="$work/pytest-$name" "$@" tests \
        2>&1 | tee "$work/$name.out"
    rc=${PIPESTATUS[0]}
    set -e
    summary=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$work/$name.out" | tail -1 |
        sed -e 's/^=* *//' -e 's/ *=*$//')
    figures+=("$(printf '%-28s %s (wall %d ms)' "$name:" "${summary:-no summary}" \
        $((($(date +%s%N) - start) / 1000000)))")
    [ "$rc" -eq 0 ] || failed=1
}
RunPytest direct "$PGHOST" "$PGPORT" "$direct_db" 0 1
RunPytest through-pgbouncer 127.0.0.1 "$port" "$pooled_db" 1 1
RunPytest lockable-1.1 "$PGHOST" "$PGPORT" "$old_db" 0 0 -m "not needs_waiting_line"

# The package builds offline, from a copy (a build writes build/ and
# *.egg-info next to its sources).
Say "building the wheel offline"
cp -r "$LOCKABLE_TOP/python" "$work/src"
if $python -m pip wheel -q --no-build-isolation --no-deps --no-index --no-cache-dir \
    -w "$work/wheel" "$work/src" >"$work/wheel.log" 2>&1; then
    wheel=$(ls "$work/wheel"/*.whl)
    contents=$($python -m zipfile -l "$wheel")
    for member in django_lockable/__init__.py django_lockable/drf.py django_lockable/urls.py \
        django_lockable/admin.py django_lockable/operations.py django_lockable/models.py \
        django_lockable/management/commands/lockable_sweep.py; do
        grep -q " *$member " <<<"$contents" || {
            echo "FAIL: the wheel lacks $member"
            failed=1
        }
    done
    if grep -q "tests/" <<<"$contents"; then
        echo "FAIL: the wheel contains the tests"
        failed=1
    fi
    figures+=("$(printf '%-28s %s, %s modules' "wheel:" "$(basename "$wheel")" \
        "$(grep -c ' *django_lockable/.*\.py ' <<<"$contents")")")
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

Say "django-lockable figures"
printf '%s\n' "${figures[@]}"
exit $failed
