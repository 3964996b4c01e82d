-- test/bench/setup_triggers.sql: issue 3's triggers on the document tables
-- (run by run.sh when lockable has them); a live lock on every document of
-- bench.doc_enforced held by "app", the acting owner of the UPDATE
-- scenarios; and a released lock on every document of bench.doc_free.
SELECT lockable.enable_versioning('bench.doc_versioned');
SELECT lockable.enable_lock_enforcement('bench.doc_enforced', 'id', 'doc:');
SELECT lockable.enable_lock_enforcement('bench.doc_free', 'id', 'free:');
SET lockable.notify = off;
SELECT count(*)
  FROM generate_series(1, :docs) AS g,
       LATERAL lockable.lock_acquire('doc:' || g, 'app', '12 hours') AS a
 WHERE a.granted;
SELECT count(*)
  FROM generate_series(1, :docs) AS g,
       LATERAL lockable.lock_acquire('free:' || g, 'earlier', '1 hour') AS a
 WHERE a.granted;
SELECT lockable.lock_release_all('earlier');
-- 1.4's "saved" announcements, on a copy of the versioned table
SELECT pg_catalog.to_regproc('lockable.enable_save_announcements') IS NOT NULL AS have_saved \gset
\if :have_saved
CREATE TABLE bench.doc_saved (LIKE bench.doc_versioned INCLUDING ALL);
INSERT INTO bench.doc_saved SELECT * FROM bench.doc_versioned;
SELECT lockable.enable_versioning('bench.doc_saved');
SELECT lockable.enable_save_announcements('bench.doc_saved', 'id', 'doc:', 'version');
\endif
