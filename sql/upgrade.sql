--
-- upgrade: ALTER EXTENSION lockable UPDATE from every released version
-- gives the same extension as a fresh install of the newest, and keeps the
-- locks and tokens that existed before it.  Released scripts are never
-- edited, so a fresh install (lockable--1.4.sql) and an update (1.0 -> 1.1
-- -> 1.2 -> 1.3 -> 1.4, 1.1 -> ..., 1.2 -> ..., or 1.3 -> 1.4) are
-- independent ways to the same catalog.  An update keeps PUBLIC's EXECUTE
-- on the lock functions, which a fresh 1.4 grants to lockable_user only, so
-- that applications keep working: each updated install is compared after
-- the README's tightening statements (sql/upgrade_tighten.psql).
--
-- Each install gets a database of its own.  The catalog fingerprint, made
-- by sql/upgrade_fingerprint.psql, covers every member object: its identity;
-- for functions their signature with defaults, result, language,
-- volatility, parallel safety, strictness, security, settings and ACL; for
-- relations and composite types their kind, options, columns and ACL, a
-- view's definition, a table's indexes and triggers; for every member its
-- comment; and the extension's version, schema (with its ACL) and dumped
-- configuration tables.
--
-- Expected output by server version (pg_regress alternatives):
--   upgrade.out    PostgreSQL 15
--   upgrade_1.out  PostgreSQL 17 and 18: the extension has the row and
--                  array types among its members (see sql/setup.sql), so
--                  the fingerprint has more lines; fresh and updated
--                  catalogs are compared the same way
--
SELECT current_database() AS regression_db \gset
CREATE ROLE lockable_upgrade_app;
CREATE ROLE lockable_upgrade_other;

-- A fresh install of the default version, 1.4.
CREATE DATABASE lockable_upgrade_fresh;
\c lockable_upgrade_fresh
CREATE EXTENSION lockable;
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
-- its members
SELECT pg_describe_object(classid, objid, 0) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'lockable')
 ORDER BY 1;
\set ECHO none
\i sql/upgrade_fingerprint.psql
\set ECHO all
\set fresh_fingerprint :fp_fingerprint
-- one line per member, one for the extension, one for its schema
SELECT count(*) AS fingerprint_lines
  FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n');

-- An install of 1.0 in use: a live lock, and tokens already handed out.
CREATE DATABASE lockable_upgrade_from_1_0;
\c lockable_upgrade_from_1_0
CREATE EXTENSION lockable VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
-- Until ALTER EXTENSION UPDATE runs, the new library serves the old catalog.
SELECT granted, owner FROM lockable.lock_acquire('doc:1', 'alice', '1 hour');
SELECT granted, owner FROM lockable.lock_acquire('doc:2', 'bob', '1 hour');
SELECT lockable.lock_release('doc:2', 'bob');
SELECT granted, owner FROM lockable.lock_acquire('doc:1', 'bob');
SELECT token AS last_token FROM lockable.locks WHERE uid = 'doc:2' \gset

ALTER EXTENSION lockable UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lockable';

-- The catalog is the same as a fresh install's: no line of either
-- fingerprint is missing from the other.
-- an ordinary role with no grant still may, until the DBA tightens it
SET ROLE lockable_upgrade_other;
SELECT lockable.lock_owner('doc:1') AS owner_seen;
RESET ROLE;
\i sql/upgrade_tighten.psql
\set ECHO none
\i sql/upgrade_fingerprint.psql
\set ECHO all
\set updated_fingerprint :fp_fingerprint
SELECT line AS only_in_fresh_install
  FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n') AS line
EXCEPT
SELECT line FROM pg_catalog.regexp_split_to_table(:'updated_fingerprint', E'\n') AS line;
SELECT line AS only_in_updated_install
  FROM pg_catalog.regexp_split_to_table(:'updated_fingerprint', E'\n') AS line
EXCEPT
SELECT line FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n') AS line;
SELECT :'fresh_fingerprint' = :'updated_fingerprint' AS identical;

-- The update kept the state: alice's lock is live, and tokens keep growing.
SELECT lockable.lock_owner('doc:1');
SELECT granted, token > :last_token AS higher_token
  FROM lockable.lock_acquire('doc:3', 'carol', '1 hour');

