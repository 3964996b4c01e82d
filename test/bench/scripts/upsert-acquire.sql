\set n random(1, :fresh)
INSERT INTO bench.raw_locks AS l (uid, owner, expires_at)
VALUES ('f:' || :n, 'c' || :client_id, clock_timestamp() + interval '1 millisecond')
ON CONFLICT (uid) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
 WHERE l.owner = excluded.owner OR l.expires_at <= clock_timestamp();
