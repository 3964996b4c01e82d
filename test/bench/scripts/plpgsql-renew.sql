\set k random(1, 100)
SELECT lockable_plpgsql.lock_acquire('r:' || :client_id || ':' || :k, 'c' || :client_id, '1 hour');
