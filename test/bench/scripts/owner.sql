-- look-up: who holds this uid (every other one is held)
\set n random(1, :docs)
SELECT lockable.lock_owner('o:' || :n);
