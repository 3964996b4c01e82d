#!/usr/bin/env bash
# test/bench/ab.sh: two builds of lockable, A and B, measured against each
# other in one run (make bench-ab).
#
#   test/bench/ab.sh [--base REV] [--duration SECS] [--rounds N]
#                    [--scenarios NAME,...] [--b-options "-c name=value ..."]
#
# A is git revision REV (default: LOCKABLE_AB_BASE, else 1.3's last commit,
# 92360a6), B the working tree.  Both are built against one PostgreSQL 15,
# Debian's oldest packaged 15 unpacked (test/versions/servers.sh; 1.3 builds
# on 15 only), installed into two copies of it, and served by two
# throwaway clusters configured alike (fsync on, synchronous_commit off for
# the CPU cost).  Each scenario is run alternately, A B then B A, for
# --rounds rounds of --duration seconds (pgbench, 4 clients, prepared
# statements), and the median TPS of each is reported with the ratio B / A:
#
#   fresh     a fresh grant (lock_acquire of a released uid)
#   cycle     lock_acquire + lock_release
#   contended a try on 4 hot uids held by another owner
#   update-plain, update-versioned, update-enforced
#             the UPDATE scenarios, and within each build the ratios of the
#             triggers' UPDATEs to the plain one.
#
# --b-options are server options for B's calls only (PGOPTIONS); the
# default, "-c lockable.history=off", measures 1.4's other changes without
# its history, which 1.3 does not keep.  No target is checked: it prints figures for a person to read
# (issue 20's "a plain grant at most 3% slower" is read off the fresh line).
source "$(dirname "$0")/../lib.sh"
cd "$LOCKABLE_TOP"
# shellcheck source=../versions/servers.sh
source test/versions/servers.sh
# shellcheck source=../versions/matrix.sh
source test/versions/matrix.sh

base=${LOCKABLE_AB_BASE:-92360a6}
duration=${LOCKABLE_BENCH_DURATION:-5}
rounds=${LOCKABLE_BENCH_RUNS:-5}
only=
# 1.3 logs no history: compare like with like (--b-options '' for 1.4 as
# it ships)
b_options="-c lockable.history=off"
while [ $# -gt 0 ]; do
    case "$1" in
    --base) base=$2; shift ;;
    --duration) duration=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --scenarios) only=",$2,"; shift ;;
    --b-options) b_options=$2; shift ;;
    *) echo "usage: $0 [--base REV] [--duration SECS] [--rounds N] [--scenarios NAME,...] [--b-options OPTIONS]" >&2; exit 2 ;;
    esac
    shift
done
FRESH=100000
DOCS=10000
SCENARIOS="fresh:acquire cycle:cycle contended:contended update-plain:update-plain update-versioned:update-versioned update-enforced:update-enforced"

EnsurePackages make gcc
if ! EnsureOlderDebianServer 15; then
    echo "bench-ab: not run ($WHY)"
    exit 0
