#!/usr/bin/env bash
# test/run.sh: the driver behind "make test" and "make demo".
#
#   test/run.sh test    every suite on a throwaway cluster of the server
#                       under test, then (for Debian 12's default server)
#                       the version matrix, then a summary
#   test/run.sh core [--counts FILE]
#                       the version matrix's suites only (see CORE_SUITES),
#                       on the server PG_CONFIG names; with --counts, the
#                       counts are also written to FILE for the caller
#   test/run.sh demo    the scripted two-user session of the README
#   test/run.sh bench   the benchmark harness, test/bench/run.sh; with no
#                       options on the default server, then its core
#                       scenarios on 15 against 18 (test/bench/versions.sh)
#   test/run.sh bench-ab  two builds (a git revision and the working tree)
#                       against each other in one run (test/bench/ab.sh)
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
# test/lib.sh; it prints its own figures and exits non-zero on failure, or
# 77 ($SKIP) after a "skipped: <why>" line when what it needs cannot be had.
#
# The version matrix (test/versions/, README "Supported versions"): with
# PG_CONFIG unset, after the full run on Debian 12's PostgreSQL 15, the core
# suites run on PostgreSQL 18, built once from the source tarball that
# LOCKABLE_PG18_SRC names, and on Debian 13's PostgreSQL 17, in a trixie
# root made once with debootstrap; then a pg_upgrade from 15 to 18 keeps
# locks, lines and tokens.  Each build of lockable is made in a copy of the
# tree of its own.  A server that cannot be had is counted as skipped.
# LOCKABLE_MATRIX=0 leaves the matrix out.
source "$(dirname "$0")/lib.sh"
cd "$LOCKABLE_TOP"

# The suites of the version matrix: regress and isolation, and these.
CORE_SUITES="20-hammer 23-queue-hammer 26-preloaded 27-linearizability 30-hostile-input
    32-notify-hints 33-notify-queue-full 34-sweeper
    40-dump-restore 60-crash-safety 70-failover 75-standby"

# One run at a time per PostgreSQL installation: every run installs
# lockable into it.
exec 9>"/tmp/lockable-run-$("$PG_CONFIG" --sharedir 2>/dev/null | sha256sum | cut -c1-12).lock"
flock 9

passed=0
failed=0
skipped=0
failed_names=()
skipped_names=()

# RunSuite NAME CMD...: run one suite, count it as passed, failed or
# skipped (exit status $SKIP).  A suite may write lines of its own for the
# summary (one per cell of django-lockable's matrix, say) to the file
# $LOCKABLE_SUITE_REPORT; they are printed under its server's line.
detail_lines=()
RunSuite() {
    local name=$1 rc=0 report line
    shift
    Say "suite: $name"
    report=$(mktemp /tmp/lockable-suite-report.XXXXXX)
    LOCKABLE_SUITE_REPORT=$report "$@" || rc=$?
    while IFS= read -r line; do detail_lines+=("    $name: $line"); done <"$report"
    rm -f "$report"
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "-- $name: passed"
    elif [ $rc -eq "$SKIP" ]; then
        skipped=$((skipped + 1))
        skipped_names+=("$name")
        echo "-- $name: skipped"
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

# RecordGroup LABEL: close the counts of one server (a line of the
# summary), adding them to the totals.
group_lines=()
total_passed=0
total_failed=0
total_skipped=0
RecordGroup() {
    local line="$1: $passed passed, $failed failed, $skipped skipped"
    [ $failed -eq 0 ] || line+=" (failed: ${failed_names[*]})"
    [ $skipped -eq 0 ] || line+=" (skipped: ${skipped_names[*]})"
    group_lines+=("$line" "${detail_lines[@]}")
    detail_lines=()
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    passed=0 failed=0 skipped=0 failed_names=() skipped_names=()
}

PrintSummary() {
    local line
    Say "summary"
    for line in "${group_lines[@]}"; do echo "$line"; done
    echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
}

# RunServerSuites SUITE...: build, install, and run regress, isolation and
# the given suites (paths) on a throwaway cluster of the server under test.
RunServerSuites() {
    local suite
    EnsureServer
    BuildAndInstall
    StartCluster
    RunSuite regress RegressSuite
    RunSuite isolation IsolationSuite
    for suite in "$@"; do
        [ -x "$suite" ] || continue
        RunSuite "$(basename "$suite" .sh)" "$suite"
    done
    StopCluster
    RecordGroup "$("$PG_CONFIG" --version)"
}

case "${1:-test}" in
test)
    RunServerSuites test/suites/*.sh
    if [ "$LOCKABLE_DEFAULT_SERVER" = 1 ] && [ "${LOCKABLE_MATRIX:-1}" != 0 ]; then
        # shellcheck source=versions/matrix.sh
        source test/versions/matrix.sh
        RunMatrix
    fi
    PrintSummary
    [ $total_failed -eq 0 ]
    ;;
core)
    counts=
    [ "${2:-}" = --counts ] && counts=$3
    core=()
    for suite in $CORE_SUITES; do core+=("test/suites/$suite.sh"); done
    RunServerSuites "${core[@]}"
    if [ -n "$counts" ]; then
        {
            echo "$total_passed $total_failed $total_skipped"
            echo "${group_lines[0]}"
        } >"$counts"
    fi
    PrintSummary
    [ $total_failed -eq 0 ]
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
    if [ "$LOCKABLE_DEFAULT_SERVER" = 1 ] && [ $# -eq 1 ] && [ "${LOCKABLE_MATRIX:-1}" != 0 ]; then
        # make bench: the full harness, then its core scenarios on 15 and 18
        test/bench/run.sh
        exec test/bench/versions.sh
    fi
    exec test/bench/run.sh "${@:2}"
    ;;
stress)
    EnsureServer
    BuildAndInstall
    exec test/stress/run.sh "${@:2}"
    ;;
bench-ab)
    exec test/bench/ab.sh "${@:2}"
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
    echo "usage: $0 test|core|demo|bench|bench-ab|stress|demo-web|bench-web" >&2
    exit 2
    ;;
esac
