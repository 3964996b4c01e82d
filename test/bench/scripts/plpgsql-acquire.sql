\set n random(1, :fresh)
SELECT lockable_plpgsql.lock_acquire('f:' || :n, 'c' || :client_id, '1 millisecond');