fi
work=$(mktemp -d /tmp/lockable-ab.XXXXXX)
chmod 755 "$work"
ports=()
Cleanup() {
    local side
    for side in a b; do
        [ -d "$work/$side/data" ] &&
            AsServerUser "$work/$side/root/usr/lib/postgresql/15/bin/pg_ctl" \
                -D "$work/$side/data" -m fast -w stop >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap Cleanup EXIT

# Build SIDE SOURCE-DIR: a copy of the server, lockable built into it, a
# cluster on a port of its own, and the bench database.
Build() {
    local side=$1 src=$2 root bin port
    root=$work/$side/root
    mkdir -p "$work/$side"
    cp -a "${OLDER_PG_CONFIG%/usr/lib/postgresql/15/bin/pg_config}" "$root"
    chmod -R a+rX "$work/$side"
    bin=$root/usr/lib/postgresql/15/bin
    (cd "$src" && make -s PG_CONFIG="$bin/pg_config" >/dev/null && make -s PG_CONFIG="$bin/pg_config" install >/dev/null) ||
        { echo "bench-ab: building $side failed" >&2; return 1; }
    port=$((20000 + RANDOM % 20000))
    [ "$(id -u)" = 0 ] && chown -R postgres: "$work/$side"
    AsServerUser "$bin/initdb" -D "$work/$side/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    AsServerUser "$bin/pg_ctl" -D "$work/$side/data" -l "$work/$side/server.log" -w \
        -o "-c listen_addresses='' -c unix_socket_directories='$work/$side' -c port=$port -c max_connections=50" \
        start >/dev/null
    P() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/$side" -p "$port" -U postgres "$@"; }
    P -d postgres -c "CREATE DATABASE bench"
    P -d bench -c "CREATE EXTENSION lockable"
    P -d bench -f test/bench/plpgsql_baseline.sql >/dev/null
    P -d bench -v fresh="$FRESH" -v docs="$DOCS" -f test/bench/setup.sql >/dev/null
    P -d bench -v docs="$DOCS" -f test/bench/setup_triggers.sql >/dev/null
    P -d bench -c "VACUUM ANALYZE"
    eval "PORT_$side=$port"
    eval "BIN_$side=$bin"
}

Say "A: $base, B: the working tree; PostgreSQL $("$OLDER_PG_CONFIG" --version)"
mkdir -p "$work/src-a" "$work/src-b"
git archive "$base" | tar -x -C "$work/src-a"
CopyTree "$work/src-b"
Build a "$work/src-a"
Build b "$work/src-b"

# Tps SIDE SCRIPT
Tps() {
    local side=$1 script=$2 port bin options
    eval "port=\$PORT_$side; bin=\$BIN_$side"
    options="-c synchronous_commit=off -c lockable.notify=off"
    [ "$side" = b ] && options+=" $b_options"
    [[ $script == update-* ]] && options+=" -c lockable.owner=app"
    PGOPTIONS="$options" "$bin/pgbench" -n -M prepared -c 4 -j 2 -T "$duration" \
        -h "$work/$side" -p "$port" -U postgres \
        -f "test/bench/scripts/$script.sql" -D fresh="$FRESH" -D docs="$DOCS" bench 2>&1 |
        sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p'
}

Median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A MED
for pair in $SCENARIOS; do
    name=${pair%%:*}
    script=${pair#*:}
    [ -z "$only" ] || [[ $only == *",$name,"* ]] || continue
    a=() b=()
    for ((r = 1; r <= rounds; r++)); do
        if ((r % 2)); then
            a+=("$(Tps a "$script")"); b+=("$(Tps b "$script")")
        else
            b+=("$(Tps b "$script")"); a+=("$(Tps a "$script")")
        fi
    done
    MED[$name,a]=$(Median "${a[@]}")
    MED[$name,b]=$(Median "${b[@]}")
    printf '%-18s A %s\n%-18s B %s\n' "$name" "${a[*]}" "" "${b[*]}" >&2
done

echo
echo "| scenario | A ($base) | B (working tree) | B / A |"
echo "|---|---:|---:|---:|"
for pair in $SCENARIOS; do
    name=${pair%%:*}
    [ -n "${MED[$name,a]:-}" ] || continue
    awk -v n="$name" -v a="${MED[$name,a]}" -v b="${MED[$name,b]}" \
        'BEGIN { printf "| %s | %.0f | %.0f | %.3f |\n", n, a, b, b / a }'
done
echo
[ -n "${MED[update-plain,a]:-}" ] && for side in a b; do
    awk -v s="$side" -v p="${MED[update-plain,$side]}" -v v="${MED[update-versioned,$side]}" \
        -v e="${MED[update-enforced,$side]}" \
        'BEGIN { printf "%s: UPDATE, version_check / plain %.2f, enforce_lock / plain %.2f\n", toupper(s), v / p, e / p }'
done
echo "(median of $rounds alternating runs of ${duration}s, 4 clients, synchronous_commit = off${b_options:+; B with $b_options})"
