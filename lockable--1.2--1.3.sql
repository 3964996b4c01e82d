/* lockable--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockable UPDATE TO '1.3'" to load this file. \quit

SELECT lockable.verify_installation();

CREATE FUNCTION lockable.distribute()
RETURNS void
AS 'MODULE_PATHNAME', 'lockable_distribute'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.distribute() IS
    'on a Citus coordinator, as a superuser: distribute lockable''s tables by uid and delegate the per-uid functions to the nodes that hold their shards';
REVOKE EXECUTE ON FUNCTION lockable.distribute() FROM PUBLIC;

CREATE FUNCTION lockable.undistribute()
RETURNS void
AS 'MODULE_PATHNAME', 'lockable_undistribute'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.undistribute() IS
    'on a Citus coordinator, as a superuser: bring lockable''s tables back to the coordinator and stop delegating the per-uid functions';
REVOKE EXECUTE ON FUNCTION lockable.undistribute() FROM PUBLIC;
