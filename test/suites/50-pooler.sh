#!/usr/bin/env bash
# Through a connection pooler: PgBouncer in pool_mode = transaction on a
# loopback port, rotating over its server connections, so that consecutive
# calls of one client run on different backends.  lockable keeps no session
# state, so:
#   1. the core session (test/reliability/pooled-session.sql) prints exactly
#      the same through PgBouncer as directly, while its statements ran on
#      several backends;
#   2. the mutual-exclusion hammer, with more clients than server
#      connections, finds no violation.
source "$(dirname "$0")/../lib.sh"
EnsurePackages pgbouncer libdbd-pg-perl

work=$(mktemp -d /tmp/lockable-pgbouncer.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" = 0 ] && chown postgres: "$work"
Cleanup() {
    # stop the PgBouncer we started, by its pid
    if [ -s "$work/pgbouncer.pid" ]; then
        kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -e "$work/pgbouncer.pid" ] || break
            sleep 0.1
        done
    fi
    dropdb --if-exists lockable_direct 2>/dev/null
    dropdb --if-exists lockable_pooled 2>/dev/null
    rm -rf "$work"
}
trap Cleanup EXIT

createdb lockable_direct
createdb lockable_pooled
psql -X -q -d lockable_direct -c 'CREATE EXTENSION lockable'
psql -X -q -d lockable_pooled -c 'CREATE EXTENSION lockable'

pool_size=4
# a loopback port that is free now (the kernel picks it)
port=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport')
AsServerUser tee "$work/pgbouncer.ini" >/dev/null <<INI
[databases]
lockable_pooled = host=$PGHOST port=$PGPORT dbname=lockable_pooled user=$PGUSER

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = $pool_size
min_pool_size = $pool_size
server_round_robin = 1
max_client_conn = 200
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
AsServerUser pgbouncer -d -q "$work/pgbouncer.ini"
for _ in $(seq 100); do
    psql -X -q -h 127.0.0.1 -p "$port" -d lockable_pooled -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
done
# Open every server connection of the pool now (min_pool_size fills it only
# in the background), so that the session below really rotates over them.
for _ in $(seq $pool_size); do
    psql -X -q -h 127.0.0.1 -p "$port" -d lockable_pooled -c 'SELECT pg_sleep(0.3)' >/dev/null &
done
wait

failed=0
session="$LOCKABLE_TOP/test/reliability/pooled-session.sql"

# Session ROUTE-ARGS...: run the core session, with a waiting acquire by
# bob in the background that alice's last statement lets through.
Session() {
    psql -X -q -At -c "SELECT granted FROM lockable.lock_acquire('doc:7', 'alice')" "$@" >/dev/null
    psql -X -q -At -c "SELECT granted, owner FROM lockable.lock_acquire('doc:7', 'bob', '1 minute', '1 minute')" \
        "$@" >"$work/waiter.out" &
    local waiter=$!
    psql -X -a -v ON_ERROR_STOP=0 -f "$session" "$@" 2>&1
    wait $waiter
    echo "-- the waiter got: $(cat "$work/waiter.out")"
}
Session -d lockable_direct >"$work/direct.out"
Session -h 127.0.0.1 -p "$port" -d lockable_pooled >"$work/pooled.out"

if diff -u "$work/direct.out" "$work/pooled.out"; then
    echo "core session: same output directly and through PgBouncer ($(grep -c '^SELECT' "$work/direct.out") statements)"
else
    echo "FAIL: the core session differs through PgBouncer"
    failed=1
fi
grep -q -- '-- the waiter got: t|bob' "$work/pooled.out" || {
    echo "FAIL: the waiting acquire did not get the lock"
    failed=1
}
backends=$(psql -X -At -d lockable_pooled -c 'SELECT count(DISTINCT pid) FROM pooled.seen')
calls=$(psql -X -At -d lockable_pooled -c 'SELECT count(*) FROM pooled.seen')
echo "core session through PgBouncer: $calls calls ran on $backends backends"
[ "$backends" -gt 1 ] || {
    echo "FAIL: the pooled session ran on one backend only: pooling was not exercised"
    failed=1
}

# The hammer through the pooler: 16 clients share $pool_size connections.
perl "$LOCKABLE_TOP/test/reliability/hammer.pl" --mode exclusion \
    --clients 16 --uids 4 --seconds 10 --wait 0 \
    --dsn "dbi:Pg:host=127.0.0.1;port=$port;dbname=lockable_pooled" \
    --no-server-prepare || failed=1

exit $failed
