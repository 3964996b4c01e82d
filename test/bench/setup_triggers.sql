-- test/bench/setup_triggers.sql: issue 3's triggers on the document tables
-- (run by run.sh when lockable has them), and a live lock on every enforced
-- document held by "app", the acting owner of the UPDATE scenarios.
SELECT lockable.enable_versioning('bench.doc_versioned');
SELECT lockable.enable_lock_enforcement('bench.doc_enforced', 'id', 'doc:');
SET lockable.notify = off;
SELECT count(*)
  FROM generate_series(1, :docs) AS g,
       LATERAL lockable.lock_acquire('doc:' || g, 'app', '12 hours') AS a
 WHERE a.granted;
