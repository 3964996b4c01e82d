\set k random(1, 4)
SELECT lockable_plpgsql.lock_acquire('h:' || :k, 'c' || :client_id, '1 minute');
