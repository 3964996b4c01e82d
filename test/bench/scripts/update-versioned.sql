-- the same UPDATE under lockable.version_check
\set id random(1, :docs)
\set v random(1, 1000000000)
UPDATE bench.doc_versioned SET body = 'edit ' || :v WHERE id = :id;
