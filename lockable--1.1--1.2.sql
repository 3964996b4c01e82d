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

-- The waiting line (see src/queue.h).  Each lock row counts the places in
-- its uid's line and numbers the last one taken; every change to a line
-- writes its lock row first, so that the lock row serializes everything
-- that happens to a uid.  The new columns get their defaults without a
-- table rewrite, and existing locks and tokens are kept.
ALTER TABLE lockable.locks
    ADD COLUMN places integer NOT NULL DEFAULT 0,
    ADD COLUMN last_place bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN lockable.locks.places IS
    'rows the uid has in lockable.places, live or lapsed';
COMMENT ON COLUMN lockable.locks.last_place IS
    'order number of the last place taken in the uid''s line';

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
SELECT pg_catalog.pg_extension_config_dump('lockable.places', '');

ALTER TYPE lockable.lock_status
    ADD ATTRIBUTE waiters integer,
    ADD ATTRIBUTE position integer;
COMMENT ON TYPE lockable.lock_status IS
    'result of lock_acquire: granted, or the current holder; the live places in line and the caller''s position';

-- lock_acquire gains a fifth argument, queue.  CREATE OR REPLACE cannot
-- change a function's arguments, and DROP and CREATE would forget the
-- privileges a DBA set on it (the README's Trust model revokes it from
-- PUBLIC) and break what depends on it.  So the new signature is declared
-- on a scratch function and moved onto the existing one, which keeps its
-- OID, owner, privileges, comment and dependents; the scratch function goes.
CREATE FUNCTION lockable.lock_acquire_1_2(
    uid text,
    owner text,
    ttl interval DEFAULT '1 minute',
    wait interval DEFAULT '0',
    queue boolean DEFAULT false)
RETURNS lockable.lock_status
AS 'MODULE_PATHNAME', 'lock_acquire_1_2'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
UPDATE pg_catalog.pg_proc AS p
   SET pronargs = n.pronargs,
       pronargdefaults = n.pronargdefaults,
       proargtypes = n.proargtypes,
       proallargtypes = n.proallargtypes,
       proargmodes = n.proargmodes,
       proargnames = n.proargnames,
       proargdefaults = n.proargdefaults,
       prosrc = n.prosrc
  FROM pg_catalog.pg_proc AS n
 WHERE p.oid OPERATOR(pg_catalog.=)
       'lockable.lock_acquire(text, text, interval, interval)'::pg_catalog.regprocedure
   AND n.oid OPERATOR(pg_catalog.=)
       'lockable.lock_acquire_1_2(text, text, interval, interval, boolean)'::pg_catalog.regprocedure;
DROP FUNCTION lockable.lock_acquire_1_2(text, text, interval, interval, boolean);
COMMENT ON FUNCTION lockable.lock_acquire(text, text, interval, interval, boolean) IS
    'grant or renew a lease lock on uid for owner, waiting up to wait, or take a place in its line (queue)';

-- What releasing, breaking and sweeping now do with the line.
COMMENT ON FUNCTION lockable.lock_release(text, text) IS
    'release owner''s live lock on uid, handing it to the next live place in line, or give up owner''s place; false if it had neither';
COMMENT ON FUNCTION lockable.lock_release_all(text) IS
    'release every live lock of owner and give up every place it has in a line; returns how many of both';
COMMENT ON FUNCTION lockable.lock_break(text) IS
    'administrator''s forced release of the live lock on uid, handed to the next live place in line';
COMMENT ON FUNCTION lockable.lock_sweep(interval) IS
    'hand on expired locks with a live place waiting, remove lapsed places, and delete rows of locks that ended (released or expired) over older_than ago with no line';

-- Live locks, and how many wait for each.
CREATE OR REPLACE VIEW lockable.active_locks WITH (security_barrier = true) AS
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
GRANT SELECT ON lockable.lock_queue TO PUBLIC;
