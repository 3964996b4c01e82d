--
-- queue: the waiting line.  Owners queue for a held lock with
-- queue => true, renew their places as holders renew locks, and are handed
-- the lock in line order when it ends or expires; nobody barges ahead.
--
DELETE FROM lockable.locks;
DELETE FROM lockable.places;

-- Joining.  Alice edits; Bob and Carol open the editor too.
SELECT granted, owner, waiters, position FROM lockable.lock_acquire('q:1', 'alice', '1 hour');
SELECT granted, owner, token, waiters, position
  FROM lockable.lock_acquire('q:1', 'bob', '2 minutes', queue => true);
SELECT granted, owner, token, waiters, position
  FROM lockable.lock_acquire('q:1', 'carol', '3 minutes', queue => true);
-- the view shows the live places in line order
SELECT uid, owner, position, expires_at > queued_at AS live FROM lockable.lock_queue ORDER BY position;
SELECT uid, owner, waiters FROM lockable.active_locks WHERE uid = 'q:1';

-- A waiter renews its place by calling again: the place keeps its position
-- and lasts ttl from this call.
SELECT queued_at AS bob_queued, expires_at AS bob_expires
  FROM lockable.lock_queue WHERE owner = 'bob' \gset
SELECT granted, waiters, position FROM lockable.lock_acquire('q:1', 'bob', '5 minutes', queue => true);
SELECT position, queued_at = :'bob_queued' AS same_place, expires_at > :'bob_expires' AS renewed
  FROM lockable.lock_queue WHERE owner = 'bob';

-- Without queue, a waiter is still told its position; a stranger has none,
-- and is refused without taking a place.
SELECT granted, owner, waiters, position FROM lockable.lock_acquire('q:1', 'carol');
SELECT granted, owner, waiters, position FROM lockable.lock_acquire('q:1', 'dave');
SELECT count(*) AS places FROM lockable.lock_queue WHERE uid = 'q:1';

-- The holder calling with queue renews its lock as usual.
SELECT granted, owner, waiters, position FROM lockable.lock_acquire('q:1', 'alice', '1 hour', queue => true);

-- Hand-off on release: in the same transaction the lock goes to the head of
-- the line, with a new token, acquired_at now and the ttl Bob last asked for
-- (5 minutes); his place is gone and Carol moves up.
SELECT token AS alice_token, clock_timestamp() AS before_release
  FROM lockable.locks WHERE uid = 'q:1' \gset
SELECT lockable.lock_release('q:1', 'alice');
SELECT owner, token > :alice_token AS new_token,
       expires_at - acquired_at AS lease,
       acquired_at > :'before_release' AS acquired_at_release
  FROM lockable.locks WHERE uid = 'q:1';
SELECT lockable.lock_owner('q:1');
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:1';

-- No barging: while the line has a live place, only its head may take the
-- lock.  Here it is held, so Dave is refused, and with queue joins the end.
SELECT granted, owner, waiters, position FROM lockable.lock_acquire('q:1', 'dave', queue => true);
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:1' ORDER BY position;

-- Leaving.  lock_release gives up a place (true); the others move up.
SELECT lockable.lock_release('q:1', 'carol');
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:1';
-- nothing to give up: false
SELECT lockable.lock_release('q:1', 'carol');
SELECT lockable.lock_release('q:1', 'erin');

-- Bob releases with nobody but Dave waiting: Dave gets it; then Dave
-- releases with nobody waiting: the lock is free.
SELECT lockable.lock_release('q:1', 'bob');
SELECT lockable.lock_owner('q:1');
SELECT lockable.lock_release('q:1', 'dave');
SELECT lockable.lock_owner('q:1'), count(*) AS places
  FROM lockable.places WHERE uid = 'q:1';
SELECT places, last_place FROM lockable.locks WHERE uid = 'q:1';

-- A place that is not renewed lapses: it is skipped (no position, not
-- counted), removed when found, and its owner, calling again, queues anew
-- at the end.
SELECT granted FROM lockable.lock_acquire('q:2', 'alice', '1 hour');
SELECT position FROM lockable.lock_acquire('q:2', 'bob', '50 milliseconds', queue => true);
SELECT position FROM lockable.lock_acquire('q:2', 'carol', '1 hour', queue => true);
SELECT pg_sleep(0.1);
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:2';
SELECT uid, waiters FROM lockable.active_locks WHERE uid = 'q:2';
SELECT granted, waiters, position FROM lockable.lock_acquire('q:2', 'bob', '1 hour', queue => true);
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:2' ORDER BY position;
-- the release hands the lock to Carol, who is now first
SELECT lockable.lock_release('q:2', 'alice');
SELECT lockable.lock_owner('q:2');
-- a lapsed place is removed by the hand-off that skips it, and giving it up
-- returns false
SELECT position FROM lockable.lock_acquire('q:2', 'dave', '50 milliseconds', queue => true);
SELECT pg_sleep(0.1);
SELECT lockable.lock_release('q:2', 'dave');
SELECT count(*) AS dave_places FROM lockable.places WHERE owner = 'dave';
SELECT lockable.lock_release('q:2', 'carol');
SELECT lockable.lock_owner('q:2');
SELECT lockable.lock_release('q:2', 'bob');

