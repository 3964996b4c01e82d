-- test/reliability/pooled-session.sql
--	  The core behaviour as one psql session, run by test/suites/50-pooler.sh
--	  once directly and once through PgBouncer in transaction mode, where
--	  consecutive statements run on different server backends.  Both runs
--	  must print the same thing.  Every statement also records the backend
--	  that ran it in pooled.seen, so the suite can count them.
\set VERBOSITY sqlstate
\pset null '(null)'
CREATE SCHEMA pooled;
CREATE TABLE pooled.seen (pid integer);
CREATE FUNCTION pooled.seen() RETURNS text LANGUAGE sql
    AS $$ INSERT INTO pooled.seen VALUES (pg_backend_pid()) RETURNING '' $$;

-- grant, contention, look-up, verify
SELECT granted, owner, token, expires_at - acquired_at AS ttl, pooled.seen()
  FROM lockable.lock_acquire('doc:1', 'alice', '10 minutes');
SELECT granted, owner, token, pooled.seen() FROM lockable.lock_acquire('doc:1', 'bob');
SELECT lockable.lock_owner('doc:1'), pooled.seen();
SELECT lockable.lock_verify('doc:1', 'alice', 1), lockable.lock_verify('doc:1', 'bob', 1), pooled.seen();

-- renewal keeps the token and acquired_at
SELECT granted, token, expires_at - acquired_at >= '20 minutes' AS extended, pooled.seen()
  FROM lockable.lock_acquire('doc:1', 'alice', '20 minutes');

-- release: only by the holder
SELECT lockable.lock_release('doc:1', 'bob'), pooled.seen();
SELECT lockable.lock_release('doc:1', 'alice'), pooled.seen();
SELECT lockable.lock_owner('doc:1'), pooled.seen();
SELECT granted, owner, token, pooled.seen() FROM lockable.lock_acquire('doc:1', 'bob');

-- expiry, judged by the database clock, then takeover with a new token
SELECT granted, token, pooled.seen() FROM lockable.lock_acquire('doc:2', 'alice', '200 milliseconds');
SELECT pg_sleep(0.3), pooled.seen();
SELECT lockable.lock_owner('doc:2'), pooled.seen();
SELECT granted, owner, token, pooled.seen() FROM lockable.lock_acquire('doc:2', 'bob');
SELECT lockable.lock_release('doc:2', 'alice'), pooled.seen();

-- release_all, then the view
SELECT granted, pooled.seen() FROM lockable.lock_acquire('doc:3', 'carol');
SELECT granted, pooled.seen() FROM lockable.lock_acquire('doc:4', 'carol');
SELECT lockable.lock_release_all('carol'), pooled.seen();
SELECT uid, owner, token FROM lockable.active_locks ORDER BY uid;

-- effects are transactional
BEGIN;
SELECT granted, token, pooled.seen() FROM lockable.lock_acquire('doc:5', 'dave');
SELECT lockable.lock_owner('doc:5'), pooled.seen();
ROLLBACK;
SELECT lockable.lock_owner('doc:5'), pooled.seen();

-- bad input
-- error: NULL uid
SELECT lockable.lock_acquire(NULL, 'x');
-- error: empty owner
SELECT lockable.lock_acquire('doc:6', '');
-- error: ttl over lockable.max_ttl
SELECT lockable.lock_acquire('doc:6', 'x', '2 days');

-- a waiting acquire (started in the background by the suite, through the
-- same route) gets doc:7 when alice lets go
SELECT lockable.lock_release('doc:7', 'alice'), pooled.seen();
