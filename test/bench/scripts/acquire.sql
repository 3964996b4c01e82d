-- fresh grant: a released or expired uid granted with a new token
\set n random(1, :fresh)
SELECT lockable.lock_acquire('f:' || :n, 'c' || :client_id, '1 millisecond');
