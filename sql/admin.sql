--
-- admin: lock_release_all, lock_break, lock_sweep and the active_locks view
--
\set VERBOSITY terse

SELECT (lockable.lock_acquire('adm:' || i, 'erin')).granted
  FROM generate_series(1, 5) AS i;
SELECT granted FROM lockable.lock_acquire('adm:6', 'frank');
SELECT granted FROM lockable.lock_acquire('adm:7', 'erin', '10 milliseconds');
SELECT pg_sleep(0.05);

-- the view lists live locks only, with the time each has left
SELECT uid, owner, remaining > interval '0' AND remaining <= interval '1 minute' AS remaining_ok
  FROM lockable.active_locks WHERE uid LIKE 'adm:%' ORDER BY uid;

-- lock_release_all releases every live lock of one owner (not expired ones,
-- not other owners'), and says how many
SELECT lockable.lock_release_all('erin');
SELECT uid, owner FROM lockable.active_locks WHERE uid LIKE 'adm:%' ORDER BY uid;
SELECT lockable.lock_release_all('erin');
SELECT lockable.lock_release_all('nobody');

-- lock_break releases whatever live lock a uid has
SELECT lockable.lock_break('adm:6');
SELECT lockable.lock_owner('adm:6');
SELECT owner FROM lockable.locks WHERE uid = 'adm:6';
-- nothing to break: released, expired, or unknown
SELECT lockable.lock_break('adm:6');
SELECT lockable.lock_break('adm:7');
SELECT lockable.lock_break('adm:unknown');
-- a broken lock is free for the next owner, with a higher token
SELECT token AS broken_token FROM lockable.locks WHERE uid = 'adm:6' \gset
SELECT granted, owner, token > :broken_token AS higher_token
  FROM lockable.lock_acquire('adm:6', 'gina');

--
-- lock_sweep deletes rows of locks that ended (released or expired) at
-- least older_than ago, and never a live lock
--
SELECT count(*) AS rows_before FROM lockable.locks WHERE uid LIKE 'adm:%';
-- all adm:* locks but adm:6 ended under a second ago: keep them
SELECT lockable.lock_sweep('1 hour');
SELECT count(*) AS rows_after_1h FROM lockable.locks WHERE uid LIKE 'adm:%';
-- the default (0) deletes every lock that has ended
SELECT max(token) AS max_token FROM lockable.locks \gset
SELECT lockable.lock_sweep() > 0 AS swept;
SELECT uid, owner FROM lockable.locks WHERE uid LIKE 'adm:%' ORDER BY uid;
SELECT count(*) AS dead_rows FROM lockable.locks
 WHERE owner IS NULL OR expires_at <= clock_timestamp();
-- an older_than reaching back before the timestamp range matches nothing
SELECT lockable.lock_sweep('178000000 years');

-- after a sweep, tokens still grow: a swept uid gets a higher token than
-- any the table held before the sweep
SELECT granted, token > :max_token AS higher_token
  FROM lockable.lock_acquire('adm:1', 'erin');
SELECT last_value >= :max_token AS counter_kept FROM lockable.token_seq;
