-- test/bench/setup.sql: the bench database's peers and data (run by run.sh
-- with -v fresh=N -v docs=N, after CREATE EXTENSION lockable and the
-- PL/pgSQL baseline).
--
-- Every lock table starts in the same state: released rows for the fresh
-- grants (f:) and cycles (y:), 100 locks per client held by that client for
-- renewals (r:), 4 hot locks held by "holder" (h:), and every other look-up
-- uid (o:) held.  Rows are written directly, as the superuser, in the shape
-- lock_acquire and lock_release give them.

CREATE SCHEMA bench;

-- The raw single-statement upsert of table-lock libraries: no token, no
-- holder returned, just the cheapest durable row write.
CREATE TABLE bench.raw_locks (
    uid         text        PRIMARY KEY,
    owner       text,
    expires_at  timestamptz
) WITH (fillfactor = 70);

CREATE TEMPORARY TABLE seed (uid text, owner text, live boolean);
INSERT INTO seed
SELECT p || g, NULL, false
  FROM unnest(ARRAY['f:', 'y:']) AS p, generate_series(1, :fresh) AS g;
INSERT INTO seed
SELECT 'r:' || c || ':' || k, 'c' || c, true
  FROM generate_series(0, 3) AS c, generate_series(1, 100) AS k;
INSERT INTO seed
SELECT 'h:' || k, 'holder', true FROM generate_series(1, 4) AS k;
INSERT INTO seed
SELECT 'o:' || g, CASE WHEN g % 2 = 1 THEN 'holder' END, g % 2 = 1
  FROM generate_series(1, :docs) AS g;

INSERT INTO lockable.locks (uid, owner, token, acquired_at, expires_at)
SELECT uid, owner, nextval('lockable.token_seq'), now(),
       CASE WHEN live THEN now() + interval '12 hours' ELSE now() END
  FROM seed;
INSERT INTO lockable_plpgsql.locks (uid, owner, token, acquired_at, expires_at)
SELECT uid, owner, nextval('lockable_plpgsql.token_seq'), now(),
       CASE WHEN live THEN now() + interval '12 hours' ELSE now() END
  FROM seed;
INSERT INTO bench.raw_locks (uid, owner, expires_at)
SELECT uid, owner,
       CASE WHEN live THEN now() + interval '12 hours' ELSE now() END
  FROM seed;

-- Three identical document tables for the UPDATE scenarios; the triggers
-- go on two of them in setup_triggers.sql.
CREATE TABLE bench.doc_plain (
    id          integer     PRIMARY KEY,
    title       text        NOT NULL,
    body        text,
    version     bigint      NOT NULL DEFAULT 1
) WITH (fillfactor = 80);
CREATE TABLE bench.doc_versioned (LIKE bench.doc_plain INCLUDING ALL)
    WITH (fillfactor = 80);
CREATE TABLE bench.doc_enforced (LIKE bench.doc_plain INCLUDING ALL)
    WITH (fillfactor = 80);
-- The floor for any row trigger: PostgreSQL's own cheapest C trigger.
CREATE TABLE bench.doc_floor (LIKE bench.doc_plain INCLUDING ALL)
    WITH (fillfactor = 80);
CREATE TABLE bench.doc_free (LIKE bench.doc_plain INCLUDING ALL)
    WITH (fillfactor = 80);
CREATE TRIGGER suppress_redundant BEFORE UPDATE ON bench.doc_floor
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
INSERT INTO bench.doc_plain (id, title, body)
SELECT g, 'document ' || g, repeat('text ', 20)
  FROM generate_series(1, :docs) AS g;
INSERT INTO bench.doc_versioned SELECT * FROM bench.doc_plain;
INSERT INTO bench.doc_enforced SELECT * FROM bench.doc_plain;
INSERT INTO bench.doc_floor SELECT * FROM bench.doc_plain;
INSERT INTO bench.doc_free SELECT * FROM bench.doc_plain;
