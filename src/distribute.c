/*-------------------------------------------------------------------------
 *
 * distribute.c
 *	  lockable.distribute(): lockable's tables and per-uid functions spread
 *	  over a Citus cluster.
 *
 * Run once by a superuser on the Citus coordinator, after CREATE EXTENSION
 * citus and CREATE EXTENSION lockable (the same version) on every node.
 * It
 *
 *	1. takes the floor of the tokens drawn so far (tokens are plain
 *	   sequence values on one node; from now on they are counter * 4096 +
 *	   group, lock_table.c) and moves every worker's lockable.token_seq
 *	   past it, with lockable.locks locked against grants meanwhile;
 *	2. distributes lockable.locks and lockable.places, hash on uid, in a
 *	   colocation group of their own (their rows move into the shards);
 *	3. makes the per-uid functions distributed functions, colocated with
 *	   lockable.locks on argument uid, so that Citus delegates a call
 *	   (SELECT * FROM lockable.lock_acquire(...) outside a transaction
 *	   block, constant arguments) to the node that holds the uid's shard,
 *	   where it runs as a single-node transaction and the C storage layer
 *	   reads and writes the local shard.
 *
 * Every step is done only if it was not done before, so calling it again
 * finishes an interrupted run; on a distributed install it raises every
 * shard's high-water row to the floor instead of step 1, which is what a
 * node added to the cluster since needs before shards move to it (its
 * sequence starts at 1).
 *
 * lockable.undistribute() reverses it, in one transaction on the
 * coordinator: the functions are no longer delegated, the tables come back
 * to the coordinator as plain tables with their rows, and the coordinator's
 * token_seq moves past every counter of the cluster, so that the plain
 * tokens that follow stay above every token drawn while distributed.
 * Citus's undistribute_table refuses a table an extension owns, and
 * recreates the views over it; so the tables and views leave the extension
 * for the while, and come back with the privileges, options, comments and
 * pg_dump registration (extconfig) they had, which the regression
 * fingerprint of a fresh install checks in suite 88-citus.  Citus's own
 * functions are called through SPI, schema-qualified; the function runs
 * with search_path pinned to pg_catalog.
 *
 * Copyright (c) 2026, lockable developers
 *
 * IDENTIFICATION
 *	  src/distribute.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "citus.h"

PG_FUNCTION_INFO_V1(lockable_distribute);
PG_FUNCTION_INFO_V1(lockable_undistribute);

/* The per-uid functions, delegated on their argument uid. */
static const char *const per_uid_functions[] = {
	"lockable.lock_acquire(text, text, interval, interval, boolean)",
	"lockable.lock_release(text, text)",
	"lockable.lock_owner(text)",
	"lockable.lock_verify(text, text, bigint)",
	"lockable.lock_break(text)",
};

/*
 * QueryValue
 *		The first column of the first row query returns (NULL if it
 *		returns none, or no rows at all), as text; inside an SPI
 *		connection.
 */
static char *
QueryValue(const char *query)
{
	int			rc = SPI_execute(query, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute failed for \"%s\": %s", query,
			 SPI_result_code_string(rc));
	if (SPI_processed == 0 || SPI_tuptable == NULL)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * CheckWorkers
 *		Every worker has extension lockable at this node's version.
 */
static void
CheckWorkers(const char *version)
{
	int			nworkers;
	CitusWorkerResult *workers =
		CitusRunOnWorkersEach("SELECT extversion FROM pg_catalog.pg_extension"
							  " WHERE extname OPERATOR(pg_catalog.=) 'lockable'",
							  "lockable.distribute()", &nworkers);

	for (int i = 0; i < nworkers; i++)
	{
		const char *result = workers[i].result;

		if (result == NULL || result[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"lockable\" is not installed on Citus worker %s:%s",
							workers[i].node, workers[i].port),
					 errdetail("Citus relies on every node having the extension's tables and functions."),
					 errhint("Run CREATE EXTENSION lockable on every node, then lockable.distribute() again.")));
		if (strcmp(result, version) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"lockable\" is at version %s on Citus worker %s:%s, and at %s here",
							result, workers[i].node, workers[i].port, version),
					 errhint("Run ALTER EXTENSION lockable UPDATE on every node, then lockable.distribute() again.")));
	}
}

