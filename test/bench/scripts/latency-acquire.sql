-- latency check: a fresh grant among :uids released uids
\set n random(1, :uids)
SELECT lockable.lock_acquire('g:' || :n, 'c' || :client_id, '1 millisecond');
