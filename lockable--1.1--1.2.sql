/* lockable--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockable UPDATE TO '1.2'" to load this file. \quit

-- Trust.  The functions run as the extension's owner and find their tables
-- by name in this schema, so the schema must not be in the hands of a role
-- that is not a superuser (see src/trust.c).  Check before changing
-- anything: an update in a squatted schema fails and changes nothing.
CREATE FUNCTION lockable.verify_installation()
RETURNS void
AS 'MODULE_PATHNAME', 'verify_installation'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.verify_installation() IS
    'raise an error unless the schema, tables and sequence the lock functions use are the extension''s own';
REVOKE EXECUTE ON FUNCTION lockable.verify_installation() FROM PUBLIC;
SELECT lockable.verify_installation();
