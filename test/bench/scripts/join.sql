-- joins under contention: every client takes a place in the line of one of
-- 4 hot uids held by "holder", then gives it up (join + leave).
\set k random(1, 4)
\set o random(1, 1000000)
SELECT position FROM lockable.lock_acquire('jh:' || :k, 'w' || :client_id || ':' || :o, '1 minute', '0', true);
SELECT lockable.lock_release('jh:' || :k, 'w' || :client_id || ':' || :o);
