--
-- security: what an ordinary role may do, and what it may not
--
\set VERBOSITY sqlstate

CREATE ROLE regress_lockable_app LOGIN;

-- From 1.4 PUBLIC may call none of the lock functions, nor read the views:
-- error: an ordinary role that nobody granted lockable_user is refused
-- everything (42501)
SET ROLE regress_lockable_app;
SELECT granted FROM lockable.lock_acquire('sec:1', 'app-user-1');
SELECT granted FROM lockable.lock_acquire('sec:1', 'app-user-1', queue => true);
SELECT lockable.lock_release('sec:1', 'app-user-1');
SELECT lockable.lock_owner('sec:1');
SELECT lockable.lock_verify('sec:1', 'app-user-1', 0);
SELECT lockable.lock_release_all('app-user-1');
SELECT count(*) FROM lockable.active_locks;
SELECT count(*) FROM lockable.lock_queue;
SELECT lockable.lock_break('sec:1');
SELECT lockable.lock_sweep();
CREATE TEMP TABLE mine (id integer);
SELECT lockable.enable_lock_enforcement('mine', 'id');
-- versioning touches no lock: PUBLIC may use it on its own tables
SELECT lockable.enable_versioning('mine');
DROP TABLE mine;
RESET ROLE;
-- nothing was written
SELECT count(*) AS rows FROM lockable.locks WHERE uid LIKE 'sec:%';

GRANT lockable_user TO regress_lockable_app;
SET ROLE regress_lockable_app;

-- granted lockable_user, a role acquires, renews, looks up, verifies and
-- releases
SELECT granted, owner FROM lockable.lock_acquire('sec:1', 'app-user-1');
SELECT granted FROM lockable.lock_acquire('sec:1', 'app-user-1', '2 minutes');
SELECT lockable.lock_owner('sec:1');
SELECT lockable.lock_verify('sec:1', 'app-user-1', 0);
SELECT uid, owner FROM lockable.active_locks WHERE uid = 'sec:1';
SELECT lockable.lock_release('sec:1', 'app-user-1');
SELECT lockable.lock_release_all('app-user-1');

-- error: it cannot read or write the table, nor take tokens (42501)
SELECT * FROM lockable.locks;
INSERT INTO lockable.locks VALUES ('sec:x', 'mallory', 1, now(), now() + interval '1 year');
UPDATE lockable.locks SET owner = 'mallory';
DELETE FROM lockable.locks;
TRUNCATE lockable.locks;
SELECT nextval('lockable.token_seq');
SELECT setval('lockable.token_seq', 1);

-- error: it cannot break locks or sweep (42501)
SELECT lockable.lock_break('sec:1');
SELECT lockable.lock_sweep();

-- error: it cannot raise lockable.max_ttl (42501)
SET lockable.max_ttl = '1 year';

-- it can turn its own notifications off
SET lockable.notify = off;
RESET lockable.notify;

RESET ROLE;

-- a DBA grants lockable_admin to an admin role, which may break, sweep,
-- and do what lockable_user may
CREATE ROLE regress_lockable_admin;
GRANT lockable_admin TO regress_lockable_admin;
SELECT granted FROM lockable.lock_acquire('sec:2', 'app-user-2');
SET ROLE regress_lockable_admin;
SELECT lockable.lock_break('sec:2');
SELECT lockable.lock_sweep('1 year') >= 0 AS swept;
SELECT granted FROM lockable.lock_acquire('sec:2', 'admin-1');
SELECT lockable.lock_release('sec:2', 'admin-1');
RESET ROLE;

-- every function that touches the table runs as its owner, with search_path pinned
-- (the triggers and their helpers of 1.1 run as the caller; enforce_lock
-- switches to the table's owner for its lookup only, see enforce_lock.sql)
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'lockable'::regnamespace
 ORDER BY p.proname;

-- a hostile object on the caller's search_path changes nothing
CREATE SCHEMA hostile;
CREATE TABLE hostile.locks (uid text, owner text, token bigint,
                            acquired_at timestamptz, expires_at timestamptz);
CREATE FUNCTION hostile.clock_timestamp() RETURNS timestamptz
    LANGUAGE sql AS $$ SELECT timestamptz '2000-01-01' $$;
CREATE FUNCTION hostile.nextval(regclass) RETURNS bigint
    LANGUAGE sql AS $$ SELECT 1::bigint $$;
CREATE FUNCTION hostile.texteq_evil(text, text) RETURNS boolean
    LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text,
                           FUNCTION = hostile.texteq_evil);
GRANT USAGE ON SCHEMA hostile TO PUBLIC;
SET search_path = hostile, lockable, public;
SET ROLE regress_lockable_app;
SELECT granted, owner FROM lock_acquire('sec:3', 'app-user-3');
SELECT granted, owner, token IS NULL AS no_token FROM lock_acquire('sec:3', 'app-user-4');
SELECT lock_owner('sec:3');
SELECT uid, owner FROM active_locks WHERE uid OPERATOR(pg_catalog.=) 'sec:3';
RESET ROLE;
RESET search_path;
SELECT count(*) AS hostile_rows FROM hostile.locks;
SELECT uid, owner FROM lockable.locks WHERE uid = 'sec:3';

SET client_min_messages = warning;
DROP SCHEMA hostile CASCADE;
RESET client_min_messages;
SELECT lockable.lock_release_all('app-user-3');
REVOKE EXECUTE ON FUNCTION lockable.lock_break(text) FROM regress_lockable_admin;
DROP ROLE regress_lockable_admin;
REVOKE ALL ON SCHEMA lockable FROM regress_lockable_app;
DROP ROLE regress_lockable_app;
