/* lockable--1.2.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lockable" to load this file. \quit

-- Trust first.  CREATE EXTENSION created the schema lockable, or found it
-- already there.  The functions below run as the extension's owner and find
-- their tables by name in it, so a schema that a role other than a superuser
-- owns, or may create objects in, is refused before anything is created
-- (see src/trust.c).
CREATE FUNCTION lockable.verify_installation()
RETURNS void
AS 'MODULE_PATHNAME', 'verify_installation'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.verify_installation() IS
    'raise an error unless the schema, tables and sequence the lock functions use are the extension''s own';
REVOKE EXECUTE ON FUNCTION lockable.verify_installation() FROM PUBLIC;
SELECT lockable.verify_installation();

-- The extension's schema (created by CREATE EXTENSION from the control file)
-- is usable by everyone; what each role may do is granted object by object.
GRANT USAGE ON SCHEMA lockable TO PUBLIC;

-- Fencing tokens.  One counter for every grant the database ever makes, so a
-- token is never reused, whatever lock_sweep deletes.
CREATE SEQUENCE lockable.token_seq AS bigint NO CYCLE;
COMMENT ON SEQUENCE lockable.token_seq IS
    'source of fencing tokens: strictly increasing over every grant';

-- One row per uid ever locked.  A released lock keeps its row (owner NULL,
-- expires_at the moment of release) so the next grant is a HOT update.
CREATE TABLE lockable.locks (
    uid         text        PRIMARY KEY,
    owner       text,
    token       bigint      NOT NULL,
    acquired_at timestamptz,
    expires_at  timestamptz
) WITH (fillfactor = 70);
COMMENT ON TABLE lockable.locks IS
    'lease locks: one row per uid; written only by the lockable functions';
COMMENT ON COLUMN lockable.locks.uid IS 'the name of the locked resource';
COMMENT ON COLUMN lockable.locks.owner IS 'the holder; NULL once released';
COMMENT ON COLUMN lockable.locks.token IS 'fencing token of the last grant';
COMMENT ON COLUMN lockable.locks.acquired_at IS 'when the last grant was made';
COMMENT ON COLUMN lockable.locks.expires_at IS
    'when the lease ends (or ended: release sets it to the moment of release)';

REVOKE ALL ON TABLE lockable.locks FROM PUBLIC;
REVOKE ALL ON SEQUENCE lockable.token_seq FROM PUBLIC;

-- The lock table and the token counter are data: pg_dump keeps them, so a
-- restored database keeps its live locks and never reissues a token.
SELECT pg_catalog.pg_extension_config_dump('lockable.locks', '');
SELECT pg_catalog.pg_extension_config_dump('lockable.token_seq', '');

CREATE TYPE lockable.lock_status AS (
    granted     boolean,
    uid         text,
    owner       text,
    token       bigint,
    acquired_at timestamptz,
    expires_at  timestamptz
);
COMMENT ON TYPE lockable.lock_status IS
    'result of lock_acquire: granted, or the current holder';

-- The functions are not STRICT: a NULL argument is an error (22004), not a
-- silent NULL result.  Everything that touches lockable.locks runs as the
-- extension owner with a pinned search_path.

CREATE FUNCTION lockable.lock_acquire(
    uid text,
    owner text,
    ttl interval DEFAULT '1 minute',
    wait interval DEFAULT '0')
RETURNS lockable.lock_status
AS 'MODULE_PATHNAME', 'lock_acquire'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_acquire(text, text, interval, interval) IS
    'grant or renew a lease lock on uid for owner, waiting up to wait';

CREATE FUNCTION lockable.lock_release(uid text, owner text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_release'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_release(text, text) IS
    'release owner''s live lock on uid; false if owner did not hold it';

CREATE FUNCTION lockable.lock_owner(uid text)
RETURNS text
AS 'MODULE_PATHNAME', 'lock_owner'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_owner(text) IS
    'the live holder of uid, or NULL';

CREATE FUNCTION lockable.lock_verify(uid text, owner text, token bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_verify'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_verify(text, text, bigint) IS
    'true if the grant of uid to owner with this fencing token is live';

CREATE FUNCTION lockable.lock_release_all(owner text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lock_release_all'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_release_all(text) IS
    'release every live lock of owner; returns how many';

CREATE FUNCTION lockable.lock_break(uid text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_break'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_break(text) IS
    'administrator''s forced release of the live lock on uid';
REVOKE EXECUTE ON FUNCTION lockable.lock_break(text) FROM PUBLIC;

CREATE FUNCTION lockable.lock_sweep(older_than interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'lock_sweep'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_sweep(interval) IS
    'delete rows of locks that ended (released or expired) over older_than ago';
REVOKE EXECUTE ON FUNCTION lockable.lock_sweep(interval) FROM PUBLIC;

-- Live locks only.  The view reads the table with its owner's rights, so
-- PUBLIC sees live locks without being able to read lockable.locks itself.
CREATE VIEW lockable.active_locks WITH (security_barrier = true) AS
SELECT l.uid,
       l.owner,
       l.token,
       l.acquired_at,
       l.expires_at,
       l.expires_at OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()
           AS remaining
  FROM lockable.locks AS l
 WHERE l.owner IS NOT NULL
   AND l.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp();
COMMENT ON VIEW lockable.active_locks IS
    'live locks, with the time each has left';
GRANT SELECT ON lockable.active_locks TO PUBLIC;

-- Optimistic concurrency.  Pure tuple arithmetic, so PARALLEL SAFE.
CREATE FUNCTION lockable.version_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'version_check'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockable.version_check() IS
    'BEFORE INSERT OR UPDATE row trigger: refuse stale versions (40001), bump the version column (argument: column, default version)';

-- Lock enforcement.  It reads lockable.locks as that table's owner, for
-- this one lookup only; it is not SECURITY DEFINER, so the rest of the
-- trigger (the column's output function included) runs as the writer.  It
-- share-locks lock rows, which no parallel worker may do.
CREATE FUNCTION lockable.enforce_lock()
RETURNS trigger
AS 'MODULE_PATHNAME', 'enforce_lock'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.enforce_lock() IS
    'BEFORE UPDATE OR DELETE row trigger: refuse writes to rows whose lease lock another owner holds (55P03) (arguments: column, prefix, mode if_locked or required)';

-- The helpers run as the caller, who must own the table (42501 otherwise),
-- and change nothing but that table's column and triggers.
CREATE FUNCTION lockable.enable_versioning(
    tbl regclass,
    version_column name DEFAULT 'version')
RETURNS void
AS 'MODULE_PATHNAME', 'enable_versioning'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.enable_versioning(regclass, name) IS
    'add the version column (bigint NOT NULL DEFAULT 1) if missing and (re)create trigger lockable_version_check';

CREATE FUNCTION lockable.disable_versioning(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'disable_versioning'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.disable_versioning(regclass) IS
    'drop trigger lockable_version_check; the version column stays';

CREATE FUNCTION lockable.enable_lock_enforcement(
    tbl regclass,
    uid_column name,
    uid_prefix text DEFAULT '',
    required boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'enable_lock_enforcement'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.enable_lock_enforcement(regclass, name, text, boolean) IS
    '(re)create trigger lockable_enforce_lock: the lock of a row is uid_prefix || uid_column::text';

CREATE FUNCTION lockable.disable_lock_enforcement(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'disable_lock_enforcement'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.disable_lock_enforcement(regclass) IS
    'drop trigger lockable_enforce_lock';
