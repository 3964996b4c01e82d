-- contended try: 4 hot uids, all held by another owner
\set k random(1, 4)
SELECT lockable.lock_acquire('h:' || :k, 'c' || :client_id, '1 minute');
