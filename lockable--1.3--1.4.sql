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

-- Moving a lock on purpose (src/transfer.c): take over, hand over, ask.
CREATE TYPE lockable.take_over_status AS (
    granted        boolean,
    uid            text,
    owner          text,
    token          bigint,
    acquired_at    timestamptz,
    expires_at     timestamptz,
    waiters        integer,
    position       integer,
    previous_owner text,
    previous_token bigint
);
COMMENT ON TYPE lockable.take_over_status IS
    'result of lock_take_over: the grant, and the live holder it displaced (NULL if none)';

CREATE FUNCTION lockable.lock_take_over(
    uid text,
    owner text,
    ttl interval,
    reason text DEFAULT NULL,
    requeue boolean DEFAULT false)
RETURNS lockable.take_over_status
AS 'MODULE_PATHNAME', 'lock_take_over'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_take_over(text, text, interval, text, boolean) IS
    'an administrator''s: grant uid to owner whatever its state, ending the previous grant, with a new token; requeue puts the displaced holder first in line';
REVOKE EXECUTE ON FUNCTION lockable.lock_take_over(text, text, interval, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lockable.lock_take_over(text, text, interval, text, boolean) TO lockable_admin;

CREATE FUNCTION lockable.lock_hand_over(
    uid text,
    holder text,
    to_owner text,
    ttl interval DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_hand_over'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_hand_over(text, text, text, interval) IS
    'the live holder gives uid to to_owner, wherever it is in the line, with a new token; false if holder does not hold it live';

CREATE FUNCTION lockable.lock_request(uid text, owner text, message text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_request'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_request(text, text, text) IS
    'a waiter with a live place asks the holder for uid (a "requested" notification); changes no lock';

CREATE FUNCTION lockable.lock_decline(uid text, holder text, owner text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_decline'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_decline(text, text, text) IS
    'the live holder declines owner''s request (a "declined" notification); changes no lock';

REVOKE EXECUTE ON FUNCTION
    lockable.lock_hand_over(text, text, text, interval),
    lockable.lock_request(text, text, text),
    lockable.lock_decline(text, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    lockable.lock_hand_over(text, text, text, interval),
    lockable.lock_request(text, text, text),
    lockable.lock_decline(text, text, text)
    TO lockable_user;

-- "saved" notifications (src/announce_save.c), opt-in per table.
CREATE FUNCTION lockable.announce_save()
RETURNS trigger
AS 'MODULE_PATHNAME', 'announce_save'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.announce_save() IS
    'AFTER UPDATE row trigger: a "saved" notification naming the row''s lock, the acting owner and the version (arguments: uid column, uid prefix, version column or empty)';

CREATE FUNCTION lockable.enable_save_announcements(
    tbl regclass,
    uid_column name,
    uid_prefix text DEFAULT '',
    version_column name DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'enable_save_announcements'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.enable_save_announcements(regclass, name, text, name) IS
    '(re)create trigger lockable_announce_save: a "saved" notification when a row is updated, naming uid_prefix || uid_column::text';

CREATE FUNCTION lockable.disable_save_announcements(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'disable_save_announcements'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockable.disable_save_announcements(regclass) IS
    'drop trigger lockable_announce_save';

REVOKE EXECUTE ON FUNCTION
    lockable.announce_save(),
    lockable.enable_save_announcements(regclass, name, text, name),
    lockable.disable_save_announcements(regclass)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    lockable.announce_save(),
    lockable.enable_save_announcements(regclass, name, text, name),
    lockable.disable_save_announcements(regclass)
    TO lockable_user;

-- The history of every change of a lock's holder or line (src/history.c),
-- written in the transaction of the change; lockable.history turns it off,
-- lockable.history_retention bounds it (lock_sweep deletes older rows).
CREATE SEQUENCE lockable.history_seq AS bigint NO CYCLE;
COMMENT ON SEQUENCE lockable.history_seq IS 'numbers the rows of lockable.history';
REVOKE ALL ON SEQUENCE lockable.history_seq FROM PUBLIC;

CREATE TABLE lockable.history (
    id             bigint      NOT NULL,
    at             timestamptz NOT NULL,
    event          text        NOT NULL,
    uid            text        NOT NULL,
    owner          text,
    token          bigint,
    previous_owner text,
    reason         text,
    role           name        NOT NULL
);
CREATE INDEX history_uid ON lockable.history (uid, at);
CREATE INDEX history_at ON lockable.history (at);
COMMENT ON TABLE lockable.history IS
    'every change of a lock''s holder or line, one row per event; written only by the lockable functions';
COMMENT ON COLUMN lockable.history.id IS 'order of the events (no index: each index costs every grant an insert)';
COMMENT ON COLUMN lockable.history.at IS 'when (the database clock)';
COMMENT ON COLUMN lockable.history.event IS
    'grant, release, expiry_hand_off, sweep, break, take_over, hand_over, place_taken, place_left, place_lapsed, request or decline';
COMMENT ON COLUMN lockable.history.uid IS 'the lock';
COMMENT ON COLUMN lockable.history.owner IS 'the owner the event is about (the new holder, the one who asked, ...)';
COMMENT ON COLUMN lockable.history.token IS 'the token of the grant, if any';
COMMENT ON COLUMN lockable.history.previous_owner IS 'the holder before the event, if any (or the holder asked)';
COMMENT ON COLUMN lockable.history.reason IS 'a take-over''s reason, a request''s message, "hand-off"';
COMMENT ON COLUMN lockable.history.role IS 'the database role that made the call';
REVOKE ALL ON TABLE lockable.history FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('lockable.history', '');
SELECT pg_catalog.pg_extension_config_dump('lockable.history_seq', '');

CREATE VIEW lockable.lock_history WITH (security_barrier = true) AS
SELECT h.at, h.event, h.uid, h.owner, h.token, h.previous_owner, h.reason,
       h.role
  FROM lockable.history AS h;
COMMENT ON VIEW lockable.lock_history IS
    'the history of lock changes, for people (order by at, or by id in lockable.history)';
REVOKE ALL ON lockable.lock_history FROM PUBLIC;
GRANT SELECT ON lockable.lock_history TO lockable_admin;

-- Presence leases (src/presence.c): who has a uid open (editing, waiting or
-- viewing) and whether they are idle, for every application server to see.
-- A lease grants nothing; it lapses unless touched again.  Not dumped: a
-- lease ends within its ttl.
CREATE TABLE lockable.presence_leases (
    uid         text        NOT NULL,
    owner       text        NOT NULL,
    idle        boolean     NOT NULL DEFAULT false,
    since       timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (uid, owner)
) WITH (fillfactor = 70);
CREATE INDEX presence_leases_owner ON lockable.presence_leases (owner);
COMMENT ON TABLE lockable.presence_leases IS
    'presence leases: owner has uid open until expires_at; written only by the lockable functions';
REVOKE ALL ON TABLE lockable.presence_leases FROM PUBLIC;

CREATE FUNCTION lockable.presence_touch(
    uid text,
    owner text,
    ttl interval,
    idle boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'presence_touch'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.presence_touch(text, text, interval, boolean) IS
    'start or renew owner''s presence lease on uid until now plus ttl; true (and a "presence" notification) when others can see a change';

CREATE FUNCTION lockable.presence_leave(uid text, owner text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'presence_leave'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.presence_leave(text, text) IS
    'end owner''s presence lease on uid; true (and a "presence" notification) if it was live';

CREATE FUNCTION lockable.presence_of(uid text)
RETURNS TABLE (owner text, idle boolean, since timestamptz, expires_at timestamptz)
LANGUAGE sql VOLATILE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $presence_of$
SELECT p.owner, p.idle, p.since, p.expires_at
  FROM lockable.presence_leases AS p
 WHERE p.uid OPERATOR(pg_catalog.=) $1
   AND p.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()
 ORDER BY p.since, p.owner
$presence_of$;
COMMENT ON FUNCTION lockable.presence_of(text) IS
    'the live presence leases of uid, oldest first';

REVOKE EXECUTE ON FUNCTION
    lockable.presence_touch(text, text, interval, boolean),
    lockable.presence_leave(text, text),
    lockable.presence_of(text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    lockable.presence_touch(text, text, interval, boolean),
    lockable.presence_leave(text, text),
    lockable.presence_of(text)
    TO lockable_user;

-- An updated install keeps PUBLIC's EXECUTE and SELECT, so that the
-- applications using it keep working; a fresh 1.4 revokes them.  README,
-- "Upgrading", gives the statements that tighten an updated install to a
-- fresh one's privileges, once the applications' roles have lockable_user.
