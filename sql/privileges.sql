--
-- privileges: what an ordinary role may do and nothing more, a hostile
-- search_path that changes no result, and pinned search_paths
--
\set VERBOSITY sqlstate
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lockable;
RESET client_min_messages;

CREATE ROLE regress_lockable_priv_app;
CREATE ROLE regress_lockable_priv_admin;
GRANT lockable_user TO regress_lockable_priv_app;
GRANT lockable_admin TO regress_lockable_priv_admin;

--
-- An ordinary role can acquire, renew, look up, verify and release ...
--
SET ROLE regress_lockable_priv_app;
SELECT granted, owner, token > 0 AS has_token
  FROM lockable.lock_acquire('priv:1', 'app-user-1', '10 minutes');
SELECT token AS priv1_token FROM lockable.active_locks WHERE uid = 'priv:1' \gset
SELECT granted, token = :priv1_token AS same_token
  FROM lockable.lock_acquire('priv:1', 'app-user-1', '20 minutes');
SELECT granted, owner FROM lockable.lock_acquire('priv:1', 'app-user-2');
SELECT lockable.lock_owner('priv:1');
SELECT lockable.lock_verify('priv:1', 'app-user-1', :priv1_token);
SELECT uid, owner FROM lockable.active_locks WHERE uid LIKE 'priv:%';
SELECT lockable.lock_release('priv:1', 'app-user-2');
SELECT lockable.lock_release('priv:1', 'app-user-1');
SELECT granted FROM lockable.lock_acquire('priv:2', 'app-user-1');
SELECT granted FROM lockable.lock_acquire('priv:3', 'app-user-1');
SELECT lockable.lock_release_all('app-user-1');
-- and turn notifications off for its own session
SET lockable.notify = off;
RESET lockable.notify;

-- ... and nothing more.
-- error: read the lock table directly
SELECT count(*) FROM lockable.locks;
-- error: write the lock table directly
INSERT INTO lockable.locks VALUES ('priv:4', 'app-user-1', 1, now(), now() + '1 hour');
-- error: update it
UPDATE lockable.locks SET owner = 'app-user-2' WHERE uid = 'priv:1';
-- error: delete from it
DELETE FROM lockable.locks;
-- error: truncate it
TRUNCATE lockable.locks;
-- error: drop it
DROP TABLE lockable.locks;
-- error: draw a token
SELECT nextval('lockable.token_seq');
-- error: move the token counter back
SELECT setval('lockable.token_seq', 1);
-- error: break a lock
SELECT lockable.lock_break('priv:1');
-- error: sweep the table
SELECT lockable.lock_sweep();
-- error: lift the ttl cap
SET lockable.max_ttl = '1 year';
-- error: put objects in the extension's schema
CREATE TABLE lockable.evil (x int);
-- error: replace an extension function
CREATE OR REPLACE FUNCTION lockable.lock_owner(uid text) RETURNS text
    LANGUAGE sql AS $$ SELECT 'mallory' $$;
RESET ROLE;

--
-- lock_break is for the role a DBA grants it to.
--
SELECT granted FROM lockable.lock_acquire('priv:5', 'app-user-1');
SET ROLE regress_lockable_priv_admin;
SELECT lockable.lock_break('priv:5');
SELECT lockable.lock_owner('priv:5');
RESET ROLE;

--
-- A hostile schema earlier on the search_path, with look-alikes of the
-- functions and operators the extension uses, changes no result.
--
CREATE SCHEMA regress_hostile;
GRANT USAGE ON SCHEMA regress_hostile TO PUBLIC;
CREATE FUNCTION regress_hostile.now() RETURNS timestamptz
    LANGUAGE sql AS $$ SELECT timestamptz '2000-01-01' $$;
CREATE FUNCTION regress_hostile.clock_timestamp() RETURNS timestamptz
    LANGUAGE sql AS $$ SELECT timestamptz '2000-01-01' $$;
CREATE FUNCTION regress_hostile.nextval(regclass) RETURNS bigint
    LANGUAGE sql AS $$ SELECT 1::bigint $$;
CREATE FUNCTION regress_hostile.always(text, text) RETURNS boolean
    LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION regress_hostile.always(timestamptz, timestamptz) RETURNS boolean
    LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION regress_hostile.always(bigint, bigint) RETURNS boolean
    LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR regress_hostile.= (LEFTARG = text, RIGHTARG = text,
    FUNCTION = regress_hostile.always);
