--
-- enforce_lock: the database refuses writes to rows whose lease lock is held
-- by someone other than the writer.
--
-- A row's lock is prefix || column::text; the writer is lockable.owner and
-- its fencing token, if any, lockable.token.  Writes run as an ordinary role
-- that cannot read lockable.locks.  The race of a fenced write against a
-- takeover is in test/isolation/specs/fenced_write.spec.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lockable;
RESET client_min_messages;

-- Expiry times appear in error details; make them readable and stable.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE ROLE regress_lockable_trig_app;
GRANT lockable_user TO regress_lockable_trig_app;
CREATE SCHEMA el;
GRANT USAGE ON SCHEMA el TO regress_lockable_trig_app;
SET search_path = el, public;

CREATE TABLE orders (id integer PRIMARY KEY, status text);
INSERT INTO orders VALUES (1, 'new'), (2, 'new'), (3, 'new');
CREATE TRIGGER orders_lock BEFORE UPDATE OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('id', 'order:');
GRANT SELECT, UPDATE, DELETE ON orders TO regress_lockable_trig_app;

-- Test fixture, as superuser: give a lock a fixed expiry, so that error
-- details are stable, or end its lease now without anyone releasing it.
CREATE FUNCTION pin_expiry(lock_uid text, expiry timestamptz) RETURNS void
    LANGUAGE sql
    AS 'UPDATE lockable.locks SET expires_at = expiry WHERE uid = lock_uid';

SET ROLE regress_lockable_trig_app;
-- the writing role cannot read the lock table itself (42501) ...
\set VERBOSITY sqlstate
SELECT count(*) FROM lockable.locks;
\set VERBOSITY default
-- ... yet the trigger can: with no lock on a row, anyone may write it
UPDATE orders SET status = 'paid' WHERE id = 1;
DELETE FROM orders WHERE id = 3;
RESET ROLE;

-- Alice locks order 1.
SELECT granted, owner FROM lockable.lock_acquire('order:1', 'alice', '10 minutes');
SELECT pin_expiry('order:1', '2999-01-01 12:00:00+00');

SET ROLE regress_lockable_trig_app;
-- error: a writer with no lockable.owner cannot write the locked row (55P03)
UPDATE orders SET status = 'shipped' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
SET lockable.owner = 'bob';
-- error: nor can another owner (55P03)
UPDATE orders SET status = 'shipped' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
-- error: deleting is writing too (55P03)
DELETE FROM orders WHERE id = 1;
-- error: nor can a bulk update touch it (55P03)
UPDATE orders SET status = 'archived';
\set VERBOSITY default
-- other rows are not under alice's lock
UPDATE orders SET status = 'shipped' WHERE id = 2;
-- the holder writes
SET lockable.owner = 'alice';
UPDATE orders SET status = 'shipped' WHERE id = 1;
SELECT id, status FROM orders ORDER BY id;

SET lockable.owner = 'bob';
-- error: a row cannot be moved under a lock someone else holds (55P03)
UPDATE orders SET id = 1 WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
-- error: nor out from under it (55P03)
UPDATE orders SET id = 10 WHERE id = 1;
\set VERBOSITY default
RESET ROLE;

-- A released lock protects nothing.
SELECT lockable.lock_release('order:1', 'alice');
SET ROLE regress_lockable_trig_app;
UPDATE orders SET status = 'returned' WHERE id = 1;
RESET ROLE;

-- An expired lock protects nothing.
SELECT granted, owner FROM lockable.lock_acquire('order:1', 'alice', '10 minutes');
SELECT pin_expiry('order:1', pg_catalog.clock_timestamp() - interval '1 second');
SET ROLE regress_lockable_trig_app;
UPDATE orders SET status = 'refunded' WHERE id = 1;
RESET ROLE;
SELECT id, status FROM orders ORDER BY id;

-- A NULL column value names no lock: in mode if_locked anyone may write.
CREATE TABLE tasks (id integer PRIMARY KEY, project integer, title text);
INSERT INTO tasks VALUES (1, 7, 'design'), (2, NULL, 'unfiled');
CREATE TRIGGER tasks_lock BEFORE UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('project', 'project:', 'if_locked');
GRANT SELECT, UPDATE, DELETE ON tasks TO regress_lockable_trig_app;
SET ROLE regress_lockable_trig_app;
UPDATE tasks SET title = 'triage' WHERE id = 2;
RESET ROLE;

