\set k random(1, 4)
INSERT INTO bench.raw_locks AS l (uid, owner, expires_at)
VALUES ('h:' || :k, 'c' || :client_id, clock_timestamp() + interval '1 minute')
ON CONFLICT (uid) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
 WHERE l.owner = excluded.owner OR l.expires_at <= clock_timestamp();
