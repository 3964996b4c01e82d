\set n random(1, :docs)
SELECT lockable_plpgsql.lock_owner('o:' || :n);
