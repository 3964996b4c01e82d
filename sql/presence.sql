--
-- presence: presence leases, presence_touch / presence_leave / presence_of,
-- and their part of lock_release_all and lock_sweep (1.4)
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lockable;
RESET client_min_messages;
DELETE FROM lockable.presence_leases;

--
-- A lease starts, is renewed silently, and changes when idle changes.
--
SELECT lockable.presence_touch('pr:1', 'alice', '1 minute') AS started;
SELECT lockable.presence_touch('pr:1', 'alice', '1 minute') AS renewal_changes;
SELECT lockable.presence_touch('pr:1', 'alice', '1 minute', idle => true) AS idle_changes;
SELECT lockable.presence_touch('pr:1', 'alice', '1 minute', true) AS still_idle;
SELECT lockable.presence_touch('pr:1', 'bob', '2 minutes') AS bob_started;
-- the live leases, oldest first, with the database clock's expiry
SELECT owner, idle, expires_at > pg_catalog.clock_timestamp() AS live,
       expires_at <= pg_catalog.clock_timestamp() + interval '2 minutes' AS within_ttl
  FROM lockable.presence_of('pr:1');
SELECT count(*) FROM lockable.presence_of('pr:nobody');

--
-- Leaving: true only for a live lease (the notifications these send are in
-- the isolation spec presence_race, which shows them without a PID).
--
SELECT lockable.presence_touch('pr:2', 'carol', '1 minute') AS carol_started;
SELECT lockable.presence_leave('pr:2', 'carol') AS carol_left;
SELECT lockable.presence_leave('pr:2', 'carol') AS carol_left_again;

--
-- A lapsed lease is not seen, and touching it starts it again (since moves).
--
SELECT lockable.presence_touch('pr:3', 'dave', '10 milliseconds') AS dave_started;
SELECT since AS dave_since FROM lockable.presence_leases WHERE uid = 'pr:3' \gset
SELECT pg_catalog.pg_sleep(0.05);
SELECT count(*) AS dave_seen FROM lockable.presence_of('pr:3');
SELECT lockable.presence_leave('pr:3', 'dave') AS lapsed_leave_is_not_live;
SELECT lockable.presence_touch('pr:3', 'dave', '10 milliseconds') AS dave_again;
SELECT pg_catalog.pg_sleep(0.05);
SELECT lockable.presence_touch('pr:3', 'dave', '1 minute') AS lapsed_then_touched;
SELECT since > :'dave_since'::timestamptz AS since_moved
  FROM lockable.presence_leases WHERE uid = 'pr:3';

--
-- lock_sweep deletes lapsed leases only; lock_release_all ends an owner's.
--
SELECT lockable.presence_touch('pr:4', 'erin', '10 milliseconds') AS erin_started;
SELECT pg_catalog.pg_sleep(0.05);
SELECT lockable.lock_sweep('1 hour') >= 0 AS swept;
SELECT uid, owner FROM lockable.presence_leases ORDER BY uid, owner;
SELECT lockable.presence_touch('pr:5', 'alice', '1 minute') AS alice_second_uid;
SELECT lockable.lock_release_all('alice') AS alice_locks_released;
SELECT uid, owner FROM lockable.presence_leases ORDER BY uid, owner;

--
-- Bad input: an error, and nothing changes.
--
\set VERBOSITY sqlstate
SELECT lockable.presence_touch(NULL, 'x', '1 minute');
SELECT lockable.presence_touch('pr:6', NULL, '1 minute');
SELECT lockable.presence_touch('pr:6', 'x', NULL);
SELECT lockable.presence_touch('pr:6', 'x', '1 minute', NULL);
SELECT lockable.presence_touch('', 'x', '1 minute');
SELECT lockable.presence_touch('pr:6', pg_catalog.repeat('x', 513), '1 minute');
SELECT lockable.presence_touch('pr:6', 'x', '0 seconds');
SELECT lockable.presence_touch('pr:6', 'x', '-1 second');
SELECT lockable.presence_touch('pr:6', 'x', '100 years');
SELECT lockable.presence_leave('pr:6', NULL);
\set VERBOSITY default
SELECT count(*) AS nothing_written FROM lockable.presence_leases WHERE uid = 'pr:6';

--
-- Two sessions' touches of one new lease serialize on its key: see the
-- isolation spec presence_race.  Privileges: lockable_user's.
--
CREATE ROLE presence_app LOGIN;
CREATE ROLE presence_stranger LOGIN;
GRANT lockable_user TO presence_app;
SET ROLE presence_app;
SELECT lockable.presence_touch('pr:7', 'app', '1 minute') AS app_may;
SELECT count(*) FROM lockable.presence_of('pr:7');
\set VERBOSITY sqlstate
SELECT * FROM lockable.presence_leases;
SET ROLE presence_stranger;
SELECT lockable.presence_touch('pr:7', 'stranger', '1 minute');
SELECT * FROM lockable.presence_of('pr:7');
\set VERBOSITY default
RESET ROLE;
DROP ROLE presence_app;
DROP ROLE presence_stranger;

--
-- A table put in the lease table's place is refused (trust.c).
--
BEGIN;
ALTER EXTENSION lockable DROP TABLE lockable.presence_leases;
-- (the drop is seen at the table's next invalidation: trust.c)
ALTER TABLE lockable.presence_leases SET (fillfactor = 70);
\set VERBOSITY sqlstate
SELECT lockable.presence_touch('pr:8', 'x', '1 minute');
\set VERBOSITY default
ROLLBACK;
DELETE FROM lockable.presence_leases;
