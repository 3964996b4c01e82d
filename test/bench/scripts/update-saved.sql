-- the versioned UPDATE with its "saved" announcement (1.4)
\set id random(1, :docs)
\set v random(1, 1000000000)
UPDATE bench.doc_saved SET body = 'edit ' || :v WHERE id = :id;