-- Mode "required": only the holder of the row's live lock may write.
DROP TRIGGER tasks_lock ON tasks;
CREATE TRIGGER tasks_lock BEFORE UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('project', 'project:', 'required');
RESET lockable.owner;
SET ROLE regress_lockable_trig_app;
-- error: no owner set, and nobody holds the lock (55P03)
UPDATE tasks SET title = 'build' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
SET lockable.owner = 'carol';
-- error: carol does not hold the lock (55P03)
UPDATE tasks SET title = 'build' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
-- error: a row that names no lock cannot be written in this mode (55P03)
UPDATE tasks SET title = 'build' WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
-- carol acquires the lock, and writes
SELECT granted, owner FROM lockable.lock_acquire('project:7', 'carol', '10 minutes');
UPDATE tasks SET title = 'build' WHERE id = 1;
RESET ROLE;
SELECT pin_expiry('project:7', pg_catalog.clock_timestamp() - interval '1 second');
SET ROLE regress_lockable_trig_app;
\set VERBOSITY sqlstate
-- error: once her lease has expired, carol holds nothing (55P03)
UPDATE tasks SET title = 'ship' WHERE id = 1;
\set VERBOSITY default
RESET lockable.owner;
RESET ROLE;
SELECT id, project, title FROM tasks ORDER BY id;

-- Fencing tokens: with lockable.token set, the owner must hold the live
-- grant with exactly that token.  Token values differ from run to run and
-- appear in the details, so these errors show their SQLSTATE only.
\set VERBOSITY sqlstate
SELECT token AS alice_token
  FROM lockable.lock_acquire('order:1', 'alice', '10 minutes') \gset
SET ROLE regress_lockable_trig_app;
SET lockable.owner = 'alice';
SET lockable.token = :alice_token;
UPDATE orders SET status = 'fenced write' WHERE id = 1;
-- error: a token that is not the current grant's (55P03)
SET lockable.token = 1;
UPDATE orders SET status = 'wrong token' WHERE id = 1;
-- (the same, with its message)
\set VERBOSITY terse
UPDATE orders SET status = 'wrong token' WHERE id = 1;
\set VERBOSITY sqlstate
-- error: a token without an owner (55P03)
RESET lockable.owner;
SET lockable.token = :alice_token;
UPDATE orders SET status = 'no owner' WHERE id = 1;
SET lockable.owner = 'alice';
RESET ROLE;

-- Alice's lease runs out (she was paused, say) ...
SELECT pin_expiry('order:1', pg_catalog.clock_timestamp() - interval '1 second');
SET ROLE regress_lockable_trig_app;
-- error: ... so her token fences off her writes, taken over or not (55P03)
UPDATE orders SET status = 'after expiry' WHERE id = 1;
RESET ROLE;
-- Bob takes the lock over, with a higher token.
SELECT granted, owner, token > :alice_token AS higher_token
  FROM lockable.lock_acquire('order:1', 'bob', '10 minutes');
SET ROLE regress_lockable_trig_app;
-- error: alice's write with her old token is refused (55P03)
UPDATE orders SET status = 'stale write' WHERE id = 1;
-- error: even after alice gets the lock back, her old token stays stale (55P03)
RESET ROLE;
SELECT lockable.lock_release('order:1', 'bob');
SELECT token AS alice_new_token
  FROM lockable.lock_acquire('order:1', 'alice', '10 minutes') \gset
SET ROLE regress_lockable_trig_app;
UPDATE orders SET status = 'stale write' WHERE id = 1;
-- the new token works
SET lockable.token = :alice_new_token;
UPDATE orders SET status = 'fresh write' WHERE id = 1;
-- error: lockable.token must be an integer (22023)
SET lockable.token = 'abc';
RESET lockable.token;
RESET lockable.owner;
RESET ROLE;
\set VERBOSITY default
SELECT id, status FROM orders ORDER BY id;
SELECT lockable.lock_release('order:1', 'alice');

-- The settings are real, reserved GUCs; unset means empty.
SHOW lockable.owner;
SHOW lockable.token;
-- The parsed values live in memory that guc.c owns and frees (with free()
-- up to PostgreSQL 15, with pfree from 16): setting them again and again,
-- and SET LOCAL undone at commit and at rollback, must all work.
SET lockable.token = '5';
SET lockable.token = '6';
SET lockable.token = '';
SET lockable.token = '7';
SHOW lockable.token;
BEGIN;
SET LOCAL lockable.token = '8';
SHOW lockable.token;
COMMIT;
SHOW lockable.token;
BEGIN;
SET LOCAL lockable.token = '9';
ROLLBACK;
SHOW lockable.token;
RESET lockable.token;
SET lockable.max_ttl = '2 days';
SET lockable.max_ttl = '3 days';
BEGIN;
SET LOCAL lockable.max_ttl = '1 hour';
SHOW lockable.max_ttl;
COMMIT;
SHOW lockable.max_ttl;
RESET lockable.max_ttl;
SHOW lockable.max_ttl;
\set VERBOSITY sqlstate
-- error: no other setting may use the reserved prefix (42602)
SET lockable.no_such_setting = 'x';
\set VERBOSITY default

