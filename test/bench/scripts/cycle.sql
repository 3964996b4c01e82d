-- acquire + release cycle: two transactions, as an application runs them
\set n random(1, :fresh)
SELECT lockable.lock_acquire('y:' || :n, 'c' || :client_id, '1 minute');
SELECT lockable.lock_release('y:' || :n, 'c' || :client_id);
