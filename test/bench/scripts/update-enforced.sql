-- the same UPDATE under lockable.enforce_lock, by the lock's holder
\set id random(1, :docs)
\set v random(1, 1000000000)
UPDATE bench.doc_enforced SET body = 'edit ' || :v WHERE id = :id;
