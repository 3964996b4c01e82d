--
-- release: only the live holder releases; never an error for the others
--
\set VERBOSITY terse

SELECT granted FROM lockable.lock_acquire('rel:1', 'alice');

-- another owner cannot release it
SELECT lockable.lock_release('rel:1', 'bob');
SELECT lockable.lock_owner('rel:1');

-- a uid never locked
SELECT lockable.lock_release('rel:nothing', 'alice');

-- the holder releases it; the row stays, with no owner and the token of
-- the last grant; expires_at becomes the moment of release
SELECT lockable.lock_release('rel:1', 'alice');
SELECT owner, token > 0 AS kept_token,
       expires_at <= clock_timestamp() AS ended
  FROM lockable.locks WHERE uid = 'rel:1';
SELECT lockable.lock_owner('rel:1');

-- releasing twice: the second time there is nothing to release
SELECT lockable.lock_release('rel:1', 'alice');

-- an expired lock cannot be released (it is no longer held)
SELECT granted FROM lockable.lock_acquire('rel:2', 'alice', '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT lockable.lock_release('rel:2', 'alice');
SELECT owner FROM lockable.locks WHERE uid = 'rel:2';

-- a stale owner: alice's lease expired, bob took over; alice can neither
-- release nor renew, and bob's grant is untouched
SELECT token AS alice_token FROM lockable.locks WHERE uid = 'rel:2' \gset
SELECT granted, owner, token > :alice_token AS higher_token
  FROM lockable.lock_acquire('rel:2', 'bob');
SELECT lockable.lock_release('rel:2', 'alice');
SELECT granted, owner FROM lockable.lock_acquire('rel:2', 'alice');
SELECT lockable.lock_verify('rel:2', 'alice', :alice_token);
SELECT lockable.lock_owner('rel:2');

-- a release is undone by rollback
BEGIN;
SELECT lockable.lock_release('rel:2', 'bob');
ROLLBACK;
SELECT lockable.lock_owner('rel:2');

-- acquire and release in one transaction, then again
BEGIN;
SELECT granted FROM lockable.lock_acquire('rel:3', 'carol');
SELECT lockable.lock_release('rel:3', 'carol');
SELECT granted FROM lockable.lock_acquire('rel:3', 'dave');
COMMIT;
SELECT lockable.lock_owner('rel:3');

--
-- lock_verify: exactly this grant (owner and token), live now
--
SELECT token AS dave_token FROM lockable.locks WHERE uid = 'rel:3' \gset
SELECT lockable.lock_verify('rel:3', 'dave', :dave_token) AS live_grant;
SELECT lockable.lock_verify('rel:3', 'dave', :dave_token - 1) AS wrong_token;
SELECT lockable.lock_verify('rel:3', 'carol', :dave_token) AS wrong_owner;
SELECT lockable.lock_verify('rel:nothing', 'dave', :dave_token) AS unknown_uid;
-- a renewal keeps the grant, so the token still verifies
SELECT granted, token = :dave_token AS same_token
  FROM lockable.lock_acquire('rel:3', 'dave', '2 minutes');
SELECT lockable.lock_verify('rel:3', 'dave', :dave_token) AS after_renewal;
-- once released, the grant is over
SELECT lockable.lock_release('rel:3', 'dave');
SELECT lockable.lock_verify('rel:3', 'dave', :dave_token) AS after_release;

-- a read-only transaction can look locks up, but not change them (25006)
\set VERBOSITY sqlstate
BEGIN READ ONLY;
SELECT lockable.lock_owner('rel:2');
SELECT lockable.lock_verify('rel:2', 'bob', 1);
SELECT granted, owner FROM lockable.lock_acquire('rel:2', 'carol');
SELECT lockable.lock_acquire('rel:read-only', 'carol');
ROLLBACK;
BEGIN READ ONLY;
SELECT lockable.lock_release('rel:2', 'bob');
ROLLBACK;
SELECT lockable.lock_owner('rel:2');
