/* lockable--1.4.sql */

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

-- Who may use lockable: the lock functions are granted to lockable_user,
-- which an application's role is granted, and the administrator's functions
-- to lockable_admin, which may do what lockable_user may; PUBLIC may call
-- none of them.  Roles belong to the cluster, not to a database: they are
-- made when missing and used as they are when present, and DROP EXTENSION
-- leaves them.
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

-- The extension's schema (created by CREATE EXTENSION from the control file)
-- is usable by everyone; what each role may do is granted object by object.
GRANT USAGE ON SCHEMA lockable TO PUBLIC;

-- Fencing tokens.  One counter for every grant the database ever makes, so a
-- token is never reused, whatever lock_sweep deletes.
CREATE SEQUENCE lockable.token_seq AS bigint NO CYCLE;
COMMENT ON SEQUENCE lockable.token_seq IS
    'source of fencing tokens: strictly increasing over every grant';

-- One row per uid ever locked.  A released lock keeps its row (owner NULL,
-- expires_at the moment of release) so the next grant is a HOT update.  The
-- row also counts the places in its uid's waiting line and numbers the last
-- one taken; every change to a line writes its lock row first, so that the
-- lock row serializes everything that happens to a uid (src/queue.h).
CREATE TABLE lockable.locks (
    uid         text        PRIMARY KEY,
    owner       text,
    token       bigint      NOT NULL,
    acquired_at timestamptz,
    expires_at  timestamptz,
    places      integer     NOT NULL DEFAULT 0,
    last_place  bigint      NOT NULL DEFAULT 0
) WITH (fillfactor = 70);
COMMENT ON TABLE lockable.locks IS
    'lease locks: one row per uid; written only by the lockable functions';
COMMENT ON COLUMN lockable.locks.uid IS 'the name of the locked resource';
COMMENT ON COLUMN lockable.locks.owner IS 'the holder; NULL once released';
COMMENT ON COLUMN lockable.locks.token IS 'fencing token of the last grant';
COMMENT ON COLUMN lockable.locks.acquired_at IS 'when the last grant was made';
COMMENT ON COLUMN lockable.locks.expires_at IS
    'when the lease ends (or ended: release sets it to the moment of release)';
COMMENT ON COLUMN lockable.locks.places IS
    'rows the uid has in lockable.places, live or lapsed';
COMMENT ON COLUMN lockable.locks.last_place IS
    'order number of the last place taken in the uid''s line';

REVOKE ALL ON TABLE lockable.locks FROM PUBLIC;
REVOKE ALL ON SEQUENCE lockable.token_seq FROM PUBLIC;

-- One row per place: owner waits in uid's line, at order number seq, until
-- expires_at (it renews the place as a holder renews a lock); ttl is the
-- lease it asked for, which a hand-off grants.
CREATE TABLE lockable.places (
    uid         text        NOT NULL,
    owner       text        NOT NULL,
    seq         bigint      NOT NULL,
    ttl         interval    NOT NULL,
    queued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (uid, owner)
) WITH (fillfactor = 70);
CREATE UNIQUE INDEX places_line ON lockable.places (uid, seq);
CREATE INDEX places_owner ON lockable.places (owner);
COMMENT ON TABLE lockable.places IS
    'waiting lines: one row per place; written only by the lockable functions';
REVOKE ALL ON TABLE lockable.places FROM PUBLIC;

-- The lock table and the token counter are data: pg_dump keeps them, so a
-- restored database keeps its live locks and never reissues a token.
SELECT pg_catalog.pg_extension_config_dump('lockable.locks', '');
SELECT pg_catalog.pg_extension_config_dump('lockable.token_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lockable.places', '');

CREATE TYPE lockable.lock_status AS (
    granted     boolean,
    uid         text,
    owner       text,
    token       bigint,
    acquired_at timestamptz,
    expires_at  timestamptz,
    waiters     integer,
    position    integer
);
COMMENT ON TYPE lockable.lock_status IS
    'result of lock_acquire: granted, or the current holder; the live places in line and the caller''s position';

-- The functions are not STRICT: a NULL argument is an error (22004), not a
-- silent NULL result.  Everything that touches lockable.locks runs as the
-- extension owner with a pinned search_path.

CREATE FUNCTION lockable.lock_acquire(
    uid text,
    owner text,
    ttl interval DEFAULT '1 minute',
    wait interval DEFAULT '0',
    queue boolean DEFAULT false)
