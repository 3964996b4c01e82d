\set n random(1, :fresh)
SELECT lockable_plpgsql.lock_acquire('y:' || :n, 'c' || :client_id, '1 minute');
SELECT lockable_plpgsql.lock_release('y:' || :n, 'c' || :client_id);