/*
 * Distributed
 *		Whether Citus's metadata has table relname of schema lockable.
 */
static bool
Distributed(const char *relname)
{
	char	   *query = psprintf("SELECT 1 FROM pg_catalog.pg_dist_partition"
								 " WHERE logicalrelid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass",
								 quote_literal_cstr(psprintf("lockable.%s", relname)));

	return QueryValue(query) != NULL;
}

/*
 * CheckCoordinator
 *		Refuse unless the caller is a superuser on a Citus coordinator.
 */
static void
CheckCoordinator(const char *function)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to call %s", function),
				 errdetail("Only a superuser may change how lockable's tables are distributed.")));
	if (QueryValue("SELECT 1 FROM pg_catalog.pg_extension"
				   " WHERE extname OPERATOR(pg_catalog.=) 'citus'") == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"citus\" is not installed in this database"),
				 errhint("%s spreads lockable over a Citus cluster: run CREATE EXTENSION citus on every node first.",
						 function)));
	if (CitusLocalGroupId() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s must run on the Citus coordinator", function),
				 errdetail("This node is a worker (Citus group %d).", CitusLocalGroupId())));
}

/*
 * TokenFloor
 *		The highest token drawn so far that anyone may hold or have held:
 *		the coordinator's last (it drew every token before distribute(),
 *		and draws none after), or one kept in a row, high-water rows
 *		included (through Citus, on every shard, when distributed).
 */
static int64
TokenFloor(void)
{
	char	   *value = QueryValue("SELECT pg_catalog.max(t) FROM ("
								   " SELECT last_value AS t FROM lockable.token_seq"
								   " UNION ALL SELECT pg_catalog.max(token) FROM lockable.locks) AS f");

	return value ? DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(value))) : 0;
}

/*
 * RaiseHighWater
 *		Raise the high-water row of every shard of lockable.locks to at
 *		least floor, on the nodes that hold them (Citus's
 *		run_command_on_shards: each in a transaction of its own; the
 *		shards must be committed).
 */
