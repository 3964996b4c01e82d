--
-- setup: CREATE EXTENSION and the objects it creates
--
-- Expected output by server version (pg_regress alternatives):
--   setup.out    PostgreSQL 15
--   setup_1.out  PostgreSQL 17 and 18: from 17 the row types of the
--                extension's tables and views, and every array type, are
--                members of the extension too (upstream commit e5bc9454e5),
--                and a view's definition names its columns without the
--                table's alias
--
CREATE EXTENSION lockable;

-- the schema and its objects
SELECT e.extname, e.extversion, n.nspname, e.extrelocatable
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'lockable';

SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'lockable')
   AND deptype = 'e'
 ORDER BY 1;

\d lockable.locks
\d lockable.lock_status
\d+ lockable.active_locks

-- function signatures, volatility, strictness and security
SELECT p.oid::regprocedure AS function, p.provolatile, p.proisstrict,
       p.prosecdef, p.proparallel, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'lockable'::regnamespace
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- every object the script declares carries a comment (the types PostgreSQL
-- makes by itself, a table's row type and an array type, are left out)
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS uncommented
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'lockable')
   AND d.deptype = 'e'
   AND obj_description(d.objid) IS NULL
   AND NOT EXISTS (SELECT 1 FROM pg_description x
                    WHERE x.objoid = d.objid AND x.classoid = d.classid)
   AND NOT EXISTS (SELECT 1 FROM pg_type t
                     LEFT JOIN pg_class c ON c.oid = t.typrelid
                    WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
                      AND (t.typcategory = 'A' OR c.relkind <> 'c'));

-- the GUCs and their defaults
SHOW lockable.max_ttl;
SHOW lockable.notify;
SELECT name, setting, context, vartype FROM pg_settings
 WHERE name LIKE 'lockable.%' ORDER BY name;

-- the table is empty and the token counter fresh
SELECT count(*) FROM lockable.locks;
