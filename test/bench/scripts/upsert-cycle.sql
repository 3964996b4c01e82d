\set n random(1, :fresh)
INSERT INTO bench.raw_locks AS l (uid, owner, expires_at)
VALUES ('y:' || :n, 'c' || :client_id, clock_timestamp() + interval '1 minute')
ON CONFLICT (uid) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
 WHERE l.owner = excluded.owner OR l.expires_at <= clock_timestamp();
UPDATE bench.raw_locks SET owner = NULL, expires_at = clock_timestamp()
 WHERE uid = 'y:' || :n AND owner = 'c' || :client_id AND expires_at > clock_timestamp();
