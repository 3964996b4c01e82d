-- UPDATE of one document by primary key (no trigger)
\set id random(1, :docs)
UPDATE bench.doc_plain SET body = 'edited ' || :id WHERE id = :id;
