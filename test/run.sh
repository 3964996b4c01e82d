#!/usr/bin/env bash
# test/run.sh: the driver behind "make test" and "make demo".
#
#   test/run.sh test    every suite on a throwaway cluster, then a summary
#   test/run.sh demo    the scripted two-user session of the README
#   test/run.sh bench   the benchmark harness, test/bench/run.sh
#   test/run.sh stress  the long mutual-exclusion hammer, test/stress/run.sh
#   test/run.sh demo-web   django-lockable's example site, live, on
#                          127.0.0.1:8000 (python/example/demo-web.sh)
#   test/run.sh bench-web  the live-editing load bench: websocket clients
#                          against one Daphne (python/bench/bench-web.sh)
#
# "test" runs pg_regress (sql/, expected/), the isolation specs
# (test/isolation/), then every executable test/suites/*.sh in name order.
# A suite script runs with the throwaway cluster up (PGHOST, PGPORT, PGUSER
# exported, lockable installed) and may start clusters of its own through
# test/lib.sh; it prints its own figures and exits non-zero on failure.
source "$(dirname "$0")/lib.sh"
cd "$LOCKABLE_TOP"

# One run at a time on this machine: every run installs into the same
# PostgreSQL installation.
exec 9>/tmp/lockable-run.lock
flock 9

passed=0
failed=0
failed_names=()

# RunSuite NAME CMD...: run one suite, count it as passed or failed.
RunSuite() {
    local name=$1
    shift
    Say "suite: $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "-- $name: passed"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "-- $name: FAILED"
    fi
}

RegressSuite() {
    "$PGXS_DIR/src/test/regress/pg_regress" \
        --inputdir=. --outputdir=. --bindir="$PG_BINDIR" \
        --dbname=lockable_regression \
        $(make -s --no-print-directory print-regress)
    local rc=$?
    [ $rc -ne 0 ] && [ -f regression.diffs ] && cat regression.diffs
    return $rc
}

IsolationSuite() {
    mkdir -p output_iso
    "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
        --inputdir=test/isolation --outputdir=output_iso --bindir="$PG_BINDIR" \
        --dbname=lockable_isolation --load-extension=lockable \
        $(make -s --no-print-directory print-isolation)
    local rc=$?
    [ $rc -ne 0 ] && [ -f output_iso/regression.diffs ] && cat output_iso/regression.diffs
    return $rc
}

case "${1:-test}" in
test)
    EnsureServer
    BuildAndInstall
    StartCluster
    RunSuite regress RegressSuite
    RunSuite isolation IsolationSuite
    for suite in test/suites/*.sh; do
        [ -x "$suite" ] || continue
        RunSuite "$(basename "$suite" .sh)" "$suite"
    done
    StopCluster
    Say "summary"
    [ $failed -eq 0 ] || echo "failed suites: ${failed_names[*]}"
    echo "$passed passed, $failed failed"
    [ $failed -eq 0 ]
    ;;
demo)
    EnsureServer
    BuildAndInstall
    StartCluster
    test/demo.sh
    StopCluster
    ;;
bench)
    EnsureServer
    BuildAndInstall
    exec test/bench/run.sh "${@:2}"
    ;;
stress)
    EnsureServer
    BuildAndInstall
    exec test/stress/run.sh "${@:2}"
    ;;
demo-web)
    EnsureServer
    BuildAndInstall
    exec python/example/demo-web.sh
    ;;
bench-web)
    EnsureServer
    BuildAndInstall
    exec python/bench/bench-web.sh "${@:2}"
    ;;
*)
    echo "usage: $0 test|demo|bench|stress|demo-web|bench-web" >&2
    exit 2
    ;;
esac
