-- renewal: the holder extends its own live lock
\set k random(1, 100)
SELECT lockable.lock_acquire('r:' || :client_id || ':' || :k, 'c' || :client_id, '1 hour');
