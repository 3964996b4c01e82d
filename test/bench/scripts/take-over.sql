-- take over: a released or expired uid taken with a new token (1.4)
\set n random(1, :fresh)
SELECT lockable.lock_take_over('f:' || :n, 'c' || :client_id, '1 millisecond');
