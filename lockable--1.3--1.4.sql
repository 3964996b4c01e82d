/* lockable--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockable UPDATE TO '1.4'" to load this file. \quit

SELECT lockable.verify_installation();

-- Who may use lockable.  1.4 grants the lock functions to a role of their
-- own, lockable_user, that an application's role is granted, and the
-- administrator's functions to lockable_admin, which may do what
-- lockable_user may.  Roles belong to the cluster, not to a database: they
-- are made when missing and used as they are when present, and DROP
-- EXTENSION leaves them.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                    WHERE rolname OPERATOR(pg_catalog.=) 'lockable_user') THEN
        CREATE ROLE lockable_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                    WHERE rolname OPERATOR(pg_catalog.=) 'lockable_admin') THEN
        CREATE ROLE lockable_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('lockable_admin', 'lockable_user', 'MEMBER') THEN
        GRANT lockable_user TO lockable_admin;
    END IF;
END
$roles$;

GRANT EXECUTE ON FUNCTION
    lockable.lock_acquire(text, text, interval, interval, boolean),
    lockable.lock_release(text, text),
    lockable.lock_owner(text),
    lockable.lock_verify(text, text, bigint),
    lockable.lock_release_all(text),
    lockable.enforce_lock(),
    lockable.enable_lock_enforcement(regclass, name, text, boolean),
    lockable.disable_lock_enforcement(regclass)
    TO lockable_user;
GRANT SELECT ON lockable.active_locks, lockable.lock_queue TO lockable_user;
GRANT EXECUTE ON FUNCTION lockable.lock_break(text), lockable.lock_sweep(interval)
    TO lockable_admin;

-- Notifications are hints (src/notify.c): those that could not be sent (a
-- full NOTIFY queue, a prepared transaction) are counted here.
CREATE FUNCTION lockable.notification_counts(
    OUT dropped bigint, OUT since timestamptz, OUT server_wide boolean,
    OUT queue_usage double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'notification_counts'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockable.notification_counts() IS
    'lockable notifications not sent since the server started (preloaded) or by this backend, and the NOTIFY queue''s fill';
REVOKE EXECUTE ON FUNCTION lockable.notification_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lockable.notification_counts() TO lockable_user;

CREATE VIEW lockable.notification_stats AS
SELECT dropped, since, server_wide, queue_usage
  FROM lockable.notification_counts();
COMMENT ON VIEW lockable.notification_stats IS
    'lockable notifications dropped because the NOTIFY queue was too full or the transaction was prepared, and the queue''s fill now';
REVOKE ALL ON lockable.notification_stats FROM PUBLIC;
GRANT SELECT ON lockable.notification_stats TO lockable_user;

-- An updated install keeps PUBLIC's EXECUTE and SELECT, so that the
-- applications using it keep working; a fresh 1.4 revokes them.  README,
-- "Upgrading", gives the statements that tighten an updated install to a
-- fresh one's privileges, once the applications' roles have lockable_user.
