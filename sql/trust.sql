--
-- trust: CREATE EXTENSION refuses a schema that an ordinary role squatted
-- (the CVE-2022-2625 kind of escalation), and creates nothing; the lock
-- functions refuse a schema that was handed to an ordinary role later.
--
SELECT current_database() AS regression_db \gset
CREATE ROLE lockable_squatter LOGIN;
CREATE DATABASE lockable_trust;
GRANT CREATE ON DATABASE lockable_trust TO lockable_squatter;
\c lockable_trust
\set VERBOSITY sqlstate

-- The squatter makes the schema before the superuser installs the extension.
SET ROLE lockable_squatter;
CREATE SCHEMA lockable;
RESET ROLE;
-- error: the schema is owned by a role that is not a superuser (55000)
CREATE EXTENSION lockable;
-- (without the CONTEXT line that 18 adds, naming the extension script)
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE EXTENSION lockable;
\set SHOW_CONTEXT errors
\set VERBOSITY sqlstate
-- nothing was created
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'lockable';
SELECT count(*) AS objects_in_schema FROM pg_class
 WHERE relnamespace = 'lockable'::regnamespace;
SELECT count(*) AS functions_in_schema FROM pg_proc
 WHERE pronamespace = 'lockable'::regnamespace;
-- The released 1.1 script, which cannot be changed, installs there; its
-- update to 1.2 is refused (55000) and changes nothing.
CREATE EXTENSION lockable VERSION '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
ALTER EXTENSION lockable UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
-- and the 1.2 functions, run against an installation of 1.1 in that schema,
-- refuse it too (55000)
SELECT lockable.lock_acquire('doc:1', 'alice');
DROP EXTENSION lockable;
SET ROLE lockable_squatter;
DROP SCHEMA lockable;
RESET ROLE;

-- A schema a superuser made beforehand is fine: pg_dump's output creates the
-- schema before CREATE EXTENSION, as the superuser who restores.
CREATE SCHEMA lockable;
CREATE EXTENSION lockable;
SELECT granted, owner FROM lockable.lock_acquire('doc:1', 'alice');
DROP EXTENSION lockable;
-- error: unless it lets other roles create objects in it (55000)
GRANT CREATE ON SCHEMA lockable TO lockable_squatter;
CREATE EXTENSION lockable;
REVOKE CREATE ON SCHEMA lockable FROM lockable_squatter;
GRANT CREATE ON SCHEMA lockable TO PUBLIC;
CREATE EXTENSION lockable;
DROP SCHEMA lockable;

-- A schema handed to an ordinary role after the install: the functions
-- refuse it (55000) and write nothing; handing it back restores them.
CREATE EXTENSION lockable;
SELECT granted FROM lockable.lock_acquire('doc:2', 'alice');
ALTER SCHEMA lockable OWNER TO lockable_squatter;
SELECT lockable.lock_acquire('doc:3', 'alice');
SELECT lockable.lock_release('doc:2', 'alice');
SELECT lockable.lock_owner('doc:2');
SELECT lockable.verify_installation();
ALTER SCHEMA lockable OWNER TO CURRENT_USER;
SELECT lockable.lock_owner('doc:2');
SELECT uid, owner FROM lockable.locks ORDER BY uid;
\set VERBOSITY default

-- A token sequence that caches values would hand out tokens out of order
-- across backends: refused (55000) in every new session, until CACHE 1.
ALTER SEQUENCE lockable.token_seq CACHE 10;
\c lockable_trust
SELECT lockable.lock_acquire('doc:4', 'alice');
ALTER SEQUENCE lockable.token_seq CACHE 1;
\c lockable_trust
SELECT granted FROM lockable.lock_acquire('doc:4', 'alice');

\c :regression_db
DROP DATABASE lockable_trust;
DROP ROLE lockable_squatter;
