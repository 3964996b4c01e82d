#!/usr/bin/env bash
# test/demo.sh: the scripted session behind "make demo".
#
# Runs against the throwaway cluster test/run.sh started (PGHOST etc. are
# exported).  Alice and Bob edit the same document: contention, renewal,
# expiry and takeover with a higher token, a release with the notification
# it sends, and a waiting acquire that gets the lock when the holder lets go.
# Then the waiting line: Carol and Dave queue behind Bob; Bob closes the
# editor and Carol is handed the lock; Carol's laptop sleeps, her lease runs
# out, and Dave's next heartbeat finds him the holder.
set -euo pipefail

Psql() { psql -X -q -v ON_ERROR_STOP=1 --pset=footer=off "$@"; }
Step() { printf '\n-- %s\n' "$*"; }

Psql -c "CREATE DATABASE demo" >/dev/null
export PGDATABASE=demo
Psql -c "CREATE EXTENSION lockable"

Step "Alice opens document 42 in the editor: she gets the lock and fencing token 1"
Psql -c "SELECT granted, owner, token, expires_at - acquired_at AS lease
           FROM lockable.lock_acquire('doc:42', 'alice', '2 seconds')"

Step "Bob opens it too: refused, and told who is editing and until when"
Psql -c "SELECT granted, owner AS held_by, token, expires_at > clock_timestamp() AS still_held
           FROM lockable.lock_acquire('doc:42', 'bob')"

Step "Alice's editor sends a heartbeat: acquiring again renews the lease (same token)"
Psql -c "SELECT granted, owner, token FROM lockable.lock_acquire('doc:42', 'alice', '2 seconds')"

Step "Alice's laptop goes to sleep; her lease runs out (the database clock decides)"
sleep 2.5
Psql -c "SELECT lockable.lock_owner('doc:42') AS owner_now"

Step "Bob takes over: a fresh grant with a higher fencing token"
Psql -c "SELECT granted, owner, token FROM lockable.lock_acquire('doc:42', 'bob', '1 minute')"

Step "Alice wakes up: her release is refused, and her old token no longer verifies"
Psql -c "SELECT lockable.lock_release('doc:42', 'alice') AS alice_released,
                lockable.lock_verify('doc:42', 'alice', 1) AS alice_token_valid,
                lockable.lock_verify('doc:42', 'bob', 2) AS bob_token_valid"

Step "Carol waits up to 10 s for the document while a listener watches channel \"lockable\""
notify_log=$(mktemp)
waiter_log=$(mktemp)
# The listener stays connected for 2 s and prints what arrives on the channel.
Psql -c "LISTEN lockable" -c "SELECT pg_sleep(2)" >"$notify_log" 2>&1 &
listener=$!
Psql -c "SELECT granted, owner, token,
                round(extract(epoch FROM clock_timestamp() - statement_timestamp())::numeric, 1) AS waited_s
           FROM lockable.lock_acquire('doc:42', 'carol', '1 minute', '10 seconds')" \
    >"$waiter_log" 2>&1 &
waiter=$!
sleep 1

Step "Bob saves and closes the editor: he releases the lock"
Psql -c "SELECT lockable.lock_release('doc:42', 'bob') AS bob_released"

wait "$waiter"
Step "Carol, who was waiting, gets the lock as soon as Bob lets go"
cat "$waiter_log"

wait "$listener"
Step "What the listener received (payloads are JSON)"
sed -n 's/^Asynchronous notification "lockable" with payload "\(.*\)" received from server process.*/\1/p' \
    "$notify_log"

Step "Live locks"
Psql -c "SELECT uid, owner, token, remaining > interval '0' AS live FROM lockable.active_locks"

Step "The waiting line: Bob edits doc:7; Carol and Dave open it too and queue (queue => true)"
# A listener for the whole scene, in the background.
Psql -c "LISTEN lockable" -c "SELECT pg_sleep(6)" >"$notify_log" 2>&1 &
listener=$!
sleep 0.5
Psql -c "SELECT granted, owner, token FROM lockable.lock_acquire('doc:7', 'bob', '1 minute')"
Psql -c "SELECT granted, owner AS held_by, waiters, position
           FROM lockable.lock_acquire('doc:7', 'carol', '2 seconds', queue => true)"
Psql -c "SELECT granted, owner AS held_by, waiters, position
           FROM lockable.lock_acquire('doc:7', 'dave', '1 minute', queue => true)"
Psql -c "SELECT uid, owner, position FROM lockable.lock_queue ORDER BY position"

Step "Their editors send heartbeats: calling again keeps each place, and its position"
Psql -c "SELECT owner AS held_by, waiters, position
           FROM lockable.lock_acquire('doc:7', 'dave', '1 minute', queue => true)"

Step "Bob closes the editor: the release hands the lock to Carol in the same transaction"
Psql -c "SELECT lockable.lock_release('doc:7', 'bob') AS bob_released"
Psql -c "SELECT uid, owner, token, waiters FROM lockable.active_locks WHERE uid = 'doc:7'"

Step "Carol's heartbeat finds her the holder (a renewal: same token)"
Psql -c "SELECT granted, owner, token FROM lockable.lock_acquire('doc:7', 'carol', '2 seconds', queue => true)"

Step "Carol's laptop goes to sleep; her 2-second lease runs out, and nobody else calls"
sleep 2.5
Psql -c "SELECT lockable.lock_owner('doc:7') AS owner_now"

Step "Dave's next heartbeat hands the expired lock on, to him: the head of the line"
Psql -c "SELECT granted, owner, token, waiters, position
           FROM lockable.lock_acquire('doc:7', 'dave', '1 minute', queue => true)"

wait "$listener"
Step "What the listener received during the scene"
sed -n 's/^Asynchronous notification "lockable" with payload "\(.*\)" received from server process.*/\1/p' \
    "$notify_log"

rm -f "$notify_log" "$waiter_log"
printf '\ndemo finished\n'
