\set n random(1, :fresh)
SELECT pg_try_advisory_xact_lock(1000000 + :n);
