-- the same UPDATE under suppress_redundant_updates_trigger, PostgreSQL's
-- cheapest C row trigger: the floor any BEFORE ROW trigger pays
\set id random(1, :docs)
UPDATE bench.doc_floor SET body = 'edited ' || :id WHERE id = :id;
