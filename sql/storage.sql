--
-- storage: the lock functions write lockable.locks as UPDATE, INSERT and
-- DELETE would: every index a DBA adds is kept, AFTER ROW triggers see
-- every change, constraints hold, and only the extension's own table, in
-- its own shape, is used.
--
CREATE EXTENSION IF NOT EXISTS amcheck;
DELETE FROM lockable.locks;

-- An index a DBA adds for lock_release_all, which scans by owner.  Grants
-- and releases change owner, so they are non-HOT updates: each must reach it.
CREATE INDEX locks_owner ON lockable.locks (owner);
SELECT granted FROM lockable.lock_acquire('x1', 'u1');
SELECT lockable.lock_release('x1', 'u1');
SELECT granted FROM lockable.lock_acquire('x1', 'u1');
SELECT granted FROM lockable.lock_acquire('x0', 'u1');
-- the index finds both locks of u1
SET enable_seqscan = off;
SELECT count(*) AS held_by_u1 FROM lockable.locks WHERE owner = 'u1';
SELECT lockable.lock_release_all('u1');
SELECT count(*) AS held_by_u1 FROM lockable.locks WHERE owner = 'u1';
RESET enable_seqscan;
-- every index agrees with the heap
SELECT indexrelid::regclass AS index, bt_index_check(indexrelid, true)
  FROM pg_index WHERE indrelid = 'lockable.locks'::regclass ORDER BY 1;
SELECT count(*) AS heap_problems FROM verify_heapam('lockable.locks');
DROP INDEX lockable.locks_owner;

-- An AFTER ROW audit trigger sees every grant, renewal, release and sweep.
-- It runs inside the SECURITY DEFINER functions, whose search_path is
-- pg_catalog, pg_temp: it names its table with its schema.
CREATE TABLE public.lock_audit (n serial, op text, uid text, owner text, token bigint);
CREATE FUNCTION public.lock_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.lock_audit (op, uid, owner, token)
    VALUES (TG_OP || CASE WHEN TG_ARGV[0] IS NULL THEN '' ELSE ' ' || TG_ARGV[0] END,
            COALESCE(NEW.uid, OLD.uid), NEW.owner, NEW.token);
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON lockable.locks
    FOR EACH ROW EXECUTE FUNCTION public.lock_audit();
-- a column-specific trigger fires only when that column is written: grants
-- and releases, not renewals
CREATE TRIGGER audit_owner AFTER UPDATE OF owner ON lockable.locks
    FOR EACH ROW EXECUTE FUNCTION public.lock_audit('of owner');
SELECT granted, token FROM lockable.lock_acquire('x2', 'u2');
SELECT granted, token FROM lockable.lock_acquire('x2', 'u2');
SELECT lockable.lock_release('x2', 'u2');
SELECT granted, token FROM lockable.lock_acquire('x2', 'u3');
SELECT lockable.lock_break('x2');
SELECT lockable.lock_sweep();
-- (the first grant of a uid inserts a free row and grants it; the sweep's
-- deletes are listed by uid)
SELECT op, uid, owner, token > 0 AS has_token FROM public.lock_audit
 ORDER BY op = 'DELETE', CASE WHEN op = 'DELETE' THEN uid END, n;
-- a refusal and a look-up write nothing, so the trigger sees nothing
TRUNCATE public.lock_audit;
SELECT granted FROM lockable.lock_acquire('x3', 'u3');
TRUNCATE public.lock_audit;
SELECT granted FROM lockable.lock_acquire('x3', 'u4');
SELECT lockable.lock_owner('x3');
SELECT count(*) AS audited FROM public.lock_audit;
DROP TRIGGER audit ON lockable.locks;
DROP TRIGGER audit_owner ON lockable.locks;

-- A CHECK constraint a DBA adds holds for the functions' writes.
ALTER TABLE lockable.locks ADD CONSTRAINT no_root CHECK (owner <> 'root');
\set VERBOSITY sqlstate
-- error: the new row violates the constraint (23514)
SELECT lockable.lock_acquire('x4', 'root');
\set VERBOSITY default
ALTER TABLE lockable.locks DROP CONSTRAINT no_root;

-- error: a BEFORE ROW trigger could change what the functions decided, so
-- they refuse to write a table that has one (55000); a disabled one is fine
CREATE FUNCTION public.lock_meddle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.owner := 'mallory'; RETURN NEW; END $$;
CREATE TRIGGER meddle BEFORE UPDATE ON lockable.locks
    FOR EACH ROW EXECUTE FUNCTION public.lock_meddle();
SELECT granted FROM lockable.lock_acquire('x3', 'u4');
SELECT lockable.lock_owner('x3');
ALTER TABLE lockable.locks DISABLE TRIGGER meddle;
SELECT granted, owner FROM lockable.lock_acquire('x3', 'u3');
DROP TRIGGER meddle ON lockable.locks;
DROP FUNCTION public.lock_meddle();

-- error: a table that is no longer the one the extension created is refused
-- before anything is written (55000), naming what is wrong
ALTER TABLE lockable.locks RENAME COLUMN acquired_at TO granted_at;
SELECT lockable.lock_acquire('x5', 'u5');
SELECT lockable.lock_owner('x3');
ALTER TABLE lockable.locks RENAME COLUMN granted_at TO acquired_at;
ALTER TABLE lockable.locks ADD COLUMN note text;
SELECT lockable.lock_acquire('x5', 'u5');
-- a column added and dropped again leaves only a dropped attribute: fine
ALTER TABLE lockable.locks DROP COLUMN note;
SELECT granted, owner FROM lockable.lock_acquire('x6', 'u6');
-- a look-alike put in its place (here by renaming the real one away) is not
-- a member of the extension
SELECT count(*) AS rows_before FROM lockable.locks \gset
ALTER TABLE lockable.locks RENAME TO locks_real;
CREATE TABLE lockable.locks (LIKE lockable.locks_real INCLUDING ALL);
SELECT lockable.lock_acquire('x5', 'u5');
SELECT lockable.lock_release_all('u3');
SELECT lockable.verify_installation();
DROP TABLE lockable.locks;
ALTER TABLE lockable.locks_real RENAME TO locks;
SELECT count(*) = :rows_before AS nothing_written FROM lockable.locks;
SELECT granted, owner FROM lockable.lock_acquire('x5', 'u5');
SELECT lockable.verify_installation();

DROP TABLE public.lock_audit;
DROP FUNCTION public.lock_audit();
DELETE FROM lockable.locks;
