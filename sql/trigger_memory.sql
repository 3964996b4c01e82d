--
-- trigger_memory: the trigger caches stay flat however often their tables
-- change.  Every relcache invalidation of a table makes enforce_lock work
-- its cache entry out again on the next row; doing so allocates nothing
-- that outlives the entry.
--
CREATE TABLE mem_doc (id integer PRIMARY KEY, body text);
INSERT INTO mem_doc VALUES (1, 'draft');
-- a long prefix, so that a leak of it per refill would show at once
SELECT lockable.enable_lock_enforcement('mem_doc', 'id', repeat('p', 400) || ':');
SELECT lockable.enable_versioning('mem_doc');

-- warm up: the caches and the relcache entry reach their working size
\o /dev/null
SELECT format('ALTER TABLE mem_doc ALTER COLUMN body SET STATISTICS %s; UPDATE mem_doc SET body = %L',
              100 + i % 2, i)
  FROM generate_series(1, 200) AS i \gexec
\o
SELECT sum(used_bytes) AS cache_before
  FROM pg_backend_memory_contexts WHERE name = 'CacheMemoryContext' \gset

-- 2000 invalidations, each followed by an update that refills both entries
\o /dev/null
SELECT format('ALTER TABLE mem_doc ALTER COLUMN body SET STATISTICS %s; UPDATE mem_doc SET body = %L',
              100 + i % 2, i)
  FROM generate_series(1, 2000) AS i \gexec
\o
-- PostgreSQL's own bookkeeping grows CacheMemoryContext by about 15 bytes
-- per ALTER TABLE here; a leaked 401-byte prefix would add over 400
SELECT (sum(used_bytes) - :cache_before) / 2000 < 100 AS flat
  FROM pg_backend_memory_contexts WHERE name = 'CacheMemoryContext';
SELECT version FROM mem_doc;

DROP TABLE mem_doc;
