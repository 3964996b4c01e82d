\set n random(1, :fresh)
SELECT pg_try_advisory_lock(1000000 + :n);
SELECT pg_advisory_unlock(1000000 + :n);
