--
-- validation: bad input is refused with its SQLSTATE and changes nothing
--
\set VERBOSITY sqlstate

SELECT count(*) AS rows_before, last_value AS tokens_before
  FROM lockable.locks, lockable.token_seq GROUP BY last_value \gset

-- error: NULL uid, owner, ttl or wait (22004)
SELECT lockable.lock_acquire(NULL, 'alice');
SELECT lockable.lock_acquire('val:1', NULL);
SELECT lockable.lock_acquire('val:1', 'alice', NULL);
SELECT lockable.lock_acquire('val:1', 'alice', '1 minute', NULL);
SELECT lockable.lock_release(NULL, 'alice');
SELECT lockable.lock_release('val:1', NULL);
SELECT lockable.lock_owner(NULL);
SELECT lockable.lock_verify(NULL, 'alice', 1);
SELECT lockable.lock_verify('val:1', NULL, 1);
SELECT lockable.lock_verify('val:1', 'alice', NULL);
SELECT lockable.lock_release_all(NULL);
SELECT lockable.lock_break(NULL);
SELECT lockable.lock_sweep(NULL);

-- error: empty uid or owner (22023)
SELECT lockable.lock_acquire('', 'alice');
SELECT lockable.lock_acquire('val:1', '');
SELECT lockable.lock_release('', 'alice');
SELECT lockable.lock_owner('');
SELECT lockable.lock_release_all('');

-- 512 bytes is the limit for uid and owner, counted in bytes
SELECT granted FROM lockable.lock_acquire(repeat('u', 512), repeat('o', 512));
SELECT lockable.lock_release(repeat('u', 512), repeat('o', 512));
-- 256 two-byte characters are 512 bytes
SELECT granted FROM lockable.lock_acquire(repeat('é', 256), 'alice');
SELECT lockable.lock_release(repeat('é', 256), 'alice');
-- error: 513 bytes (22023)
SELECT lockable.lock_acquire(repeat('u', 513), 'alice');
SELECT lockable.lock_acquire('val:1', repeat('o', 513));
SELECT lockable.lock_acquire(repeat('é', 256) || 'x', 'alice');
SELECT lockable.lock_owner(repeat('u', 513));
-- error: a megabyte (22023)
SELECT lockable.lock_acquire(repeat('u', 1024 * 1024), 'alice');

-- the messages, in full
\set VERBOSITY default
SELECT lockable.lock_acquire(NULL, 'alice');
SELECT lockable.lock_acquire('val:1', '');
SELECT lockable.lock_acquire(repeat('u', 513), 'alice');
SELECT lockable.lock_acquire('val:1', 'alice', '0');
SELECT lockable.lock_acquire('val:1', 'alice', '1 day -1 hour');
SELECT lockable.lock_acquire('val:1', 'alice', '2 days');
SELECT lockable.lock_acquire('val:1', 'alice', '1 minute', '-1 second');
\set VERBOSITY sqlstate

-- error: ttl not positive (22023): zero, negative, mixed signs
SELECT lockable.lock_acquire('val:1', 'alice', '0');
SELECT lockable.lock_acquire('val:1', 'alice', '-1 microsecond');
SELECT lockable.lock_acquire('val:1', 'alice', '-1 minute');
SELECT lockable.lock_acquire('val:1', 'alice', '1 day -1 hour');
SELECT lockable.lock_acquire('val:1', 'alice', '-1 day 25 hours');
SELECT lockable.lock_acquire('val:1', 'alice', '1 mon -1 day');

-- error: ttl over lockable.max_ttl (default 1 day) (22023)
SELECT lockable.lock_acquire('val:1', 'alice', '1 day 1 microsecond');
SELECT lockable.lock_acquire('val:1', 'alice', '25 hours');
SELECT lockable.lock_acquire('val:1', 'alice', '1 mon');
SELECT lockable.lock_acquire('val:1', 'alice', '178000000 years');
-- exactly max_ttl is allowed
SELECT granted, expires_at - acquired_at AS lease
  FROM lockable.lock_acquire('val:max', 'alice', '1 day');
SELECT lockable.lock_release('val:max', 'alice');

-- lockable.max_ttl is set by a superuser, in any interval syntax
SET lockable.max_ttl = '2 hours';
SHOW lockable.max_ttl;
SELECT lockable.lock_acquire('val:1', 'alice', '3 hours');
SELECT granted FROM lockable.lock_acquire('val:2h', 'alice', '2 hours');
SELECT lockable.lock_release('val:2h', 'alice');
RESET lockable.max_ttl;
-- error: bad values for lockable.max_ttl (22023 / 22007)
SET lockable.max_ttl = '0';
SET lockable.max_ttl = '-1 day';
SET lockable.max_ttl = '1000 years';
SET lockable.max_ttl = 'forever';
\set VERBOSITY default
SET lockable.max_ttl = '1000 years';
SET lockable.max_ttl = 'forever';
\set VERBOSITY sqlstate
SHOW lockable.max_ttl;

-- error: negative wait (22023); zero means "do not wait"
SELECT lockable.lock_acquire('val:1', 'alice', '1 minute', '-1 microsecond');
SELECT lockable.lock_acquire('val:1', 'alice', '1 minute', '-1 minute 2 seconds');
SELECT lockable.lock_acquire('val:1', 'alice', '1 minute', '1 day -1 hour');

-- error: negative older_than for lock_sweep (22023)
SELECT lockable.lock_sweep('-1 second');

-- none of that changed anything: only the four valid grants above added a
-- row and drew a token, and they were released
SELECT count(*) - :rows_before AS new_rows,
       bool_and(owner IS NULL) FILTER (WHERE token > :tokens_before) AS released
  FROM lockable.locks;
SELECT last_value - :tokens_before AS tokens_drawn FROM lockable.token_seq;
SELECT count(*) AS stray_rows FROM lockable.locks WHERE uid LIKE 'val:1%';

-- calls in an aborted transaction are refused (25P02) and change nothing
BEGIN;
SELECT 1 / 0;
SELECT lockable.lock_acquire('val:aborted', 'alice');
ROLLBACK;
SELECT count(*) FROM lockable.locks WHERE uid = 'val:aborted';
