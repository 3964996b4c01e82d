--
-- trigger_setup: the helpers that put lockable's triggers on a table.
--
-- enable_versioning / disable_versioning and enable_lock_enforcement /
-- disable_lock_enforcement run as the caller, who must own the table.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lockable;
RESET client_min_messages;

CREATE ROLE regress_lockable_trig_owner;
CREATE ROLE regress_lockable_trig_stranger;
GRANT lockable_user TO regress_lockable_trig_owner, regress_lockable_trig_stranger;
-- Names that need quoting, in a schema that needs quoting.
CREATE SCHEMA "Trig Setup" AUTHORIZATION regress_lockable_trig_owner;
GRANT USAGE ON SCHEMA "Trig Setup" TO regress_lockable_trig_stranger;

-- The triggers of a table, as PostgreSQL would recreate them.
CREATE FUNCTION pg_temp.triggers_of(tbl regclass)
    RETURNS TABLE (trigger name, definition text)
    LANGUAGE sql
    AS 'SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
         WHERE tgrelid = tbl ORDER BY tgname';

SET ROLE regress_lockable_trig_owner;
SET search_path = "Trig Setup";
CREATE TABLE "Order Lines" (id integer PRIMARY KEY, "Note" text);
INSERT INTO "Order Lines" VALUES (1, 'one'), (2, 'two');

-- enable_versioning adds the column, bigint NOT NULL DEFAULT 1 (existing
-- rows start at version 1), and the trigger.
SELECT lockable.enable_versioning('"Order Lines"');
SELECT attname, format_type(atttypid, atttypmod), attnotnull,
       pg_get_expr(adbin, adrelid) AS default
  FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
 WHERE attrelid = '"Order Lines"'::regclass AND attname = 'version';
SELECT * FROM pg_temp.triggers_of('"Order Lines"');
SELECT obj_description(oid, 'pg_trigger') FROM pg_trigger
 WHERE tgrelid = '"Order Lines"'::regclass;
SELECT id, version FROM "Order Lines" ORDER BY id;
UPDATE "Order Lines" SET "Note" = 'uno', version = 1 WHERE id = 1;
SELECT id, "Note", version FROM "Order Lines" ORDER BY id;

-- Calling it again is harmless: same column, same single trigger.
SELECT lockable.enable_versioning('"Order Lines"');
SELECT * FROM pg_temp.triggers_of('"Order Lines"');
SELECT id, version FROM "Order Lines" ORDER BY id;

-- An existing integer column of any name is used as it is.
CREATE TABLE "Docs" (id integer PRIMARY KEY, "Rev No" integer NOT NULL DEFAULT 1);
SELECT lockable.enable_versioning('"Docs"', 'Rev No');
SELECT * FROM pg_temp.triggers_of('"Docs"');
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = '"Docs"'::regclass AND attname = 'Rev No';

-- disable_versioning drops the trigger; the column and its values stay.
SELECT lockable.disable_versioning('"Order Lines"');
SELECT * FROM pg_temp.triggers_of('"Order Lines"');
UPDATE "Order Lines" SET "Note" = 'dos', version = 0 WHERE id = 2;
SELECT id, "Note", version FROM "Order Lines" ORDER BY id;
-- and disabling twice is harmless
SELECT lockable.disable_versioning('"Order Lines"');

-- enable_lock_enforcement creates the trigger with its arguments ...
SELECT lockable.enable_lock_enforcement('"Order Lines"', 'id', 'line:');
SELECT * FROM pg_temp.triggers_of('"Order Lines"');
-- ... and recreates it with new ones.
SELECT lockable.enable_lock_enforcement('"Order Lines"', 'Note', 'note''s:', required => true);
SELECT * FROM pg_temp.triggers_of('"Order Lines"');
SELECT lockable.enable_lock_enforcement('"Order Lines"', 'id');
SELECT * FROM pg_temp.triggers_of('"Order Lines"');
-- it enforces
RESET ROLE;
SELECT granted FROM lockable.lock_acquire('1', 'alice');
SET ROLE regress_lockable_trig_owner;
\set VERBOSITY sqlstate
-- error: line 1 is locked by alice (55P03)
UPDATE "Order Lines" SET "Note" = 'locked' WHERE id = 1;
\set VERBOSITY default
RESET ROLE;
SELECT lockable.lock_release('1', 'alice');
SET ROLE regress_lockable_trig_owner;

-- Both helpers on one table.
SELECT lockable.enable_versioning('"Order Lines"');
SELECT * FROM pg_temp.triggers_of('"Order Lines"');
SELECT lockable.disable_lock_enforcement('"Order Lines"');
SELECT lockable.disable_lock_enforcement('"Order Lines"');
SELECT lockable.disable_versioning('"Order Lines"');
SELECT * FROM pg_temp.triggers_of('"Order Lines"');

