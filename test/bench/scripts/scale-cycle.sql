-- scale check: acquire + release over :uids uids
\set n random(1, :uids)
SELECT lockable.lock_acquire('s:' || :n, 'c' || :client_id, '1 minute');
SELECT lockable.lock_release('s:' || :n, 'c' || :client_id);
