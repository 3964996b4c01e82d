--
-- transfer: lock_take_over, lock_hand_over, lock_request, lock_decline, the
-- "saved" announcements and lockable.history (1.4)
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lockable;
RESET client_min_messages;
SET lockable.notify = off;
DELETE FROM lockable.history;

--
-- Take over.
--
-- a live lock: the taker gets it with a new token above the old one, and
-- the displaced holder and token come back
SELECT token AS alice_token FROM lockable.lock_acquire('tr:1', 'alice', '1 hour') \gset
SELECT position FROM lockable.lock_acquire('tr:1', 'bob', '1 hour', queue => true);
SELECT position FROM lockable.lock_acquire('tr:1', 'carol', '1 hour', queue => true);
SELECT granted, owner, token > :alice_token AS higher_token, waiters, position,
       previous_owner, previous_token = :alice_token AS previous_token_ok
  FROM lockable.lock_take_over('tr:1', 'dave', '10 minutes', 'urgent fix');
-- the line keeps its order, and alice has no place
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'tr:1' ORDER BY position;
SELECT lockable.lock_verify('tr:1', 'alice', :alice_token) AS alice_still_verified;
-- with requeue, the displaced holder is first in line
SELECT granted, owner, previous_owner, waiters
  FROM lockable.lock_take_over('tr:1', 'erin', '10 minutes', requeue => true);
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'tr:1' ORDER BY position;
-- a taker with a place leaves it
SELECT granted, owner, previous_owner
  FROM lockable.lock_take_over('tr:1', 'carol', '10 minutes');
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'tr:1' ORDER BY position;
-- a release then hands on to the head of the line, as always
SELECT lockable.lock_release('tr:1', 'carol');
SELECT owner FROM lockable.active_locks WHERE uid = 'tr:1';
-- a lock nobody holds: nobody is displaced
SELECT granted, owner, previous_owner, previous_token
  FROM lockable.lock_take_over('tr:2', 'frank', '1 minute');
\set VERBOSITY sqlstate
-- error: bad arguments (22004, 22023), and nothing changes
SELECT lockable.lock_take_over(NULL, 'x', '1 minute');
SELECT lockable.lock_take_over('tr:2', NULL, '1 minute');
SELECT lockable.lock_take_over('tr:2', 'x', NULL);
SELECT lockable.lock_take_over('tr:2', 'x', '-1 minute');
SELECT lockable.lock_take_over('tr:2', 'x', '1 minute', repeat('r', 1001));
SELECT lockable.lock_take_over('tr:2', 'x', '1 minute', NULL, NULL);
\set VERBOSITY default
SELECT owner FROM lockable.active_locks WHERE uid = 'tr:2';

--
-- Hand over.
--
SELECT token AS frank_token FROM lockable.active_locks WHERE uid = 'tr:2' \gset
SELECT position FROM lockable.lock_acquire('tr:2', 'gina', '1 hour', queue => true);
SELECT position FROM lockable.lock_acquire('tr:2', 'hank', '20 minutes', queue => true);
SELECT position FROM lockable.lock_acquire('tr:2', 'ivan', '1 hour', queue => true);
-- to someone in the middle of the line: the rest keeps its order; the ttl
-- is the one hank's place asked for
SELECT lockable.lock_hand_over('tr:2', 'frank', 'hank');
SELECT owner, token > :frank_token AS higher_token,
       expires_at - acquired_at = interval '20 minutes' AS his_ttl
  FROM lockable.active_locks WHERE uid = 'tr:2';
SELECT owner, position FROM lockable.lock_queue WHERE uid = 'tr:2' ORDER BY position;
-- to someone outside the line, with a ttl
SELECT lockable.lock_hand_over('tr:2', 'hank', 'judy', '5 minutes');
SELECT owner FROM lockable.active_locks WHERE uid = 'tr:2';
-- not the holder: false, nothing changes
SELECT lockable.lock_hand_over('tr:2', 'hank', 'gina');
SELECT lockable.lock_hand_over('tr:none', 'hank', 'gina');
SELECT owner FROM lockable.active_locks WHERE uid = 'tr:2';
\set VERBOSITY sqlstate
-- error: to the holder itself, or a bad ttl (22023)
SELECT lockable.lock_hand_over('tr:2', 'judy', 'judy');
SELECT lockable.lock_hand_over('tr:2', 'judy', 'gina', '2 days');
SELECT lockable.lock_hand_over('tr:2', 'judy', NULL);
\set VERBOSITY default