-- Bad arguments change nothing.
CREATE TABLE "Bad" (id integer, version text, label text);
CREATE VIEW "Bad View" AS SELECT id FROM "Bad";
\set VERBOSITY sqlstate
-- error: an existing version column of another type (42804)
SELECT lockable.enable_versioning('"Bad"');
-- error: a system column is not an integer either (42804)
SELECT lockable.enable_versioning('"Bad"', 'xmin');
-- error: the lock column does not exist (42703)
SELECT lockable.enable_lock_enforcement('"Bad"', 'no_such_column');
-- error: a system column cannot name a lock (42703)
SELECT lockable.enable_lock_enforcement('"Bad"', 'ctid');
-- error: a view is not a table (42809)
SELECT lockable.enable_versioning('"Bad View"');
-- error: a NULL table (22004)
SELECT lockable.enable_versioning(NULL);
-- error: a NULL version column (22004)
SELECT lockable.enable_versioning('"Bad"', NULL);
-- error: a NULL lock column (22004)
SELECT lockable.enable_lock_enforcement('"Bad"', NULL);
-- error: a NULL prefix (22004)
SELECT lockable.enable_lock_enforcement('"Bad"', 'id', NULL);
-- error: a NULL mode (22004)
SELECT lockable.enable_lock_enforcement('"Bad"', 'id', '', NULL);
-- error: a NULL table to disable (22004)
SELECT lockable.disable_versioning(NULL);
SELECT lockable.disable_lock_enforcement(NULL);
\set VERBOSITY default
SELECT * FROM pg_temp.triggers_of('"Bad"');
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = '"Bad"'::regclass AND attnum > 0 ORDER BY attnum;

-- Only columns whose text form no setting can change may name a lock:
-- smallint, integer, bigint, text, varchar, char, uuid, and domains over
-- them.  Anything else would let a writer who changed DateStyle, TimeZone,
-- extra_float_digits or bytea_output name another lock (42804).
CREATE DOMAIN doc_number AS integer CHECK (VALUE > 0);
CREATE TABLE "Keys" (
    k_int2 smallint, k_int4 integer, k_int8 bigint, k_text text,
    k_varchar varchar(20), k_char char(4), k_uuid uuid, k_domain doc_number,
    k_ts timestamptz, k_date date, k_interval interval, k_float float8,
    k_numeric numeric, k_bytea bytea, k_money money, k_regclass regclass,
    k_json json, k_bool boolean);
SELECT c AS allowed_column
  FROM unnest(ARRAY['k_int2', 'k_int4', 'k_int8', 'k_text', 'k_varchar',
                    'k_char', 'k_uuid', 'k_domain']) AS c,
       LATERAL lockable.enable_lock_enforcement('"Keys"', c, 'k:');
\set VERBOSITY sqlstate
-- error: a column type whose text form can depend on settings (42804)
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_ts', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_date', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_interval', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_float', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_numeric', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_bytea', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_money', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_regclass', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_json', 'k:');
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_bool', 'k:');
\set VERBOSITY default
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_ts', 'k:');
-- the last allowed call stays installed; the refused ones changed nothing
SELECT * FROM pg_temp.triggers_of('"Keys"');
-- error: a trigger created by hand on such a column is refused when it
-- fires (42804), so no write passes it unchecked
SELECT lockable.disable_lock_enforcement('"Keys"');
CREATE TRIGGER by_hand BEFORE UPDATE OR DELETE ON "Keys"
    FOR EACH ROW EXECUTE FUNCTION lockable.enforce_lock('k_ts', 'k:');
INSERT INTO "Keys" (k_int4, k_ts) VALUES (1, '2026-11-22 10:00+00');
\set VERBOSITY sqlstate
UPDATE "Keys" SET k_int4 = 2;
DELETE FROM "Keys";
-- error: a uid prefix that leaves no room for a value (22023)
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_int4', repeat('p', 512));
\set VERBOSITY default
SELECT lockable.enable_lock_enforcement('"Keys"', 'k_int4', repeat('p', 511));
DROP TABLE "Keys";
DROP DOMAIN doc_number;

-- Only the table's owner may call the helpers, even with TRIGGER privilege.
GRANT ALL ON "Order Lines" TO regress_lockable_trig_stranger;
SET ROLE regress_lockable_trig_stranger;
-- error: not the owner (42501)
SELECT lockable.enable_versioning('"Order Lines"');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
-- error: not the owner (42501)
SELECT lockable.disable_versioning('"Order Lines"');
-- error: not the owner (42501)
SELECT lockable.enable_lock_enforcement('"Order Lines"', 'id');
-- error: not the owner (42501)
SELECT lockable.disable_lock_enforcement('"Order Lines"');
\set VERBOSITY default
SET ROLE regress_lockable_trig_owner;
SELECT * FROM pg_temp.triggers_of('"Order Lines"');
SELECT attname FROM pg_attribute
 WHERE attrelid = '"Order Lines"'::regclass AND attnum > 0 ORDER BY attnum;

RESET ROLE;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA "Trig Setup" CASCADE;
RESET client_min_messages;
DROP ROLE regress_lockable_trig_owner;
DROP ROLE regress_lockable_trig_stranger;
