-- UPDATE of one document by primary key (no trigger), with a new value
-- each time so that no trigger can skip the write
\set id random(1, :docs)
\set v random(1, 1000000000)
UPDATE bench.doc_plain SET body = 'edit ' || :v WHERE id = :id;