--
-- Asking.
--
-- gina waits in tr:2's line: her request reaches judy, the holder
SELECT lockable.lock_request('tr:2', 'gina', 'may I?');
-- nobody in line, or nobody holding: false
SELECT lockable.lock_request('tr:2', 'kate');
SELECT lockable.lock_request('tr:none', 'gina');
SELECT lockable.lock_decline('tr:2', 'judy', 'gina');
SELECT lockable.lock_decline('tr:2', 'gina', 'judy');
\set VERBOSITY sqlstate
-- error: a message over 1000 bytes (22023)
SELECT lockable.lock_request('tr:2', 'gina', repeat('m', 1001));
\set VERBOSITY default

--
-- Who may.  Taking over is lockable_admin's; handing over, asking and
-- declining lockable_user's.
--
CREATE ROLE regress_lockable_editor;
GRANT lockable_user TO regress_lockable_editor;
CREATE ROLE regress_lockable_boss;
GRANT lockable_admin TO regress_lockable_boss;
SET ROLE regress_lockable_editor;
SELECT lockable.lock_hand_over('tr:2', 'judy', 'gina');
\set VERBOSITY sqlstate
-- error: take over (42501), history (42501)
SELECT lockable.lock_take_over('tr:2', 'editor', '1 minute');
SELECT count(*) FROM lockable.lock_history;
\set VERBOSITY default
SET ROLE regress_lockable_boss;
SELECT granted, owner, previous_owner
  FROM lockable.lock_take_over('tr:2', 'boss', '1 minute', 'review');
SELECT count(*) > 0 AS boss_reads_history FROM lockable.lock_history;
RESET ROLE;

--
-- The history: every change of holder or line, in order, and no renewal.
--
SELECT granted FROM lockable.lock_acquire('tr:2', 'boss', '2 minutes');
SELECT event, uid, owner, token IS NOT NULL AS has_token, previous_owner,
       reason, role
  FROM lockable.history ORDER BY id;
-- a change rolled back leaves no row; one that commits leaves its rows
SELECT count(*) AS rows_before FROM lockable.history \gset
BEGIN;
SELECT lockable.lock_release('tr:2', 'boss');
ROLLBACK;
SELECT count(*) = :rows_before AS nothing_logged FROM lockable.history;
-- lockable.history = off logs nothing; only a superuser may set it
SET lockable.history = off;
SELECT lockable.lock_release('tr:2', 'boss');
RESET lockable.history;
SELECT count(*) = :rows_before AS nothing_logged FROM lockable.history;
SET ROLE regress_lockable_editor;
\set VERBOSITY sqlstate
-- error: (42501)
SET lockable.history = off;
\set VERBOSITY default
RESET ROLE;
-- lock_sweep deletes the rows older than lockable.history_retention
UPDATE lockable.history SET at = at - interval '31 days'
 WHERE id IN (SELECT id FROM lockable.history ORDER BY id LIMIT 3);
SELECT lockable.lock_sweep('1 hour') >= 0 AS swept;
SELECT count(*) = :rows_before - 3 AS three_old_rows_gone FROM lockable.history;

--
-- Saved announcements: the helper's refusals (the payloads are checked
-- by the isolation spec transfer_events).
--
CREATE TABLE tr_doc (id integer PRIMARY KEY, code char(4), body text,
                     version bigint NOT NULL DEFAULT 1, note text);
SELECT lockable.enable_save_announcements('tr_doc', 'code', 'doc:', 'version');
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
 WHERE tgrelid = 'tr_doc'::regclass AND NOT tgisinternal;
\set VERBOSITY sqlstate
-- error: no such column (42703), a version that is not an integer (42804),
-- a lock column whose text depends on settings (42804)
SELECT lockable.enable_save_announcements('tr_doc', 'nope');
SELECT lockable.enable_save_announcements('tr_doc', 'id', '', 'note');
ALTER TABLE tr_doc ADD COLUMN at timestamptz;
SELECT lockable.enable_save_announcements('tr_doc', 'at');
\set VERBOSITY default
SELECT lockable.disable_save_announcements('tr_doc');
SELECT count(*) AS triggers FROM pg_trigger
 WHERE tgrelid = 'tr_doc'::regclass AND NOT tgisinternal;

-- Clean up.
DROP TABLE tr_doc;
SELECT sum(lockable.lock_release_all(o)) AS released
  FROM unnest(ARRAY['alice', 'bob', 'carol', 'dave', 'erin', 'gina', 'hank',
                    'ivan', 'judy', 'boss']) AS o;
DROP ROLE regress_lockable_editor;
DROP ROLE regress_lockable_boss;
