-- hand-off chain: the holder of one of this client's lines releases, which
-- hands the lock to the head of the line in the same transaction; the
-- released owner queues again at the end, so the chain never drains.  One
-- transaction of this script is one hand-off (plus one join).
\set k random(1, 25)
SELECT lockable.lock_owner('hc:' || :client_id || ':' || :k) AS holder \gset
SELECT lockable.lock_release('hc:' || :client_id || ':' || :k, :holder);
SELECT position FROM lockable.lock_acquire('hc:' || :client_id || ':' || :k, :holder, '12 hours', '0', true);