static void
RaiseHighWater(int64 floor)
{
	char	   *command = psprintf("INSERT INTO %%s AS l (uid, owner, token, acquired_at, expires_at)"
								   " VALUES ('', NULL, " INT64_FORMAT ", NULL, NULL)"
								   " ON CONFLICT (uid) DO UPDATE"
								   " SET token = pg_catalog.int8larger(l.token, excluded.token)",
								   floor);
	int			rc = SPI_execute(psprintf("SELECT shardid, result FROM pg_catalog.run_command_on_shards("
										  "'lockable.locks', %s) WHERE NOT success",
										  quote_literal_cstr(command)), false, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not raise the token floor of shard %s of lockable.locks: %s",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				 errhint("Call lockable.distribute() again when every node is up.")));
}

/*
 * lockable.distribute() RETURNS void
 *		See the file header.  EXECUTE is revoked from PUBLIC; it also
 *		requires a superuser, as Citus's functions it calls do.
 */
Datum
lockable_distribute(PG_FUNCTION_ARGS)
{
	char	   *version;
	int64		floor;
	bool		was_distributed;

	SPI_connect();
	CheckCoordinator("lockable.distribute()");

	version = QueryValue("SELECT extversion FROM pg_catalog.pg_extension"
						 " WHERE extname OPERATOR(pg_catalog.=) 'lockable'");
	CheckWorkers(version);

	/*
	 * 1. Tokens above every token drawn so far.  floor is the highest: the
	 * coordinator's sequence has drawn every token of the single-node past
	 * (and draws none once distributed), and the rows (with the shards'
	 * high-water rows) hold every later one that a grant kept.
	 */
	was_distributed = Distributed("locks") && Distributed("places");
	if (!was_distributed)
	{
		/*
		 * No grant on the coordinator until the rows are in the shards
		 * (Citus takes the lock on every node if the table is already
		 * distributed by hand, when no lock function runs anyway).
		 */
		(void) QueryValue("LOCK TABLE lockable.locks IN EXCLUSIVE MODE");
	}
	floor = TokenFloor();
	if (!was_distributed)
	{
		/*
		 * The first time: every worker's sequence past floor.  No call is
		 * delegated to them yet, so no draw races with the setval.
		 */
		SPI_finish();
		(void) CitusRunOnWorkers(psprintf("SELECT 0 FROM pg_catalog.setval('lockable.token_seq',"
										  " pg_catalog.int8larger(" INT64_FORMAT ","
										  " (SELECT last_value FROM lockable.token_seq)))",
										  floor / 4096 + 1),
								 "lockable.distribute()");
		SPI_connect();
	}
	else
	{
		/*
		 * Again (after nodes were added, say): floor into the high-water
		 * row of every shard, which every node's first grant of a uid
		 * without a row draws above, wherever the shard moves.  The row
		 * only ever rises, so this races with nothing.
		 */
		RaiseHighWater(floor);
	}

	/* 2. The tables, colocated. */
	if (!Distributed("locks"))
	{
		(void) QueryValue("SELECT pg_catalog.create_distributed_table("
						  "'lockable.locks', 'uid', colocate_with => 'none')");
		/* The rows are in the shards now; free the coordinator's copies. */
		(void) QueryValue("SELECT pg_catalog.truncate_local_data_after_distributing_table("
						  "'lockable.locks')");
	}
	if (!Distributed("places"))
	{
		(void) QueryValue("SELECT pg_catalog.create_distributed_table("
						  "'lockable.places', 'uid', colocate_with => 'lockable.locks')");
		(void) QueryValue("SELECT pg_catalog.truncate_local_data_after_distributing_table("
						  "'lockable.places')");
	}

	/* 3. The per-uid functions, delegated (Citus makes this idempotent). */
	for (size_t i = 0; i < lengthof(per_uid_functions); i++)
		(void) QueryValue(psprintf("SELECT pg_catalog.create_distributed_function("
								   "%s, distribution_arg_name => 'uid',"
								   " colocate_with => 'lockable.locks')",
								   quote_literal_cstr(per_uid_functions[i])));
	SPI_finish();

	PG_RETURN_VOID();
}

/*---- lockable.undistribute() ----*/

/* The relations that leave the extension while undistributed, in order. */
static const char *const members[] = {
	"lock_queue", "active_locks", "places", "locks",
};

/*
 * SaveDecorations
 *		The statements that give relation relname back its privileges,
 *		options and comments (those of its columns too) once Citus has
 *		recreated it: a list of SQL strings.
 */
static List *
SaveDecorations(const char *relname)
{
	char	   *qualified = psprintf("lockable.%s", relname);
	char	   *lit = quote_literal_cstr(qualified);
	List	   *statements = NIL;
	int			rc;

	rc = SPI_execute(psprintf(
							  "SELECT pg_catalog.format('GRANT %%s ON %%s TO %%s', a.privilege_type, %s,"
							  "  CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
							  "  ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END)"
							  "  FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a"
							  " WHERE c.oid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass"
							  "   AND a.grantee OPERATOR(pg_catalog.<>) c.relowner"
							  " UNION ALL"
							  " SELECT pg_catalog.format('ALTER %%s %%s SET (%%s)',"
							  "  CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, %s,"
							  "  pg_catalog.array_to_string(c.reloptions, ', '))"
							  "  FROM pg_catalog.pg_class AS c"
							  " WHERE c.oid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass"
							  "   AND c.reloptions IS NOT NULL"
							  " UNION ALL"
							  " SELECT pg_catalog.format('COMMENT ON %%s %%s IS %%L',"
							  "  CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, %s, d.description)"
							  "  FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_description AS d"
							  "    ON d.objoid OPERATOR(pg_catalog.=) c.oid AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "   AND d.objsubid OPERATOR(pg_catalog.=) 0"
							  " WHERE c.oid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass"
							  " UNION ALL"
							  " SELECT pg_catalog.format('COMMENT ON COLUMN %%s.%%I IS %%L', %s, a.attname, d.description)"
							  "  FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_description AS d"
							  "    ON d.objoid OPERATOR(pg_catalog.=) a.attrelid AND d.objsubid OPERATOR(pg_catalog.=) a.attnum"
							  "   AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  " WHERE a.attrelid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass",
							  lit, lit, lit, lit, lit, lit, lit, lit), true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
		statements = lappend(statements,
							 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return statements;
}

/*
 * ExtConfig
 *		With save: the names of the relations in extension lockable's
 *		extconfig (what pg_dump dumps the rows of), in order, and their
 *		conditions.  Without: write them back, by the relations' new OIDs
 *		(ALTER EXTENSION ... DROP took the tables out of it).
 */
static void
ExtConfig(bool save, List **names, List **conditions)
{
	Relation	rel = table_open(ExtensionRelationId, RowExclusiveLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		isnull;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("lockable"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "extension \"lockable\" does not exist");

	if (save)
	{
		Datum		config = heap_getattr(tuple, Anum_pg_extension_extconfig,
										  RelationGetDescr(rel), &isnull);
		Datum	   *oids;
		Datum	   *conds;
		int			n;
		int			m;

		*names = NIL;
		*conditions = NIL;
		if (!isnull)
		{
			Datum		condition = heap_getattr(tuple, Anum_pg_extension_extcondition,
													 RelationGetDescr(rel), &isnull);

			deconstruct_array(DatumGetArrayTypeP(config), OIDOID, sizeof(Oid),
							  true, TYPALIGN_INT, &oids, NULL, &n);
			deconstruct_array(DatumGetArrayTypeP(condition), TEXTOID, -1,
							  false, TYPALIGN_INT, &conds, NULL, &m);
			for (int i = 0; i < n && i < m; i++)
			{
				*names = lappend(*names, get_rel_name(DatumGetObjectId(oids[i])));
				*conditions = lappend(*conditions, TextDatumGetCString(conds[i]));
			}
		}
	}
	else
	{
		int			n = list_length(*names);
		Datum	   *oids = palloc(sizeof(Datum) * (n + 1));
		Datum	   *conds = palloc(sizeof(Datum) * (n + 1));
		Datum		values[Natts_pg_extension] = {0};
		bool		nulls[Natts_pg_extension] = {0};
		bool		replace[Natts_pg_extension] = {0};
		Oid			namespace = get_namespace_oid("lockable", false);
		HeapTuple	newtuple;

		for (int i = 0; i < n; i++)
		{
			Oid			relid = get_relname_relid(list_nth(*names, i), namespace);

			if (!OidIsValid(relid))
				elog(ERROR, "relation \"lockable.%s\" does not exist",
					 (char *) list_nth(*names, i));
			oids[i] = ObjectIdGetDatum(relid);
			conds[i] = CStringGetTextDatum(list_nth(*conditions, i));
		}
		replace[Anum_pg_extension_extconfig - 1] = true;
		replace[Anum_pg_extension_extcondition - 1] = true;
		if (n == 0)
		{
			nulls[Anum_pg_extension_extconfig - 1] = true;
			nulls[Anum_pg_extension_extcondition - 1] = true;
		}
		else
		{
			values[Anum_pg_extension_extconfig - 1] =
				PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid),
												true, TYPALIGN_INT));
			values[Anum_pg_extension_extcondition - 1] =
				PointerGetDatum(construct_array(conds, n, TEXTOID, -1,
												false, TYPALIGN_INT));
		}
		newtuple = heap_modify_tuple(tuple, RelationGetDescr(rel), values,
									 nulls, replace);
		CatalogTupleUpdate(rel, &newtuple->t_self, newtuple);
	}
	systable_endscan(scan);
	table_close(rel, RowExclusiveLock);
}

/*
 * UnmarkFunction
 *		The statement that takes function signature out of Citus's
 *		pg_dist_object on the node it runs on.
 */
static char *
UnmarkFunction(const char *signature)
{
	return psprintf("SELECT pg_catalog.citus_unmark_object_distributed("
					"'pg_catalog.pg_proc'::pg_catalog.regclass,"
					" %s::pg_catalog.regprocedure, 0, false)",
					quote_literal_cstr(signature));
}

/*
 * lockable.undistribute() RETURNS void
 *		See the file header.  EXECUTE is revoked from PUBLIC; it also
 *		requires a superuser.
 */
Datum
lockable_undistribute(PG_FUNCTION_ARGS)
{
	List	   *decorations = NIL;
	List	   *config_names;
	List	   *config_conditions;
	ListCell   *lc;
	int64		floor;

	/*
	 * The workers' part (step 2) commits by itself at the end: a caller's
	 * transaction that then rolled back would leave it done.
	 */
	PreventInTransactionBlock(true, "lockable.undistribute()");
	SPI_connect();
	CheckCoordinator("lockable.undistribute()");
	if (!Distributed("locks") && !Distributed("places"))
	{
		SPI_finish();
		PG_RETURN_VOID();
	}

	/*
	 * 1. No grant anywhere until the rows are back (Citus takes the lock on
	 * every node, where each delegated call opens the table first); then
	 * the plain tokens to come above every token anyone holds or held.
	 */
	(void) QueryValue("LOCK TABLE lockable.locks, lockable.places IN EXCLUSIVE MODE");
	floor = TokenFloor();
	(void) QueryValue(psprintf("SELECT pg_catalog.setval('lockable.token_seq', "
							   INT64_FORMAT ")", floor));

	/*
	 * 2. The functions, no longer delegated: out of Citus's pg_dist_object
	 * (Citus has no call that keeps an extension's function distributed
	 * without a distribution argument), here in this transaction, and on
	 * the workers, for calls made there, at the end.
	 */
	for (size_t i = 0; i < lengthof(per_uid_functions); i++)
		(void) QueryValue(UnmarkFunction(per_uid_functions[i]));

	/*
	 * 3. The tables, back on the coordinator, with the views over them;
	 * without the shards' high-water rows (uid '', the only rows whose
	 * expires_at is NULL), which are no token's floor any more.
	 */
	(void) QueryValue("DELETE FROM lockable.locks WHERE expires_at IS NULL");
	ExtConfig(true, &config_names, &config_conditions);
	for (size_t i = 0; i < lengthof(members); i++)
		decorations = list_concat(decorations, SaveDecorations(members[i]));
	for (size_t i = 0; i < lengthof(members); i++)
		(void) QueryValue(psprintf("ALTER EXTENSION lockable DROP %s lockable.%s",
								   i < 2 ? "VIEW" : "TABLE", members[i]));
	if (Distributed("places"))
		(void) QueryValue("SELECT pg_catalog.undistribute_table('lockable.places')");
	if (Distributed("locks"))
		(void) QueryValue("SELECT pg_catalog.undistribute_table('lockable.locks')");
	for (size_t i = 0; i < lengthof(members); i++)
		(void) QueryValue(psprintf("ALTER EXTENSION lockable ADD %s lockable.%s",
								   i < 2 ? "VIEW" : "TABLE", members[i]));
	foreach(lc, decorations)
		(void) QueryValue((char *) lfirst(lc));
	ExtConfig(false, &config_names, &config_conditions);
	SPI_finish();

	for (size_t i = 0; i < lengthof(per_uid_functions); i++)
		(void) CitusRunOnWorkers(psprintf("SELECT 0 FROM (%s) AS u",
										  UnmarkFunction(per_uid_functions[i])),
								 "lockable.undistribute()");

	PG_RETURN_VOID();
}