RETURNS lockable.lock_status
AS 'MODULE_PATHNAME', 'lock_acquire_1_2'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_acquire(text, text, interval, interval, boolean) IS
    'grant or renew a lease lock on uid for owner, waiting up to wait, or take a place in its line (queue)';

CREATE FUNCTION lockable.lock_release(uid text, owner text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_release'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_release(text, text) IS
    'release owner''s live lock on uid, handing it to the next live place in line, or give up owner''s place; false if it had neither';

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
    'release every live lock of owner and give up every place it has in a line; returns how many of both';

CREATE FUNCTION lockable.lock_break(uid text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_break'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_break(text) IS
    'administrator''s forced release of the live lock on uid, handed to the next live place in line';
REVOKE EXECUTE ON FUNCTION lockable.lock_break(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lockable.lock_break(text) TO lockable_admin;

CREATE FUNCTION lockable.lock_sweep(older_than interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'lock_sweep'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION lockable.lock_sweep(interval) IS
    'hand on expired locks with a live place waiting, remove lapsed places, and delete rows of locks that ended (released or expired) over older_than ago with no line';
REVOKE EXECUTE ON FUNCTION lockable.lock_sweep(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lockable.lock_sweep(interval) TO lockable_admin;

-- The lock functions are for lockable_user, not PUBLIC.
REVOKE EXECUTE ON FUNCTION
    lockable.lock_acquire(text, text, interval, interval, boolean),
    lockable.lock_release(text, text),
    lockable.lock_owner(text),
    lockable.lock_verify(text, text, bigint),
    lockable.lock_release_all(text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    lockable.lock_acquire(text, text, interval, interval, boolean),
    lockable.lock_release(text, text),
    lockable.lock_owner(text),
    lockable.lock_verify(text, text, bigint),
    lockable.lock_release_all(text)
    TO lockable_user;

-- Live locks, and how many wait for each.  The views read the tables with
-- their owner's rights, so lockable_user sees live locks and places without
-- being able to read lockable.locks or lockable.places.
CREATE VIEW lockable.active_locks WITH (security_barrier = true) AS
SELECT l.uid,
       l.owner,
       l.token,
       l.acquired_at,
       l.expires_at,
       l.expires_at OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()
           AS remaining,
       CASE WHEN l.places OPERATOR(pg_catalog.=) 0 THEN 0
            ELSE CAST((SELECT pg_catalog.count(*)
                         FROM lockable.places AS p
                        WHERE p.uid OPERATOR(pg_catalog.=) l.uid
                          AND p.expires_at OPERATOR(pg_catalog.>)
                              pg_catalog.clock_timestamp())
                      AS pg_catalog.int4)
       END AS waiters
  FROM lockable.locks AS l
 WHERE l.owner IS NOT NULL
   AND l.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp();
COMMENT ON VIEW lockable.active_locks IS
    'live locks, with the time each has left and the live places in its line';
GRANT SELECT ON lockable.active_locks TO lockable_user;

-- The live places, in line order.
CREATE VIEW lockable.lock_queue WITH (security_barrier = true) AS
SELECT p.uid,
       p.owner,
       CAST(pg_catalog.row_number() OVER (PARTITION BY p.uid ORDER BY p.seq)
            AS pg_catalog.int4) AS position,
       p.queued_at,
       p.expires_at
  FROM lockable.places AS p
 WHERE p.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp();
COMMENT ON VIEW lockable.lock_queue IS
    'live places in the waiting lines, with each waiter''s position (1 = next)';
GRANT SELECT ON lockable.lock_queue TO lockable_user;

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

-- Lock enforcement acts on lock rows: for lockable_user, not PUBLIC (and it
-- refuses a table whose owner may not use lockable, see src/enforce_lock.c).
-- version_check and its helpers touch no lock and stay PUBLIC's.
REVOKE EXECUTE ON FUNCTION
    lockable.enforce_lock(),
    lockable.enable_lock_enforcement(regclass, name, text, boolean),
    lockable.disable_lock_enforcement(regclass)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    lockable.enforce_lock(),
    lockable.enable_lock_enforcement(regclass, name, text, boolean),
    lockable.disable_lock_enforcement(regclass)
    TO lockable_user;

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
