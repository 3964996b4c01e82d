#!/usr/bin/env bash
# 80-django-package: django-lockable (python/), for real, in every cell of
# its test matrix (python/matrix.toml; the virtualenvs are made once, from
# PyPI, by test/django_matrix.py, into a cache outside the clone).
#
# In each cell, on databases of its own that an ordinary role owns (a
# superuser creates the extension first), as the cell's parts say:
#   tests       python/tests, directly;
#   pooled      the same suite through PgBouncer in pool_mode = transaction,
#               on a free loopback port;
#   old         on a database that still has lockable 1.1 (the library is
#               new, ALTER EXTENSION UPDATE has not run yet): everything but
#               the waiting line, and what the package does without it;
#   quickstart  python/tests_quickstart: the README's Quick start, pasted
#               from README.md into a project made by django-admin, against
#               runserver, with the documented requests;
#   lint        ruff and mypy over django_lockable;
#   package     pip install ./python in fresh virtualenvs, with build
#               isolation and without, offline from a wheelhouse of the
#               pinned setuptools and wheel; py.typed and lockable.js in it.
# tests and pooled require the waiting line (LOCKABLE_TEST_REQUIRE_QUEUE=1).
# The Debian cell (Debian 12's packages, /usr/bin/python3) also builds the
# wheel offline with Debian's setuptools, as "pip install
# --no-build-isolation ./python" does.  When PyPI cannot be reached and a
# cell's virtualenv is not cached, that cell is reported as skipped; the
# others run.  No bytecode, caches or build files are left in the tree.
source "$(dirname "$0")/../lib.sh"
source "$LOCKABLE_TOP/test/django-matrix.sh"
EnsurePackages python3 python3-django python3-djangorestframework python3-psycopg2 \
    python3-psycopg python3-pytest python3-pytest-django pgbouncer \
    python3-pip python3-setuptools python3-wheel
cd "$LOCKABLE_TOP/python"

role=lockable_django_app