-- A hostile object on the writer's search_path changes nothing: the trigger's
-- lookups are schema-qualified down to their operators.
CREATE SCHEMA hostile AUTHORIZATION regress_lockable_trig_app;
SET ROLE regress_lockable_trig_app;
CREATE FUNCTION hostile.always_equal(text, text) RETURNS boolean
    LANGUAGE sql AS 'SELECT (1 / 0) = 1';
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text,
                           FUNCTION = hostile.always_equal);
RESET ROLE;
SELECT granted FROM lockable.lock_acquire('order:1', 'alice', '10 minutes');
SELECT pin_expiry('order:1', '2999-01-01 12:00:00+00');
SET ROLE regress_lockable_trig_app;
SET search_path = hostile, pg_catalog, el;
SET lockable.owner = 'bob';
-- error: still refused for bob (55P03), and the hostile operator never ran
UPDATE orders SET status = 'hijack' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
SET lockable.owner = 'alice';
UPDATE orders SET status = 'delivered' WHERE id = 1;
RESET lockable.owner;
RESET ROLE;
SET search_path = el, public;
SELECT lockable.lock_release('order:1', 'alice');

-- Both triggers on one table: the lock is checked first, then the version.
CREATE TABLE notes (id integer PRIMARY KEY, body text,
                    version bigint NOT NULL DEFAULT 1);
CREATE TRIGGER lockable_enforce_lock BEFORE UPDATE OR DELETE ON notes
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('id', 'note:');
CREATE TRIGGER lockable_version_check BEFORE INSERT OR UPDATE ON notes
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check();
INSERT INTO notes (id, body) VALUES (1, 'hello');
SELECT granted FROM lockable.lock_acquire('note:1', 'alice', '10 minutes');
\set VERBOSITY sqlstate
-- error: bob is refused by the lock, whatever version he sends (55P03)
SET lockable.owner = 'bob';
UPDATE notes SET body = 'bob', version = 1 WHERE id = 1;
-- error: alice holds the lock but read an old version (40001)
SET lockable.owner = 'alice';
UPDATE notes SET body = 'alice', version = 0 WHERE id = 1;
\set VERBOSITY default
UPDATE notes SET body = 'alice', version = 1 WHERE id = 1;
RESET lockable.owner;
SELECT id, body, version FROM notes;
SELECT lockable.lock_release('note:1', 'alice');

-- Any column type works: the uid is the column's text form.
CREATE TABLE sessions (key uuid PRIMARY KEY, data text);
INSERT INTO sessions VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x');
CREATE TRIGGER sessions_lock BEFORE UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('key');
SELECT granted FROM lockable.lock_acquire('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'alice');
\set VERBOSITY sqlstate
-- error: the uuid's text names alice's lock (55P03)
UPDATE sessions SET data = 'y';
\set VERBOSITY default
SELECT lockable.lock_release('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'alice');

-- The trigger's column lookup is cached, and follows changes to the table.
ALTER TABLE sessions RENAME COLUMN key TO session_key;
-- error: the trigger's column is gone (42703)
UPDATE sessions SET data = 'z';
\echo :LAST_ERROR_SQLSTATE

-- Misuse of the trigger function.
CREATE TABLE misuse (id integer);
INSERT INTO misuse VALUES (1);
\set VERBOSITY sqlstate
-- error: called directly, not as a trigger (39P01)
SELECT lockable.enforce_lock();
CREATE TRIGGER t AFTER UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('id');
-- error: fired AFTER the change (39P01)
UPDATE misuse SET id = 1;
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH STATEMENT EXECUTE FUNCTION lockable.enforce_lock('id');
-- error: fired for each statement (39P01)
UPDATE misuse SET id = 1;
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE INSERT ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('id');
-- error: fired on INSERT (39P01)
INSERT INTO misuse VALUES (2);
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock();
-- error: no column named (39P01)
UPDATE misuse SET id = 1;
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('id', '', 'required', 'x');
-- error: more than three arguments (39P01)
UPDATE misuse SET id = 1;
DROP TRIGGER t ON misuse;
\set VERBOSITY default
CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('id', '', 'always');
-- error: an unknown mode (22023)
UPDATE misuse SET id = 1;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('no_such_column');
-- error: the column does not exist (42703)
UPDATE misuse SET id = 1;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
-- The misuses changed nothing.
SELECT id FROM misuse;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA el CASCADE;
DROP SCHEMA hostile CASCADE;
RESET client_min_messages;
DROP ROLE regress_lockable_trig_app;
