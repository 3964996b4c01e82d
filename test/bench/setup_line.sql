-- test/bench/setup_line.sql: the waiting-line scenarios (run by run.sh with
-- -v clients=N after setup.sql, in the bench database of version 1.2).
-- pgbench numbers its clients from 0.
--
-- hc: each client has 25 uids of its own, each held by an owner with 10
--     others in line (places that last 12 hours), for the hand-off chain;
-- jh: 4 hot uids held by "holder", for joins under contention;
-- ra: an owner "many" with 1000 locks and 1000 places, for release_all.
SELECT count(*) FROM pg_catalog.generate_series(0, :clients - 1) AS c,
       pg_catalog.generate_series(1, 25) AS k,
       LATERAL lockable.lock_acquire('hc:' || c || ':' || k, 'h0', '12 hours') AS a;
SELECT count(*) FROM pg_catalog.generate_series(0, :clients - 1) AS c,
       pg_catalog.generate_series(1, 25) AS k,
       pg_catalog.generate_series(1, 10) AS w,
       LATERAL lockable.lock_acquire('hc:' || c || ':' || k, 'h' || w, '12 hours', '0', true) AS a;
SELECT count(*) FROM pg_catalog.generate_series(1, 4) AS k,
       LATERAL lockable.lock_acquire('jh:' || k, 'holder', '12 hours') AS a;
