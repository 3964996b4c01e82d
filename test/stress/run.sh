#!/usr/bin/env bash
# test/stress/run.sh: the long mutual-exclusion hammer ("make stress").
#
#   make stress                                  defaults below
#   STRESS_CLIENTS=64 STRESS_SECONDS=600 make stress
#   test/run.sh stress --clients 64 --seconds 600 --uids 2 --ttl '50 ms' \
#                      --hold-ms 100
#
# Runs test/reliability/hammer.pl on a throwaway cluster, first in exclusion
# form (every section guarded and checked for overlap), then in takeover
# form (short leases that run out under their holders), with fenced writes
# through enforce_lock when the installed lockable has it.  --ttl and
# --hold-ms apply to the takeover form; the exclusion form keeps a lease far
# longer than its section.  Prints the figures; exits non-zero on any
# violation.  test/run.sh has already built and installed lockable and holds
# the machine-wide run lock.
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl

clients=${STRESS_CLIENTS:-64}
seconds=${STRESS_SECONDS:-300}
uids=${STRESS_UIDS:-4}
ttl=${STRESS_TTL:-40 milliseconds}
hold_ms=${STRESS_HOLD_MS:-80}
while [ $# -gt 0 ]; do
    case $1 in
    --clients) clients=$2 ;;
    --seconds) seconds=$2 ;;
    --uids) uids=$2 ;;
    --ttl) ttl=$2 ;;
    --hold-ms) hold_ms=$2 ;;
    *)
        echo "usage: $0 [--clients N] [--seconds S] [--uids U] [--ttl INTERVAL] [--hold-ms MS]" >&2
        exit 2
        ;;
    esac
    shift 2
done

StartCluster "max_connections = $((clients + 20))"
createdb lockable_stress
psql -X -q -d lockable_stress -c 'CREATE EXTENSION lockable'
export PGDATABASE=lockable_stress
fenced=()
if [ "$(psql -X -At -c "SELECT to_regproc('lockable.enable_lock_enforcement') IS NOT NULL")" = t ]; then
    fenced=(--fenced)
fi

hammer="$LOCKABLE_TOP/test/reliability/hammer.pl"
rc=0
Say "stress: exclusion, $clients clients, $uids uids, $seconds s"
perl "$hammer" --mode exclusion --clients "$clients" --uids "$uids" \
    --seconds "$seconds" || rc=1
Say "stress: takeover, $clients clients, $uids uids, ttl $ttl, hold up to $hold_ms ms, $seconds s"
perl "$hammer" --mode takeover --clients "$clients" --uids "$uids" \
    --seconds "$seconds" --ttl "$ttl" --hold-ms "$hold_ms" "${fenced[@]}" || rc=1
StopCluster
[ $rc -eq 0 ] && echo "stress: no violation" || echo "stress: FAILED"
exit $rc
