#!/usr/bin/env bash
# test/versions/pg-upgrade.sh OLD_PG_CONFIG NEW_PG_CONFIG: pg_upgrade of a
# cluster that uses lockable, from one major version to another (the
# matrix runs it from 15 to 18), keeps every lock, every line and the token
# counter.  lockable must be installed in both installations (the matrix
# has installed it by then).
#
# On the old cluster: live locks held by alice (doc:1) and dave (doc:2),
# bob and carol waiting in doc:1's line, a released lock (doc:3), and a
# token counter moved on by 200 grants.  pg_upgrade (copy mode) to a new
# cluster of the new version; on it, checked:
#   - the same holders with the same tokens and lease ends, the same places
#     in the same order, lock_verify true for the live grants;
#   - the next token is above every earlier one, and the hand-off of
#     alice's release goes to bob with a new token above it;
#   - ALTER EXTENSION lockable UPDATE has nothing to do; amcheck is clean
#     on lockable's tables.
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl

old_config=$1
new_config=$2
old_bin=$("$old_config" --bindir)
new_bin=$("$new_config" --bindir)
new_major=$("$new_config" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')

work=$(mktemp -d /tmp/lockable-pg-upgrade.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" = 0 ] && chown postgres: "$work"
port=$((20000 + RANDOM % 20000))
Cleanup() {
    AsServerUser "$old_bin/pg_ctl" -D "$work/old" -m immediate -w stop >/dev/null 2>&1 || true
    AsServerUser "$new_bin/pg_ctl" -D "$work/new" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
[ -n "${KEEP:-}" ] || trap Cleanup EXIT

Start() {
    local bin=$1 data=$2
    AsServerUser "$bin/pg_ctl" -D "$data" -l "$work/$(basename "$data").log" \
        -o "-c listen_addresses='' -c unix_socket_directories='$work' -c port=$port" \
        -w start >/dev/null || {
        cat "$work/$(basename "$data").log"
        return 1
    }
}
Stop() {
    AsServerUser "$1/pg_ctl" -D "$2" -m fast -w stop >/dev/null
}
Q() {
    "$new_bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres -d app "$@"
}

# Data checksums: off in the old cluster (15's default); 18 turns them on
# by default, and pg_upgrade needs both alike.
checksums=
[ "$new_major" -ge 18 ] && checksums=--no-data-checksums
AsServerUser "$old_bin/initdb" -D "$work/old" -U postgres --auth=trust -E UTF8 --locale=C >"$work/initdb-old.log"
AsServerUser "$new_bin/initdb" -D "$work/new" -U postgres --auth=trust -E UTF8 --locale=C \
    $checksums >"$work/initdb-new.log"

Start "$old_bin" "$work/old"
"$old_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres -d postgres \
    -c 'CREATE DATABASE app'
"$old_bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres -d app >/dev/null <<'SQL'
CREATE EXTENSION lockable;
SELECT count(*) FROM (SELECT lockable.lock_acquire('warm:' || i, 'w', '1 minute')
                        FROM generate_series(1, 200) i) s;
SELECT lockable.lock_release_all('w');
SELECT granted FROM lockable.lock_acquire('doc:1', 'alice', '2 hours');
SELECT position FROM lockable.lock_acquire('doc:1', 'bob', '2 hours', queue => true);
SELECT position FROM lockable.lock_acquire('doc:1', 'carol', '2 hours', queue => true);
SELECT granted FROM lockable.lock_acquire('doc:2', 'dave', '2 hours');
SELECT granted FROM lockable.lock_acquire('doc:3', 'erin', '2 hours');
SELECT lockable.lock_release('doc:3', 'erin');
SQL
snapshot_sql="SELECT uid, owner, token, expires_at FROM lockable.locks
                WHERE uid LIKE 'doc:%' ORDER BY uid;
              SELECT uid, owner, seq, expires_at FROM lockable.places ORDER BY uid, seq;
              SELECT max(token) FROM lockable.locks;"
before=$("$old_bin/psql" -X -q -At -h "$work" -p "$port" -U postgres -d app -c "$snapshot_sql")
old_version=$("$old_bin/psql" -X -q -At -h "$work" -p "$port" -U postgres -d app -c 'SHOW server_version')
Stop "$old_bin" "$work/old"

Say "pg_upgrade from $old_version to $("$new_config" --version)"
(cd "$work" && AsServerUser "$new_bin/pg_upgrade" -b "$old_bin" -B "$new_bin" \
    -d "$work/old" -D "$work/new" -p "$port" -P "$port" -s "$work" >"$work/pg_upgrade.log" 2>&1) || {
    cat "$work/pg_upgrade.log"
    find "$work/new" -path '*pg_upgrade_output.d*' -name '*.log' -exec tail -n 20 {} + 2>/dev/null
    exit 1
}
echo "pg_upgrade: done"

Start "$new_bin" "$work/new"
failed=0
Check() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        echo "FAIL: $1"
        echo "  got:  $2"
        echo "  want: $3"
        failed=1
    fi
}

after=$(Q -c "$snapshot_sql")
Check "holders, tokens, lease ends and places are the old cluster's" "$after" "$before"
max_token=$(Q -c 'SELECT max(token) FROM lockable.locks')
Check "lock_verify of alice's and dave's grants" \
    "$(Q -c "SELECT lockable.lock_verify(uid, owner, token) FROM lockable.locks
              WHERE uid IN ('doc:1', 'doc:2') ORDER BY uid" | tr '\n' ' ')" "t t "
Check "bob is first and carol second in doc:1's line" \
    "$(Q -c "SELECT string_agg(owner || '=' || position, ' ' ORDER BY position)
              FROM lockable.lock_queue WHERE uid = 'doc:1'")" "bob=1 carol=2"
new_token=$(Q -c "SELECT token FROM lockable.lock_acquire('doc:new', 'frank', '1 minute')")
Check "a new grant's token ($new_token) is above every earlier one ($max_token)" \
    "$([ "$new_token" -gt "$max_token" ] && echo yes)" yes
Q -c "SELECT lockable.lock_release('doc:1', 'alice')" >/dev/null
Check "alice's release hands doc:1 to bob, with a token above the new grant's" \
    "$(Q -c "SELECT owner, token > $new_token FROM lockable.locks WHERE uid = 'doc:1'")" "bob|t"
Q -c 'ALTER EXTENSION lockable UPDATE' 2>/dev/null
Check "ALTER EXTENSION lockable UPDATE runs, and the version is the default one" \
    "$(Q -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockable'")" \
    "$(Q -c "SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'lockable'")"
Check "amcheck on lockable's tables and indexes" \
    "$(Q -c 'CREATE EXTENSION amcheck' -c "
        SELECT count(*) FROM (
          SELECT bt_index_check(c.oid, true)
            FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid IN ('lockable.locks'::regclass, 'lockable.places'::regclass)
          UNION ALL
          SELECT NULL FROM verify_heapam('lockable.locks')
          UNION ALL
          SELECT NULL FROM verify_heapam('lockable.places')) s" 2>&1)" \
    "$(Q -c "SELECT count(*) FROM pg_catalog.pg_index
              WHERE indrelid IN ('lockable.locks'::regclass, 'lockable.places'::regclass)")"
Stop "$new_bin" "$work/new"
exit $failed