-- Hand-off on expiry.  Alice's lease runs out while Bob waits: the lock
-- belongs to the line.  The read-only calls report no holder and hand
-- nothing on; the next call that writes on the uid hands it to Bob first,
-- then does its own work: a stranger is refused (and joins with queue).
SELECT granted FROM lockable.lock_acquire('q:3', 'alice', '50 milliseconds');
SELECT position FROM lockable.lock_acquire('q:3', 'bob', '1 hour', queue => true);
SELECT pg_sleep(0.1);
SELECT lockable.lock_owner('q:3');
SELECT count(*) AS live_locks FROM lockable.active_locks WHERE uid = 'q:3';
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:3';
SELECT granted, owner, waiters, position FROM lockable.lock_acquire('q:3', 'erin');
SELECT lockable.lock_owner('q:3');
SELECT expires_at - acquired_at AS lease FROM lockable.locks WHERE uid = 'q:3';
-- the head's own call takes it, with the ttl it asks for now
SELECT lockable.lock_release('q:3', 'bob');
SELECT granted FROM lockable.lock_acquire('q:3', 'alice', '50 milliseconds');
SELECT position FROM lockable.lock_acquire('q:3', 'bob', '1 hour', queue => true);
SELECT pg_sleep(0.1);
SELECT granted, owner, waiters, position, expires_at - acquired_at AS lease
  FROM lockable.lock_acquire('q:3', 'bob', '2 hours', queue => true);
SELECT lockable.lock_release('q:3', 'bob');
-- the expired holder's release hands it on and releases nothing: false
SELECT granted FROM lockable.lock_acquire('q:3', 'alice', '50 milliseconds');
SELECT position FROM lockable.lock_acquire('q:3', 'carol', '1 hour', queue => true);
SELECT pg_sleep(0.1);
SELECT lockable.lock_release('q:3', 'alice');
SELECT lockable.lock_owner('q:3');
-- a break of an expired lock hands it on too, and breaks nothing: false
SELECT granted FROM lockable.lock_acquire('q:4', 'alice', '50 milliseconds');
SELECT position FROM lockable.lock_acquire('q:4', 'bob', '1 hour', queue => true);
SELECT pg_sleep(0.1);
SELECT lockable.lock_break('q:4');
SELECT lockable.lock_owner('q:4');
-- a break of a live lock hands it to the head
SELECT position FROM lockable.lock_acquire('q:4', 'carol', '1 hour', queue => true);
SELECT lockable.lock_break('q:4');
SELECT lockable.lock_owner('q:4');
-- the head leaving an expired lock's line: the lock goes to the next one
SELECT granted FROM lockable.lock_acquire('q:5', 'alice', '50 milliseconds');
SELECT position FROM lockable.lock_acquire('q:5', 'bob', '1 hour', queue => true);
SELECT position FROM lockable.lock_acquire('q:5', 'carol', '1 hour', queue => true);
SELECT pg_sleep(0.1);
SELECT lockable.lock_release('q:5', 'bob');
SELECT lockable.lock_owner('q:5');
-- lock_sweep performs every pending hand-off (a pg_cron job bounds how long
-- an abandoned lock with waiters stays unassigned)
SELECT granted FROM lockable.lock_acquire('q:6', 'alice', '50 milliseconds');
SELECT position FROM lockable.lock_acquire('q:6', 'bob', '1 hour', queue => true);
SELECT granted FROM lockable.lock_acquire('q:7', 'alice', '50 milliseconds');
SELECT position FROM lockable.lock_acquire('q:7', 'carol', '1 hour', queue => true);
SELECT pg_sleep(0.1);
SELECT lockable.lock_sweep('1 hour');
SELECT uid, owner FROM lockable.active_locks WHERE uid IN ('q:6', 'q:7') ORDER BY uid;
-- sweep never deletes a lock row that still has a line
SELECT lockable.lock_release('q:7', 'carol');
SELECT position FROM lockable.lock_acquire('q:6', 'dave', '50 milliseconds', queue => true);
SELECT lockable.lock_release('q:6', 'bob');
SELECT pg_sleep(0.1);
SELECT lockable.lock_sweep();
SELECT uid FROM lockable.locks WHERE uid IN ('q:6', 'q:7');
SELECT count(*) AS places FROM lockable.places WHERE uid IN ('q:6', 'q:7');

