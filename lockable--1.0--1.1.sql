/* lockable--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockable UPDATE TO '1.1'" to load this file. \quit

-- 1.1 adds two trigger functions, written in C, that make the database
-- itself refuse lost updates and writes to rows locked by someone else, and
-- the helpers that install them.  New settings (lockable.owner,
-- lockable.token) are defined by the module, not here.

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