-- The triggers work in the updated database.
CREATE TABLE doc (id integer PRIMARY KEY, body text);
INSERT INTO doc VALUES (1, 'draft');
SELECT lockable.enable_versioning('doc');
SELECT lockable.enable_lock_enforcement('doc', 'id', 'doc:');
\set VERBOSITY sqlstate
-- error: alice holds doc:1 (55P03)
UPDATE doc SET body = 'edit' WHERE id = 1;
\set VERBOSITY default
SET lockable.owner = 'alice';
UPDATE doc SET body = 'edit', version = 1 WHERE id = 1;
RESET lockable.owner;
SELECT id, body, version FROM doc;

-- An install of 1.1, with a table under enforcement, updated to 1.4.
CREATE DATABASE lockable_upgrade_from_1_1;
\c lockable_upgrade_from_1_1
CREATE EXTENSION lockable VERSION '1.1';
CREATE TABLE doc (id integer PRIMARY KEY, body text);
SELECT lockable.enable_lock_enforcement('doc', 'id', 'doc:');
SELECT granted, owner FROM lockable.lock_acquire('doc:1', 'alice', '1 hour');
ALTER EXTENSION lockable UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
-- an ordinary role with no grant still may, until the DBA tightens it
SET ROLE lockable_upgrade_other;
SELECT lockable.lock_owner('doc:1') AS owner_seen;
RESET ROLE;
\i sql/upgrade_tighten.psql
\set ECHO none
\i sql/upgrade_fingerprint.psql
\set ECHO all
\set updated_fingerprint :fp_fingerprint
SELECT line AS only_in_fresh_install
  FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n') AS line
EXCEPT
SELECT line FROM pg_catalog.regexp_split_to_table(:'updated_fingerprint', E'\n') AS line;
SELECT line AS only_in_updated_install
  FROM pg_catalog.regexp_split_to_table(:'updated_fingerprint', E'\n') AS line
EXCEPT
SELECT line FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n') AS line;
SELECT :'fresh_fingerprint' = :'updated_fingerprint' AS identical;
SELECT lockable.lock_owner('doc:1');
INSERT INTO doc VALUES (1, 'draft');
\set VERBOSITY sqlstate
-- error: the trigger installed under 1.1 still fires (55P03)
UPDATE doc SET body = 'edit' WHERE id = 1;
\set VERBOSITY default

-- An install of 1.2 with a line, updated to 1.4.
CREATE DATABASE lockable_upgrade_from_1_2;
\c lockable_upgrade_from_1_2
CREATE EXTENSION lockable VERSION '1.2';
SELECT granted FROM lockable.lock_acquire('doc:1', 'alice', '1 hour');
SELECT granted, position FROM lockable.lock_acquire('doc:1', 'bob', queue => true);
SELECT token AS last_token FROM lockable.locks WHERE uid = 'doc:1' \gset
ALTER EXTENSION lockable UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
-- an ordinary role with no grant still may, until the DBA tightens it
SET ROLE lockable_upgrade_other;
SELECT lockable.lock_owner('doc:1') AS owner_seen;
RESET ROLE;
\i sql/upgrade_tighten.psql
\set ECHO none
\i sql/upgrade_fingerprint.psql
\set ECHO all
\set updated_fingerprint :fp_fingerprint
SELECT line AS only_in_fresh_install
  FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n') AS line
EXCEPT
SELECT line FROM pg_catalog.regexp_split_to_table(:'updated_fingerprint', E'\n') AS line;
SELECT line AS only_in_updated_install
  FROM pg_catalog.regexp_split_to_table(:'updated_fingerprint', E'\n') AS line
EXCEPT
SELECT line FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n') AS line;
SELECT :'fresh_fingerprint' = :'updated_fingerprint' AS identical;
-- the line survived: alice's release hands the lock to bob, with a higher token
SELECT lockable.lock_release('doc:1', 'alice');
SELECT owner, token > :last_token AS higher_token FROM lockable.locks WHERE uid = 'doc:1';
-- distribute() and undistribute() are for superusers on a Citus
-- coordinator (55000 here)
\set VERBOSITY sqlstate
SELECT lockable.distribute();
SELECT lockable.undistribute();
\set VERBOSITY default

