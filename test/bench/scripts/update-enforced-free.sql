-- the same UPDATE under lockable.enforce_lock with no acting owner set, of
-- documents whose locks were released: the trigger looks the lock up,
-- finds it free and lets the write through (run with lockable.owner unset)
\set id random(1, :docs)
\set v random(1, 1000000000)
UPDATE bench.doc_free SET body = 'edit ' || :v WHERE id = :id;
