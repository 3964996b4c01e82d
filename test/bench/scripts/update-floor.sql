-- the same UPDATE under suppress_redundant_updates_trigger, PostgreSQL's
-- cheapest C row trigger: the floor any BEFORE ROW trigger pays
\set id random(1, :docs)
\set v random(1, 1000000000)
UPDATE bench.doc_floor SET body = 'edit ' || :v WHERE id = :id;
