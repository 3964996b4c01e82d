--
-- version_check: optimistic concurrency enforced by the database.
--
-- A versioned row carries a version; a writer sends back the version it read
-- (or leaves the column out), and the trigger bumps it by exactly one per
-- row update.  An update based on any other version is refused with 40001.
-- The two-writer races are in test/isolation/specs/version_race.spec.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lockable;
RESET client_min_messages;

CREATE SCHEMA vc;
SET search_path = vc, public;

CREATE TABLE doc (
    id      integer PRIMARY KEY,
    body    text,
    version bigint NOT NULL DEFAULT 1
);
CREATE TRIGGER doc_version BEFORE INSERT OR UPDATE ON doc
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check('version');

-- INSERT: an explicit version is kept; a NULL one becomes 1.
INSERT INTO doc (id, body) VALUES (1, 'first draft');
INSERT INTO doc (id, body, version) VALUES (2, 'imported', 6);
INSERT INTO doc (id, body, version) VALUES (3, 'no version given', NULL);
SELECT id, body, version FROM doc ORDER BY id;

-- UPDATE carrying the version that was read: accepted, version + 1.
UPDATE doc SET body = 'second draft', version = 1 WHERE id = 1;
SELECT id, body, version FROM doc WHERE id = 1;

-- UPDATE not mentioning the version: accepted, version + 1 (no check asked).
UPDATE doc SET body = 'third draft' WHERE id = 1;
SELECT id, body, version FROM doc WHERE id = 1;

-- error: the writer read version 2, but the row is at 3 now (40001)
UPDATE doc SET body = 'lost update', version = 2 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
-- the refused update changed nothing
SELECT id, body, version FROM doc WHERE id = 1;

-- the same error in short form: the SQLSTATE a client maps to 409 Conflict
\set VERBOSITY sqlstate
UPDATE doc SET body = 'lost update', version = 2 WHERE id = 1;
-- error: bumping the version oneself is an update based on another version
UPDATE doc SET body = 'manual bump', version = version + 1 WHERE id = 1;
-- error: a NULL version is not the version that was read
UPDATE doc SET version = NULL WHERE id = 1;
\set VERBOSITY default

-- Exactly one bump per row, whatever the statement.
-- a bulk UPDATE bumps every row it changes once
UPDATE doc SET body = body || '.';
SELECT id, body, version FROM doc ORDER BY id;

-- UPDATE ... FROM with several matching source rows still updates (and
-- bumps) each target row once
CREATE TABLE edits (doc_id integer, note text);
INSERT INTO edits VALUES (2, 'a'), (2, 'b'), (2, 'c');
UPDATE doc SET body = 'edited' FROM edits WHERE edits.doc_id = doc.id;
SELECT id, body, version FROM doc WHERE id = 2;

-- INSERT ... ON CONFLICT DO UPDATE: the update bumps once
INSERT INTO doc (id, body) VALUES (2, 'upserted')
    ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body;
SELECT id, body, version FROM doc WHERE id = 2;
-- error: an upsert that carries a version checks it like any update (40001)
\set VERBOSITY sqlstate
INSERT INTO doc (id, body, version) VALUES (2, 'stale upsert', 3)
    ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, version = EXCLUDED.version;
\set VERBOSITY default
-- ... and one carrying the current version goes through
INSERT INTO doc (id, body, version) VALUES (2, 'fresh upsert', 9)
    ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, version = EXCLUDED.version;
SELECT id, body, version FROM doc WHERE id = 2;

-- A row moved to another partition is bumped once (BEFORE UPDATE on the
-- old partition bumps it; BEFORE INSERT on the new one keeps it).
CREATE TABLE pdoc (
    id      integer,
    region  text,
    version bigint NOT NULL DEFAULT 1
) PARTITION BY LIST (region);
CREATE TABLE pdoc_eu PARTITION OF pdoc FOR VALUES IN ('eu');
CREATE TABLE pdoc_us PARTITION OF pdoc FOR VALUES IN ('us');
CREATE TRIGGER pdoc_version BEFORE INSERT OR UPDATE ON pdoc
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check();
INSERT INTO pdoc VALUES (1, 'eu', NULL);
UPDATE pdoc SET region = 'us', version = 1 WHERE id = 1;
SELECT tableoid::regclass AS partition, id, region, version FROM pdoc;

