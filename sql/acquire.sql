--
-- acquire: grant, contention, renewal, expiry and takeover, waiting
--
\set VERBOSITY terse

-- a free uid is granted with a new token; acquired_at = now, expires_at = now + ttl
SELECT granted, uid, owner, token,
       expires_at - acquired_at AS lease,
       acquired_at BETWEEN clock_timestamp() - interval '5 seconds'
                       AND clock_timestamp() AS acquired_now
  FROM lockable.lock_acquire('doc:1', 'alice', '10 minutes');
SELECT lockable.lock_owner('doc:1');

-- another owner is refused and told who holds it; the token is not shown
SELECT granted, uid, owner, token, expires_at - acquired_at AS lease
  FROM lockable.lock_acquire('doc:1', 'bob');

-- the refusal changed nothing
SELECT uid, owner, token, expires_at - acquired_at AS lease FROM lockable.locks;

-- the holder renews: same token and acquired_at, expires_at = now + new ttl
SELECT acquired_at AS first_acquired, expires_at AS first_expires
  FROM lockable.locks WHERE uid = 'doc:1' \gset
SELECT granted, owner, token,
       acquired_at = :'first_acquired' AS same_acquired_at,
       expires_at > :'first_expires' AS extended,
       expires_at - clock_timestamp() > interval '59 minutes' AS ttl_from_now
  FROM lockable.lock_acquire('doc:1', 'alice', '1 hour');

-- renewing with a shorter ttl shortens the lease: expires_at = now + ttl
SELECT granted, token, expires_at - clock_timestamp() < interval '1 minute' AS shortened
  FROM lockable.lock_acquire('doc:1', 'alice', '30 seconds');

-- a second uid gets the next token
SELECT granted, owner, token FROM lockable.lock_acquire('doc:2', 'bob');

-- uids and owners are compared exactly: case, spaces and unicode matter
SELECT granted, owner, token FROM lockable.lock_acquire('DOC:1', 'Alice');
SELECT granted, owner FROM lockable.lock_acquire('doc:1', 'alice ');
SELECT granted, owner, token FROM lockable.lock_acquire('doc:ü', 'zoë');

-- expiry is judged by the clock at the call: a lease of 50 ms taken inside a
-- transaction has ended 100 ms later, in the same transaction
BEGIN;
SELECT granted, token FROM lockable.lock_acquire('doc:3', 'alice', '50 milliseconds');
SELECT pg_sleep(0.1);
SELECT lockable.lock_owner('doc:3') AS owner_after_expiry;
-- an expired lock is taken over by anyone, with a higher token
SELECT granted, owner, token FROM lockable.lock_acquire('doc:3', 'bob', '1 minute');
COMMIT;
SELECT owner, token FROM lockable.locks WHERE uid = 'doc:3';

-- the former holder of an expired lock gets a fresh grant, not a renewal
SELECT granted, token FROM lockable.lock_acquire('doc:4', 'carol', '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT granted, owner, token, acquired_at > :'first_acquired' AS new_acquired_at
  FROM lockable.lock_acquire('doc:4', 'carol');

-- a released lock is granted again by updating its row (no new row)
SELECT lockable.lock_release('doc:2', 'bob');
SELECT owner IS NULL AS released, token FROM lockable.locks WHERE uid = 'doc:2';
SELECT granted, owner, token FROM lockable.lock_acquire('doc:2', 'carol');
SELECT count(*) AS rows_for_doc2 FROM lockable.locks WHERE uid = 'doc:2';

-- waiting: the holder's lease ends during the wait, the waiter gets the lock
SELECT granted FROM lockable.lock_acquire('doc:5', 'alice', '200 milliseconds');
SELECT granted, owner, token > 0 AS has_token
  FROM lockable.lock_acquire('doc:5', 'bob', '1 minute', '10 seconds');

-- waiting on a lock that stays held returns the holder after the wait
SELECT granted, owner, token
  FROM lockable.lock_acquire('doc:5', 'carol', '1 minute', '200 milliseconds');

-- a wait on a free lock returns at once
SELECT granted, owner FROM lockable.lock_acquire('doc:6', 'alice', '1 minute', '1 hour');

-- the wait is cut short by statement_timeout (SQLSTATE 57014), and the
-- waiter's transaction changed nothing
SET statement_timeout = '200ms';
-- error: canceling statement due to statement timeout
SELECT granted FROM lockable.lock_acquire('doc:6', 'bob', '1 minute', '1 hour');
RESET statement_timeout;
SELECT lockable.lock_owner('doc:6');

-- effects are transactional: a rolled-back grant leaves no trace
BEGIN;
SELECT granted FROM lockable.lock_acquire('doc:7', 'alice');
ROLLBACK;
SELECT lockable.lock_owner('doc:7'), count(*) FROM lockable.locks WHERE uid = 'doc:7';

-- and so is a grant in a rolled-back savepoint
BEGIN;
SAVEPOINT s;
SELECT granted FROM lockable.lock_acquire('doc:7', 'alice');
ROLLBACK TO SAVEPOINT s;
SELECT granted, owner FROM lockable.lock_acquire('doc:7', 'bob');
COMMIT;
SELECT lockable.lock_owner('doc:7');

-- tokens only grow: every grant so far, in grant order
SELECT uid, owner, token FROM lockable.locks ORDER BY token;

-- the functions work the same in SERIALIZABLE and REPEATABLE READ
-- transactions when nothing races them
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT granted, owner FROM lockable.lock_acquire('doc:ser', 'alice');
SELECT granted, owner FROM lockable.lock_acquire('doc:ser', 'bob');
SELECT lockable.lock_owner('doc:ser');
SELECT lockable.lock_release('doc:ser', 'alice');
SELECT granted, owner FROM lockable.lock_acquire('doc:ser', 'bob');
COMMIT;
-- error: a waiting acquire in REPEATABLE READ or SERIALIZABLE is refused up
-- front (0A000): the release it waits for would commit after the snapshot
\set VERBOSITY sqlstate
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT lockable.lock_acquire('doc:ser', 'carol', '1 minute', '1 second');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT lockable.lock_acquire('doc:ser', 'carol', '1 minute', '1 millisecond');
ROLLBACK;
\set VERBOSITY default
-- without a wait, REPEATABLE READ works as usual
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT lockable.lock_owner('doc:ser');
SELECT lockable.lock_release_all('bob');
SELECT lockable.lock_sweep() >= 1 AS swept;
COMMIT;