-- An install of 1.3 with a line, updated to 1.4: the roles of 1.4 exist
-- and have their grants; PUBLIC keeps what it had.
CREATE DATABASE lockable_upgrade_from_1_3;
\c lockable_upgrade_from_1_3
CREATE EXTENSION lockable VERSION '1.3';
SELECT granted FROM lockable.lock_acquire('doc:1', 'alice', '1 hour');
SELECT granted, position FROM lockable.lock_acquire('doc:1', 'bob', queue => true);
SELECT token AS last_token FROM lockable.locks WHERE uid = 'doc:1' \gset
ALTER EXTENSION lockable UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
SELECT r.rolname, has_function_privilege(r.rolname, 'lockable.lock_acquire(text, text, interval, interval, boolean)', 'EXECUTE') AS may_acquire,
       has_function_privilege(r.rolname, 'lockable.lock_break(text)', 'EXECUTE') AS may_break
  FROM pg_roles r WHERE r.rolname IN ('lockable_user', 'lockable_admin') ORDER BY 1;
SELECT has_function_privilege('public', 'lockable.lock_acquire(text, text, interval, interval, boolean)', 'EXECUTE') AS public_may;
-- an ordinary role with no grant still may, until the DBA tightens it
SET ROLE lockable_upgrade_other;
SELECT lockable.lock_owner('doc:1') AS owner_seen;
RESET ROLE;
\i sql/upgrade_tighten.psql
\set ECHO none
\i sql/upgrade_fingerprint.psql
\set ECHO all
\set updated_fingerprint :fp_fingerprint
SELECT line AS only_in_fresh_install
  FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n') AS line
EXCEPT
SELECT line FROM pg_catalog.regexp_split_to_table(:'updated_fingerprint', E'\n') AS line;
SELECT line AS only_in_updated_install
  FROM pg_catalog.regexp_split_to_table(:'updated_fingerprint', E'\n') AS line
EXCEPT
SELECT line FROM pg_catalog.regexp_split_to_table(:'fresh_fingerprint', E'\n') AS line;
SELECT :'fresh_fingerprint' = :'updated_fingerprint' AS identical;
\set VERBOSITY sqlstate
-- error: once tightened, the role with no grant may not (42501)
SET ROLE lockable_upgrade_other;
SELECT lockable.lock_owner('doc:1');
RESET ROLE;
\set VERBOSITY default
-- the line survived: alice's release hands the lock to bob, with a higher token
SELECT lockable.lock_release('doc:1', 'alice');
SELECT owner, token > :last_token AS higher_token FROM lockable.locks WHERE uid = 'doc:1';

-- A DBA's privileges on lock_acquire survive its new signature: the
-- README's Trust model revokes it from PUBLIC and grants it to an
-- application role; a function that depends on it keeps working.
CREATE DATABASE lockable_upgrade_acl;
\c lockable_upgrade_acl
CREATE EXTENSION lockable VERSION '1.1';
REVOKE EXECUTE ON FUNCTION lockable.lock_acquire(text, text, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lockable.lock_acquire(text, text, interval, interval) TO lockable_upgrade_app;
CREATE FUNCTION public.lock_mine(uid text) RETURNS boolean LANGUAGE sql
BEGIN ATOMIC
    SELECT granted FROM lockable.lock_acquire(uid, 'mine');
END;
SELECT 'lockable.lock_acquire(text, text, interval, interval)'::regprocedure::oid AS acquire_oid \gset
ALTER EXTENSION lockable UPDATE TO '1.2';
SELECT 'lockable.lock_acquire(text, text, interval, interval, boolean)'::regprocedure::oid = :acquire_oid AS same_function;
SELECT has_function_privilege('lockable_upgrade_app', 'lockable.lock_acquire(text, text, interval, interval, boolean)', 'EXECUTE') AS app_may,
       has_function_privilege('lockable_upgrade_other', 'lockable.lock_acquire(text, text, interval, interval, boolean)', 'EXECUTE') AS others_may;
SELECT public.lock_mine('doc:1');
SELECT granted, waiters, position FROM lockable.lock_acquire('doc:1', 'other', queue => true);
\set VERBOSITY sqlstate
-- error: the grant is still recorded as the role's dependency (2BP01)
DROP ROLE lockable_upgrade_app;
\set VERBOSITY default

-- Clean up.
\c :regression_db
DROP DATABASE lockable_upgrade_fresh;
DROP DATABASE lockable_upgrade_from_1_0;
DROP DATABASE lockable_upgrade_from_1_1;
DROP DATABASE lockable_upgrade_from_1_2;
DROP DATABASE lockable_upgrade_from_1_3;
DROP DATABASE lockable_upgrade_acl;
DROP ROLE lockable_upgrade_app;
DROP ROLE lockable_upgrade_other;
