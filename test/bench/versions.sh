#!/usr/bin/env bash
# test/bench/versions.sh: make bench's core scenarios on PostgreSQL 15 and
# 18 in one run, as ratios (issue 18).
#
#   test/bench/versions.sh [--duration SECS] [--runs N]
#
# Runs test/bench/run.sh --only fresh,cycle,update (no scale check, no
# waits) on Debian 12's PostgreSQL 15, then on PostgreSQL 18 (built once
# from LOCKABLE_PG18_SRC by test/versions/servers.sh, lockable built in a
# copy of the tree), each on a throwaway cluster of its own, and prints one
# table: per synchronous_commit setting, lockable's fresh grant and cycle
# against the PL/pgSQL baseline and the raw upsert, and the UPDATE of a
# versioned and of an enforced row against a plain one, on each server.
# Ratios within one server are what compare across servers: a machine that
# drifts between the two runs moves both sides of a ratio alike.  No target
# is checked.  Without a PostgreSQL 18 it prints why and exits 0.
source "$(dirname "$0")/../lib.sh"
cd "$LOCKABLE_TOP"
# shellcheck source=../versions/servers.sh
source test/versions/servers.sh

duration=${LOCKABLE_BENCH_DURATION:-4}
runs=${LOCKABLE_BENCH_RUNS:-3}
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) duration=$2; shift ;;
    --runs) runs=$2; shift ;;
    *) echo "usage: $0 [--duration SECS] [--runs N]" >&2; exit 2 ;;
    esac
    shift
done

rc=0
EnsureSourceServer "${LOCKABLE_PG18_SRC:-}" || rc=$?
if [ $rc -ne 0 ]; then
    echo "PostgreSQL 18 against 15: not run ($WHY)"
    exit 0
fi

work=$(mktemp -d /tmp/lockable-bench-versions.XXXXXX)
trap 'rm -rf "$work"' EXIT
args=(--only fresh,cycle,update --no-scale --duration "$duration" --runs "$runs")

Say "bench on $("$PG_CONFIG" --version)"
test/bench/run.sh "${args[@]}" 2>"$work/15.log" >/dev/null || { cat "$work/15.log" >&2; exit 1; }
mkdir "$work/tree"
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work/tree"
Say "bench on $("$SOURCE_PG_CONFIG" --version)"
(cd "$work/tree" && env -u PG_MAJOR PG_CONFIG="$SOURCE_PG_CONFIG" test/run.sh bench "${args[@]}") \
    2>"$work/18.log" >/dev/null || { cat "$work/18.log" >&2; exit 1; }

# The medians run.sh reports: "SYNC SCENARIO SYSTEM median TPS runs: ...".
python3 - "$work/15.log" "$work/18.log" "$("$PG_CONFIG" --version)" "$("$SOURCE_PG_CONFIG" --version)" <<'PY'
import re
import sys

def medians(path):
    found = {}
    for line in open(path):
        m = re.match(r"^(off|on)\s+(\S+)\s+(\S+)\s+median\s+([0-9.]+)", line)
        if m:
            found[(m[1], m[2], m[3])] = float(m[4])
    return found

a, b = medians(sys.argv[1]), medians(sys.argv[2])
ratios = [
    ("fresh grant: C / PL/pgSQL", "fresh", "acquire", "plpgsql-acquire"),
    ("fresh grant: C / raw upsert", "fresh", "acquire", "upsert-acquire"),
    ("cycle: C / PL/pgSQL", "cycle", "cycle", "plpgsql-cycle"),
    ("cycle: C / raw upsert", "cycle", "cycle", "upsert-cycle"),
    ("UPDATE, version_check / plain", "update", "update-versioned", "update-plain"),
    ("UPDATE, enforce_lock / plain", "update", "update-enforced", "update-plain"),
    ("UPDATE, enforce_lock on a free row / plain", "update", "update-enforced-free", "update-plain"),
]
print()
print(f"| scenario | synchronous_commit | {sys.argv[3].split(' (')[0]} | {sys.argv[4]} |")
print("|---|---|---:|---:|")
missing = False
for sync in ("off", "on"):
    for label, scenario, num, den in ratios:
        cells = []
        for m in (a, b):
            try:
                cells.append(f"{m[(sync, scenario, num)] / m[(sync, scenario, den)]:.2f}")
            except KeyError:
                cells.append("n/a")
                missing = True
        print(f"| {label} | {sync} | {cells[0]} | {cells[1]} |")
for sync in ("off", "on"):
    print(f"\nlockable's fresh grant, transactions per second, synchronous_commit = {sync}: "
          f"{a.get((sync, 'fresh', 'acquire'), 0):.0f} on 15, {b.get((sync, 'fresh', 'acquire'), 0):.0f} on 18")
sys.exit(1 if missing else 0)
PY
