#!/usr/bin/env bash
# Dump and restore: pg_dump a database with live locks and restore it into a
# new one, in custom format through pg_restore and in plain format through
# psql.  The live locks must come back as they were (same owners, tokens and
# expiry), and the next grant's token must be greater than every token ever
# handed out before the dump, also those whose rows lock_sweep had deleted:
# the token counter is dumped with the data (pg_extension_config_dump).
source "$(dirname "$0")/../lib.sh"

src=lockable_dump_src
work=$(mktemp -d)
chmod 755 "$work"
dbs=("$src")
Cleanup() {
    local db
    for db in "${dbs[@]}"; do dropdb --if-exists "$db" 2>/dev/null; done
    rm -rf "$work"
}
trap Cleanup EXIT

Q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
failed=0
Check() {   # Check LABEL WANT GOT
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        echo "FAIL: $1: expected \"$2\", got \"$3\""
        failed=1
    fi
}

createdb "$src"
Q "$src" >/dev/null <<'SQL'
CREATE EXTENSION lockable;
-- live locks
SELECT granted FROM lockable.lock_acquire('doc:1', 'alice', '1 hour');
SELECT granted FROM lockable.lock_acquire('doc:2', 'bob', '2 hours');
-- a released lock keeps its row
SELECT granted FROM lockable.lock_acquire('doc:3', 'carol');
SELECT lockable.lock_release('doc:3', 'carol');
-- many grants whose rows are then swept away: the counter remembers them
SELECT count(*) FROM (
    SELECT lockable.lock_acquire('churn:' || i, 'dave'),
           lockable.lock_release('churn:' || i, 'dave')
      FROM generate_series(1, 200) AS i) AS s;
SELECT lockable.lock_sweep();
SQL

# the highest token ever handed out, and the table as it is now
max_before=$(Q "$src" -c "SELECT last_value FROM lockable.token_seq")
max_in_table=$(Q "$src" -c "SELECT max(token) FROM lockable.locks")
rows_before=$(Q "$src" -c "SELECT uid, owner, token, acquired_at, expires_at
                             FROM lockable.locks ORDER BY uid")
live_before=$(Q "$src" -c "SELECT uid, owner, token FROM lockable.active_locks ORDER BY uid")
echo "before the dump: $(wc -l <<<"$rows_before") rows, $(wc -l <<<"$live_before") live locks," \
    "highest token in the table $max_in_table, highest token ever $max_before"

pg_dump -Fc -f "$work/dump.custom" "$src"
pg_dump -Fp -f "$work/dump.sql" "$src"
Check "the plain dump sets the token counter" 1 \
    "$(grep -c "setval('lockable.token_seq', $max_before, true)" "$work/dump.sql")"

Verify() {  # Verify DB ROUTE
    local db=$1 route=$2
    Check "$route: rows kept" "$rows_before" \
        "$(Q "$db" -c "SELECT uid, owner, token, acquired_at, expires_at
                         FROM lockable.locks ORDER BY uid")"
    Check "$route: live locks kept" "$live_before" \
        "$(Q "$db" -c "SELECT uid, owner, token FROM lockable.active_locks ORDER BY uid")"
    Check "$route: holder still verified" t \
        "$(Q "$db" -c "SELECT lockable.lock_verify('doc:1', 'alice', token)
                         FROM lockable.active_locks WHERE uid = 'doc:1'")"
    Check "$route: another owner refused" "f|alice" \
        "$(Q "$db" -c "SELECT granted, owner FROM lockable.lock_acquire('doc:1', 'mallory')")"
    Check "$route: renewal keeps the token" "t|t" \
        "$(Q "$db" -c "SELECT granted, token = $(Q "$db" -c "SELECT token FROM lockable.locks WHERE uid = 'doc:2'")
                         FROM lockable.lock_acquire('doc:2', 'bob')")"
    local next
    next=$(Q "$db" -c "SELECT token FROM lockable.lock_acquire('doc:3', 'erin')")
    Check "$route: next token $next > highest before the dump $max_before" t \
        "$([ -n "$next" ] && [ "$next" -gt "$max_before" ] && echo t || echo f)"
    next=$(Q "$db" -c "SELECT token FROM lockable.lock_acquire('doc:new', 'erin')")
    Check "$route: token of a new uid $next > $max_before" t \
        "$([ -n "$next" ] && [ "$next" -gt "$max_before" ] && echo t || echo f)"
}

dbs+=(lockable_dump_custom lockable_dump_plain)
createdb lockable_dump_custom
pg_restore --exit-on-error -d lockable_dump_custom "$work/dump.custom"
Verify lockable_dump_custom "pg_restore (custom format)"

createdb lockable_dump_plain
Q lockable_dump_plain -f "$work/dump.sql" >/dev/null
Verify lockable_dump_plain "psql (plain format)"

[ $failed -eq 0 ] && echo "dump and restore: live locks and token counter kept"
exit $failed