-- lock_release_all: every live lock of the owner and every place it has,
-- each handed on or given up; returns how many of both.
SELECT granted FROM lockable.lock_acquire('q:8', 'frank', '1 hour');
SELECT granted FROM lockable.lock_acquire('q:9', 'frank', '1 hour');
SELECT granted FROM lockable.lock_acquire('q:10', 'gina', '1 hour');
SELECT position FROM lockable.lock_acquire('q:10', 'frank', queue => true);
SELECT position FROM lockable.lock_acquire('q:8', 'gina', queue => true);
SELECT lockable.lock_release_all('frank');
SELECT uid, owner FROM lockable.active_locks WHERE uid IN ('q:8', 'q:9', 'q:10') ORDER BY uid;
SELECT count(*) AS frank_places FROM lockable.places WHERE owner = 'frank';
SELECT lockable.lock_release_all('frank');

-- Waiting and queueing.  A waiting acquire has not committed, so nobody
-- could see a place it took.
\set VERBOSITY sqlstate
-- error: wait and queue together (22023)
SELECT lockable.lock_acquire('q:10', 'hank', '1 minute', '1 second', true);
\set VERBOSITY default
SELECT lockable.lock_acquire('q:10', 'hank', '1 minute', '1 second', true);
-- a waiting acquire without queue is granted only when the line is empty:
-- here Gina's lock expires with Ivan in line, and the waiter does not get
-- it; its last try, at the end of its wait, hands the lock to Ivan (as
-- every call that writes does), so its refusal names him, the live holder
SELECT granted FROM lockable.lock_acquire('q:11', 'gina', '50 milliseconds');
SELECT position FROM lockable.lock_acquire('q:11', 'ivan', '1 hour', queue => true);
SELECT granted, owner, expires_at > clock_timestamp() AS live, waiters
  FROM lockable.lock_acquire('q:11', 'hank', '1 minute', '200 milliseconds');
SELECT lockable.lock_owner('q:11');
SELECT granted, owner, waiters FROM lockable.lock_acquire('q:11', 'hank');

-- Transactions.  A place taken in a rolled-back transaction was never
-- taken; a hand-off in a rolled-back release never happened.
BEGIN;
SELECT position FROM lockable.lock_acquire('q:10', 'judy', queue => true);
ROLLBACK;
SELECT count(*) AS judy_places FROM lockable.places WHERE owner = 'judy';
SELECT position FROM lockable.lock_acquire('q:10', 'judy', queue => true);
BEGIN;
SELECT lockable.lock_release('q:10', 'gina');
SELECT lockable.lock_owner('q:10');
ROLLBACK;
SELECT lockable.lock_owner('q:10');
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:10';
-- savepoints too
BEGIN;
SAVEPOINT s;
SELECT lockable.lock_release('q:10', 'judy');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:10';

-- Bad input changes nothing.
SELECT md5(string_agg(l::text, ',' ORDER BY uid)) AS locks_before FROM lockable.locks AS l \gset
SELECT md5(string_agg(p::text, ',' ORDER BY uid, seq)) AS places_before FROM lockable.places AS p \gset
\set VERBOSITY sqlstate
-- error: a NULL queue (22004)
SELECT lockable.lock_acquire('q:10', 'kim', '1 minute', '0', NULL);
-- error: a bad ttl for a place (22023)
SELECT lockable.lock_acquire('q:10', 'kim', '0', queue => true);
SELECT lockable.lock_acquire('q:10', 'kim', '100 years', queue => true);
-- error: empty or overlong names (22023)
SELECT lockable.lock_acquire('q:10', '', queue => true);
SELECT lockable.lock_acquire('q:10', repeat('k', 513), queue => true);
\set VERBOSITY default
SELECT md5(string_agg(l::text, ',' ORDER BY uid)) = :'locks_before' AS locks_unchanged FROM lockable.locks AS l;
SELECT md5(string_agg(p::text, ',' ORDER BY uid, seq)) = :'places_before' AS places_unchanged FROM lockable.places AS p;

-- Roles.  An ordinary role granted lockable_user queues, leaves and reads
-- lock_queue, and cannot touch the line's storage.
CREATE ROLE regress_lockable_waiter;
GRANT lockable_user TO regress_lockable_waiter;
SET ROLE regress_lockable_waiter;
SELECT granted, position FROM lockable.lock_acquire('q:10', 'lena', queue => true);
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'q:10' ORDER BY position;
SELECT lockable.lock_release('q:10', 'lena');
\set VERBOSITY sqlstate
-- error: the storage is not theirs (42501)
SELECT count(*) FROM lockable.places;
INSERT INTO lockable.places VALUES ('q:10', 'lena', 99, '1 hour', now(), now() + interval '1 hour');
DELETE FROM lockable.places;
UPDATE lockable.locks SET places = 0;
\set VERBOSITY default
RESET ROLE;
DROP ROLE regress_lockable_waiter;

DELETE FROM lockable.locks;
DELETE FROM lockable.places;
