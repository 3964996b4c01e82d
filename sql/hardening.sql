--
-- hardening: what the review of 1.3 found (issue 20), as 1.4 behaves
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lockable;
RESET client_min_messages;
SET lockable.notify = off;

--
-- 1. enforce_lock names a row's lock exactly as prefix || column::text, for
--    every type a lock column may have: char(n) without its trailing blanks,
--    as the cast to text makes it (1.3 kept them, and refused the holder of
--    "doc:ab" on her own row).
--
CREATE DOMAIN hard_code AS char(5);
CREATE FUNCTION hard_try(tbl regclass, acting text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('lockable.owner', acting, true);
    EXECUTE format('UPDATE %s SET note = note || %L', tbl, '+');
    RETURN 'written';
EXCEPTION WHEN lock_not_available THEN
    RETURN 'refused (55P03)';
END $$;
CREATE FUNCTION hard_uid_check(coltype text, val text) RETURNS TABLE
    (type text, uid text, holder text, intruder text)
LANGUAGE plpgsql AS $$
DECLARE
    tbl text := 'hard_' || regexp_replace(coltype, '[^a-z0-9]', '_', 'g');
BEGIN
    EXECUTE format('CREATE TABLE %I (k %s, note text)', tbl, coltype);
    EXECUTE format('INSERT INTO %I VALUES (%L, %L)', tbl, val, 'n');
    PERFORM lockable.enable_lock_enforcement(tbl::regclass, 'k', 'doc:');
    EXECUTE format('SELECT %L || k::text FROM %I', 'doc:', tbl) INTO uid;
    PERFORM lockable.lock_acquire(uid, 'alice', '1 hour');
    type := coltype;
    holder := hard_try(tbl::regclass, 'alice');
    intruder := hard_try(tbl::regclass, 'mallory');
    PERFORM lockable.lock_release(uid, 'alice');
    RETURN NEXT;
END $$;
SELECT * FROM hard_uid_check('smallint', '-7');
SELECT * FROM hard_uid_check('integer', '42');
SELECT * FROM hard_uid_check('bigint', '9007199254740993');
SELECT * FROM hard_uid_check('text', 'ab ');
SELECT * FROM hard_uid_check('varchar(10)', 'ab ');
SELECT * FROM hard_uid_check('char(6)', 'ab');
SELECT * FROM hard_uid_check('hard_code', 'x');
SELECT * FROM hard_uid_check('uuid', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11');

--
-- 2. enforce_lock acts on lock rows only for a table whose owner may use
--    lockable.  1.3 let any role put the trigger on a table of its own (a
--    TEMP table will do), name a holder in lockable.owner, and hold that
--    holder's lock row FOR SHARE for as long as its transaction stayed open
--    (see also the isolation spec enforce_freeze).
--
CREATE ROLE regress_lockable_mallory;
SELECT granted FROM lockable.lock_acquire('doc:1', 'alice', '1 hour');
SET ROLE regress_lockable_mallory;
CREATE TEMP TABLE bait (id integer);
INSERT INTO bait VALUES (1);
\set VERBOSITY sqlstate
-- error: a role nobody granted lockable_user cannot attach the trigger (42501)
SELECT lockable.enable_lock_enforcement('bait', 'id', 'doc:');
CREATE TRIGGER bait_lock BEFORE UPDATE ON bait FOR EACH ROW
    EXECUTE FUNCTION lockable.enforce_lock('id', 'doc:');
\set VERBOSITY default
RESET ROLE;
-- A trigger attached while the role had lockable_user stops acting on lock
-- rows when the grant is revoked: the write is refused before the trigger
-- reads or locks anything.
GRANT lockable_user TO regress_lockable_mallory;
SET ROLE regress_lockable_mallory;
SELECT lockable.enable_lock_enforcement('bait', 'id', 'doc:');
RESET ROLE;
REVOKE lockable_user FROM regress_lockable_mallory;
SET ROLE regress_lockable_mallory;
SET lockable.owner = 'alice';
-- error: the table's owner may not use lockable (42501)
UPDATE bait SET id = 1;
RESET lockable.owner;
DROP TABLE bait;
RESET ROLE;
SELECT lockable.lock_release('doc:1', 'alice');

--
-- 3. A DBA's trigger on lockable's tables must have a function a superuser
--    owns.  The lock functions run as the extension's owner, and so would
--    the trigger: 1.3 let a role that owned the trigger function, or had
--    TRIGGER on the table, run code as a superuser at anyone's next call.
--
CREATE ROLE regress_lockable_dba;
CREATE FUNCTION public.hard_escalate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE regress_lockable_dba SUPERUSER;
    RETURN NULL;
END $$;
ALTER FUNCTION public.hard_escalate() OWNER TO regress_lockable_dba;
CREATE TRIGGER hard_escalate AFTER UPDATE ON lockable.locks
    FOR EACH ROW EXECUTE FUNCTION public.hard_escalate();
-- error: every lock function refuses the table (42501), and writes nothing
SELECT granted FROM lockable.lock_acquire('doc:2', 'bob');
SELECT rolsuper AS dba_is_superuser FROM pg_roles WHERE rolname = 'regress_lockable_dba';
-- a superuser's function is fine: an audit trigger, pg_repack's, ...
ALTER FUNCTION public.hard_escalate() OWNER TO CURRENT_USER;
CREATE OR REPLACE FUNCTION public.hard_escalate() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
SELECT granted FROM lockable.lock_acquire('doc:2', 'bob');
SELECT lockable.lock_release('doc:2', 'bob');
DROP TRIGGER hard_escalate ON lockable.locks;
DROP FUNCTION public.hard_escalate();

--
-- 4. lock_release_all and lock_sweep can be cancelled while they walk many
--    locks and lines (1.3 ran them to the end, 1.7 s past a 200 ms
--    statement_timeout with 80,000 lines).  The token counter shows how far
--    each got: every hand-off draws a token, and a sequence does not roll
--    back.
--
SELECT count(*) FROM generate_series(1, 20000) AS i,
       lockable.lock_acquire('many:' || i, 'olive', '1 hour') AS a
 WHERE a.granted;
SELECT count(*) FROM generate_series(1, 20000) AS i,
       lockable.lock_acquire('many:' || i, 'walt', '1 hour', queue => true) AS a
 WHERE a.position = 1;
SELECT last_value AS tokens_before FROM lockable.token_seq \gset
SET statement_timeout = '20ms';
\set VERBOSITY sqlstate
-- error: canceled (57014)
SELECT lockable.lock_release_all('olive');
\set VERBOSITY default
RESET statement_timeout;
SELECT last_value - :tokens_before < 20000 AS release_all_stopped_early
  FROM lockable.token_seq;
SELECT count(*) AS still_olives FROM lockable.active_locks WHERE owner = 'olive';
-- the sweep's hand-offs: expired locks, each with a live place behind it
SELECT count(*) FROM generate_series(1, 20000) AS i,
       lockable.lock_acquire('swept:' || i, 'olive', '10 seconds') AS a
 WHERE a.granted;
SELECT count(*) FROM generate_series(1, 20000) AS i,
       lockable.lock_acquire('swept:' || i, 'walt', '1 hour', queue => true) AS a
 WHERE a.position = 1;
-- until every one has expired
SELECT pg_sleep(extract(epoch FROM max(expires_at) - clock_timestamp()) + 0.1)
  FROM lockable.locks WHERE uid LIKE 'swept:%';
SELECT last_value AS tokens_before FROM lockable.token_seq \gset
SET statement_timeout = '20ms';
\set VERBOSITY sqlstate
-- error: canceled (57014)
SELECT lockable.lock_sweep();
\set VERBOSITY default
RESET statement_timeout;
SELECT last_value - :tokens_before < 20000 AS sweep_stopped_early
  FROM lockable.token_seq;

-- Clean up.
SELECT lockable.lock_release_all('olive') AS released;
SELECT lockable.lock_release_all('walt') AS released;
DROP FUNCTION hard_uid_check(text, text);
DROP FUNCTION hard_try(regclass, text);
DROP TABLE hard_smallint, hard_integer, hard_bigint, hard_text,
    hard_varchar_10_, hard_char_6_, hard_hard_code, hard_uuid;
DROP DOMAIN hard_code;
DROP ROLE regress_lockable_mallory;
DROP ROLE regress_lockable_dba;