work=$(mktemp -d /tmp/lockable-django.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" = 0 ] && chown postgres: "$work"

DropObjects() {
    local db
    for db in $(psql -X -At -d postgres -c \
        "SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE 'lockable\_django\_%'" 2>/dev/null); do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
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

# NewDatabase DB [VERSION]: DB owned by the role, lockable created by the
# superuser (at VERSION), public owned by the app.
NewDatabase() {
    local db=$1 version=
    [ -n "${2:-}" ] && version="VERSION '$2'"
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db OWNER $role"
    # from 1.4 a role may use lockable once granted lockable_user (the
    # role is the cluster's, made by the first CREATE EXTENSION)
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
        -c "CREATE EXTENSION lockable $version" \
        -c "DO \$\$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'lockable_user') THEN GRANT lockable_user TO $role; END IF; END \$\$" \
        -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" \
        -c "ALTER SCHEMA public OWNER TO $role"
}

version=$(psql -X -At -d postgres -c \
    "SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'lockable'")
echo "lockable $version; databases of 1.1 for the parts \"old\""

# PgBouncer for every cell: any database of the cluster, as the role.
port=$(FreePort)
AsServerUser tee "$work/pgbouncer.ini" >/dev/null <<INI
[databases]
* = host=$PGHOST port=$PGPORT user=$role

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 4
min_pool_size = 0
server_round_robin = 1
max_client_conn = 200
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
AsServerUser pgbouncer -d -q "$work/pgbouncer.ini"
for _ in $(seq 100); do
    psql -X -q -h 127.0.0.1 -p "$port" -U "$role" -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
done

# What a Python run may leave behind in the tree; there must be no more
# of it afterwards than before.
Leftovers() {
    find "$LOCKABLE_TOP/python" \( -name __pycache__ -o -name '*.pyc' -o -name .pytest_cache \
        -o -name '*.egg-info' -o -name build -o -name dist -o -name .mypy_cache \
        -o -name .ruff_cache \) -print | sort
}
leftovers_before=$(Leftovers)

# Pytest CELL PART HOST PORT DB POOLED REQUIRE_QUEUE [PYTEST ARGS...]
Pytest() {
    local cell=$1 part=$2 host=$3 port=$4 db=$5 pooled=$6 require=$7
    shift 7
    LOCKABLE_TEST_DB=$db LOCKABLE_TEST_USER=$role LOCKABLE_TEST_HOST=$host \
        LOCKABLE_TEST_PORT=$port LOCKABLE_TEST_POOLED=$pooled \
        LOCKABLE_TEST_REQUIRE_QUEUE=$require \
        "$CELL_PYTHON" -m pytest -p no:cacheprovider -q -rs --basetemp="$work/pytest-$cell-$part" "$@" tests
}

# Lint: ruff and mypy over the package, their caches outside the tree.
Lint() {
    local passed=0 failed=0
    if "$CELL_PYTHON" -m ruff check --no-cache django_lockable tests tests_live tests_quickstart \
        example _build; then
        passed=$((passed + 1))
        echo "ruff: clean"
    else
        failed=$((failed + 1))
    fi
    if "$CELL_PYTHON" -m mypy --cache-dir "$work/mypy-cache" django_lockable; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    echo "lint: $passed passed, $failed failed"
    [ $failed -eq 0 ]
}

# Package: pip install ./python into fresh virtualenvs of the cell's
# Python, offline: with build isolation (pip installs the pinned setuptools
# and wheel from the wheelhouse into the isolated build environment) and
# without (they are installed into the virtualenv first).
Package() {
    local wheels out rc=0 passed=0 failed=0 mode base venv
    out=$(/usr/bin/python3 "$MATRIX" wheelhouse) || rc=$?
    if [ $rc -ne 0 ]; then
        echo "$out"
        [ $rc -eq "$SKIP" ] && { echo "package: 0 passed, 0 failed, 2 skipped"; return 0; }
        return 1
    fi
    wheels=$(tail -n 1 <<<"$out")
    base=$("$CELL_PYTHON" -c 'import sys; print(sys.base_prefix)')/bin/python3
    for mode in isolated no-build-isolation; do
        venv=$work/package-$mode
        if {
            "$base" -m venv "$venv" &&
                if [ $mode = isolated ]; then
                    "$venv/bin/python" -m pip install -q --no-index --find-links "$wheels" --no-cache-dir \
                        --no-deps "$LOCKABLE_TOP/python"
                else
                    "$venv/bin/python" -m pip install -q --no-index --find-links "$wheels" --no-cache-dir \
                        setuptools wheel &&
                        "$venv/bin/python" -m pip install -q --no-index --no-cache-dir --no-deps \
                            --no-build-isolation "$LOCKABLE_TOP/python"
                fi &&
                (cd / && "$venv/bin/python" - <<'PY'
import importlib.metadata as m, importlib.util, pathlib
spec = importlib.util.find_spec("django_lockable")
root = pathlib.Path(spec.origin).parent
assert "site-packages" in str(root), root
for member in ["py.typed", "static/django_lockable/lockable.js", "channels.py", "drf.py", "schema.py",
               "management/commands/lockable_sweep.py"]:
    assert (root / member).is_file(), f"the installed package lacks {member}"
dist = m.distribution("django-lockable")
assert not any(str(f).startswith(("tests", "example")) for f in dist.files), "tests were installed"
print(f"installed {dist.metadata['Name']} {dist.version}: {len(dist.files)} files, py.typed included")
PY
                )
        }; then
            echo "pip install ./python ($mode): ok"
            passed=$((passed + 1))
        else
            echo "FAIL: pip install ./python ($mode)"
            failed=$((failed + 1))
        fi
        rm -rf "$venv"
    done
    echo "package: $passed passed, $failed failed"
    [ $failed -eq 0 ]
}

# The Debian cell's offline wheel, with Debian's setuptools, from the tree
# (the build backend builds from a copy of its own: nothing is left).
DebianWheel() {
    if /usr/bin/python3 -m pip wheel -q --no-build-isolation --no-deps --no-index --no-cache-dir \
        -w "$work/wheel" "$LOCKABLE_TOP/python" >"$work/wheel.log" 2>&1; then
        contents=$(/usr/bin/python3 -m zipfile -l "$work/wheel"/*.whl)
        local member missing=0
        for member in django_lockable/__init__.py django_lockable/drf.py django_lockable/py.typed \
            django_lockable/channels.py django_lockable/static/django_lockable/lockable.js \
            django_lockable/management/commands/lockable_sweep.py; do
            grep -q " *$member " <<<"$contents" || { echo "FAIL: the wheel lacks $member"; missing=1; }
        done
        if grep -q " tests/\| tests_live/\| example/" <<<"$contents"; then
            echo "FAIL: the wheel contains the tests or the example"
            missing=1
        fi
        [ $missing -eq 0 ] && echo "$(basename "$work"/wheel/*.whl)" && echo "wheel: 1 passed, 0 failed"
        return $missing
    fi
    cat "$work/wheel.log"
    echo "FAIL: the wheel did not build"
    return 1
}

index=0
for cell in $(MatrixCells); do
    index=$((index + 1))
    parts=" $(MatrixField "$cell" parts) "
    rc=0
    CellPython "$cell" || rc=$?
    if [ $rc -ne 0 ]; then
        if [ $rc -eq "$SKIP" ]; then
            echo "skipped: cell $cell: $CELL_WHY"
            ReportLine "$(printf '%-44s skipped: %s' "$cell:" "$CELL_WHY")"
        else
            ReportLine "$(printf '%-44s FAILED: %s' "$cell:" "$CELL_WHY")"
            MATRIX_FAILED=1
        fi
        continue
    fi
    Say "cell $cell: $(/usr/bin/python3 "$MATRIX" describe "$cell")"
    direct=lockable_django_c$index
    pooled=lockable_django_pooled_c$index
    old=lockable_django_1_1_c$index
    case $parts in *" tests "*)
        NewDatabase "$direct"
        RunCellPart "$cell" "$work/$cell-tests.out" \
            Pytest "$cell" tests "$PGHOST" "$PGPORT" "$direct" 0 1 ;;
    esac
    case $parts in *" pooled "*)
        NewDatabase "$pooled"
        RunCellPart "$cell through PgBouncer" "$work/$cell-pooled.out" \
            Pytest "$cell" pooled 127.0.0.1 "$port" "$pooled" 1 1 ;;
    esac
    case $parts in *" old "*)
        NewDatabase "$old" 1.1
        RunCellPart "$cell on lockable 1.1" "$work/$cell-old.out" \
            Pytest "$cell" old "$PGHOST" "$PGPORT" "$old" 0 0 -m "not needs_waiting_line" ;;
    esac
    case $parts in *" quickstart "*)
        RunCellPart "$cell README Quick start" "$work/$cell-quickstart.out" \
            env QUICKSTART_PYTHON="$CELL_PYTHON" "$CELL_PYTHON" -m pytest -p no:cacheprovider -p no:django -q -rs \
            --basetemp="$work/pytest-$cell-quickstart" -c tests_quickstart/pytest.ini tests_quickstart ;;
    esac
    case $parts in *" lint "*)
        RunCellPart "$cell ruff and mypy" "$work/$cell-lint.out" Lint ;;
    esac
    case $parts in *" package "*)
        RunCellPart "$cell pip install" "$work/$cell-package.out" Package ;;
    esac
    if [ "$cell" = debian12 ]; then
        RunCellPart "$cell wheel offline" "$work/$cell-wheel.out" DebianWheel
    fi
    for db in "$direct" "$old"; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
done

if [ "$(Leftovers)" != "$leftovers_before" ]; then
    echo "FAIL: the run left bytecode, caches or build files in python/:"
    comm -13 <(echo "$leftovers_before") <(Leftovers)
    MATRIX_FAILED=1
fi

PrintMatrixReport "django-lockable: python/tests in each cell"
exit $MATRIX_FAILED