-- Any integer column works; the argument names it (default "version").
CREATE TABLE small_doc (id integer PRIMARY KEY, rev smallint);
CREATE TRIGGER small_doc_version BEFORE INSERT OR UPDATE ON small_doc
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check('rev');
INSERT INTO small_doc VALUES (1, 32766);
UPDATE small_doc SET rev = 32766 WHERE id = 1;
SELECT id, rev FROM small_doc;
-- error: the next version does not fit in a smallint (22003)
UPDATE small_doc SET rev = 32767 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE

CREATE TABLE int_doc (id integer PRIMARY KEY, version integer);
CREATE TRIGGER int_doc_version BEFORE INSERT OR UPDATE ON int_doc
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check();
INSERT INTO int_doc VALUES (1, 2147483647);
\set VERBOSITY sqlstate
-- error: out of range for integer (22003)
UPDATE int_doc SET id = 2 WHERE id = 1;
\set VERBOSITY default

-- A row whose version is NULL (written before versioning was enabled) is at
-- version 0: an update that leaves the column out sets it to 1.
ALTER TABLE int_doc DISABLE TRIGGER int_doc_version;
INSERT INTO int_doc VALUES (3, NULL);
ALTER TABLE int_doc ENABLE TRIGGER int_doc_version;
UPDATE int_doc SET id = 4 WHERE id = 3;
SELECT id, version FROM int_doc WHERE id = 4;

-- The column lookup is cached per trigger and follows changes to the table.
ALTER TABLE int_doc ALTER COLUMN version TYPE bigint;
UPDATE int_doc SET id = 5 WHERE id = 4;
SELECT id, version FROM int_doc WHERE id = 5;
ALTER TABLE int_doc RENAME COLUMN version TO old_version;
-- error: the trigger's column is gone (42703)
UPDATE int_doc SET id = 6 WHERE id = 5;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE int_doc RENAME COLUMN old_version TO version;
ALTER TABLE int_doc ALTER COLUMN version TYPE text;
-- error: the column is no longer an integer (42804)
UPDATE int_doc SET id = 6 WHERE id = 5;
\echo :LAST_ERROR_SQLSTATE

-- Misuse of the trigger function.
CREATE TABLE misuse (id integer, version bigint, label text,
                     gen bigint GENERATED ALWAYS AS (id * 2) STORED);
INSERT INTO misuse VALUES (1, 1, 'x');

\set VERBOSITY sqlstate
-- error: called directly, not as a trigger (39P01)
SELECT lockable.version_check();

CREATE TRIGGER t AFTER UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check();
-- error: fired AFTER the change (39P01)
UPDATE misuse SET id = 1;
DROP TRIGGER t ON misuse;

CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH STATEMENT EXECUTE FUNCTION lockable.version_check();
-- error: fired for each statement (39P01)
UPDATE misuse SET id = 1;
DROP TRIGGER t ON misuse;

CREATE TRIGGER t BEFORE DELETE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check();
-- error: fired on DELETE (39P01)
DELETE FROM misuse;
DROP TRIGGER t ON misuse;

CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check('version', 'extra');
-- error: more than one argument (39P01)
UPDATE misuse SET id = 1;
DROP TRIGGER t ON misuse;

CREATE VIEW misuse_view AS SELECT id, version FROM misuse;
CREATE TRIGGER t INSTEAD OF UPDATE ON misuse_view
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check();
-- error: an INSTEAD OF trigger does not fire BEFORE (39P01)
UPDATE misuse_view SET id = 1;
DROP VIEW misuse_view;
\set VERBOSITY default

CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check('no_such_column');
-- error: the column does not exist (42703)
UPDATE misuse SET id = 1;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;

CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check('label');
-- error: the column is not an integer (42804)
UPDATE misuse SET id = 1;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;

CREATE TRIGGER t BEFORE UPDATE ON misuse
    FOR EACH ROW EXECUTE FUNCTION lockable.version_check('gen');
-- error: a generated column cannot be bumped by a trigger (0A000)
UPDATE misuse SET id = 1;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;

-- The misuses changed nothing.
SELECT id, version, label FROM misuse;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA vc CASCADE;
RESET client_min_messages;
