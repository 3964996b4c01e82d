\set k random(1, 100)
INSERT INTO bench.raw_locks AS l (uid, owner, expires_at)
VALUES ('r:' || :client_id || ':' || :k, 'c' || :client_id, clock_timestamp() + interval '1 hour')
ON CONFLICT (uid) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
 WHERE l.owner = excluded.owner OR l.expires_at <= clock_timestamp();