CREATE OPERATOR regress_hostile.= (LEFTARG = bigint, RIGHTARG = bigint,
    FUNCTION = regress_hostile.always);
CREATE OPERATOR regress_hostile.> (LEFTARG = timestamptz, RIGHTARG = timestamptz,
    FUNCTION = regress_hostile.always);
CREATE OPERATOR regress_hostile.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz,
    FUNCTION = regress_hostile.always);

SET ROLE regress_lockable_priv_app;
SET search_path = regress_hostile, pg_catalog, public;
-- the trap is live for unqualified SQL in this session ...
SELECT 'a' = 'b' AS a_equals_b, clock_timestamp() = now() AS clocks_equal,
       now() > 'infinity'::timestamptz AS past_infinity;
-- ... and the lock functions are not fooled: same answers as above
SELECT granted, owner, token > :priv1_token AS newer_token
  FROM lockable.lock_acquire('priv:6', 'app-user-1', '10 minutes');
SELECT token AS priv6_token FROM lockable.active_locks
 WHERE uid OPERATOR(pg_catalog.=) 'priv:6' \gset
SELECT granted, owner FROM lockable.lock_acquire('priv:6', 'app-user-2');
SELECT lockable.lock_owner('priv:6'), lockable.lock_owner('priv:7');
SELECT lockable.lock_verify('priv:6', 'app-user-1', :priv6_token),
       lockable.lock_verify('priv:6', 'app-user-2', :priv6_token),
       lockable.lock_verify('priv:6', 'app-user-1', 1);
SELECT uid, owner, remaining > '9 minutes' AS remaining_ok
  FROM lockable.active_locks WHERE uid LIKE 'priv:%';
SELECT lockable.lock_release('priv:6', 'app-user-2');
SELECT lockable.lock_release('priv:6', 'app-user-1');
SELECT lockable.lock_owner('priv:6');
-- a lease that ended is over, whatever "now" says here
SELECT granted FROM lockable.lock_acquire('priv:8', 'app-user-1', '1 millisecond');
SELECT pg_catalog.pg_sleep(0.01);
SELECT lockable.lock_owner('priv:8');
SELECT granted, owner FROM lockable.lock_acquire('priv:8', 'app-user-2');
RESET search_path;
RESET ROLE;
SET client_min_messages = warning;
DROP SCHEMA regress_hostile CASCADE;
RESET client_min_messages;

--
-- Every SECURITY DEFINER function of the extension pins its search_path to
-- pg_catalog, pg_temp (pg_temp last, so a temporary object cannot capture
-- a name either).
--
SELECT count(*) >= 7 AS has_definer_functions,
       bool_and(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'])
           AS all_pinned
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'lockable'
 WHERE p.prosecdef;
-- the ones that do not pin it (none)
SELECT p.oid::regprocedure AS unpinned, p.proconfig
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'lockable'
 WHERE p.prosecdef
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

--
-- Restricting who may claim which owner name (see README, Trust model):
-- revoke EXECUTE from PUBLIC and give roles a wrapper that passes their own
-- login name as the owner.
--
CREATE ROLE regress_lockable_alice;
BEGIN;
REVOKE EXECUTE ON FUNCTION lockable.lock_acquire(text, text, interval, interval, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION lockable.lock_release(text, text) FROM PUBLIC;
CREATE FUNCTION public.regress_lock_mine(uid text)
    RETURNS lockable.lock_status
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$ SELECT * FROM lockable.lock_acquire(uid, session_user::text) $$;
SET SESSION AUTHORIZATION regress_lockable_alice;
SELECT granted, owner FROM public.regress_lock_mine('priv:9');
SAVEPOINT claim;
-- error: claim somebody else's name
SELECT lockable.lock_acquire('priv:10', 'regress_lockable_bob');
ROLLBACK TO SAVEPOINT claim;
SAVEPOINT release;
-- error: call lock_release directly, even in one's own name
SELECT lockable.lock_release('priv:9', 'regress_lockable_alice');
ROLLBACK TO SAVEPOINT release;
RESET SESSION AUTHORIZATION;
ROLLBACK;

DROP ROLE regress_lockable_alice;
REVOKE EXECUTE ON FUNCTION lockable.lock_break(text) FROM regress_lockable_priv_admin;
DROP ROLE regress_lockable_priv_admin;
DROP ROLE regress_lockable_priv_app;

-- leave no live lock behind for the tests that follow
SELECT lockable.lock_release_all('app-user-1') + lockable.lock_release_all('app-user-2') AS released;
