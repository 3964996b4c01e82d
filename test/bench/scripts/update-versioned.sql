-- the same UPDATE under lockable.version_check
\set id random(1, :docs)
UPDATE bench.doc_versioned SET body = 'edited ' || :id WHERE id = :id;
