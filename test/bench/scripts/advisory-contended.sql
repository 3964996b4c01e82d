\set k random(1001, 1004)
SELECT pg_try_advisory_xact_lock(:k);
