-- the same UPDATE under lockable.enforce_lock, by the lock's holder
\set id random(1, :docs)
UPDATE bench.doc_enforced SET body = 'edited ' || :id WHERE id = :id;
