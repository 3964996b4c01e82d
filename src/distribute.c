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
 *	1. moves every node's lockable.token_seq past the tokens drawn so far
 *	   (on one node, tokens are plain sequence values; from now on they
 *	   are counter * 4096 + group, lock_table.c, whose counters must start
 *	   above every token of before, rows swept away included);
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
 * finishes an interrupted run and otherwise changes nothing.  Citus's own
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

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "citus.h"

PG_FUNCTION_INFO_V1(lockable_distribute);

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
 *		The first column of the first row of query (NULL if there is none),
 *		as text, in the caller's memory context; inside an SPI connection.
 */
static char *
QueryValue(const char *query)
{
	int			rc = SPI_execute(query, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute failed for \"%s\": %s", query,
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
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
	int			rc = SPI_execute("SELECT nodename, nodeport, success, result"
								 " FROM pg_catalog.run_command_on_workers("
								 "'SELECT extversion FROM pg_catalog.pg_extension"
								 " WHERE extname OPERATOR(pg_catalog.=) ''lockable''')",
								 false, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *node = SPI_getvalue(tuple, desc, 1);
		char	   *port = SPI_getvalue(tuple, desc, 2);
		char	   *success = SPI_getvalue(tuple, desc, 3);
		char	   *result = SPI_getvalue(tuple, desc, 4);

		if (success == NULL || strcmp(success, "t") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not reach Citus worker %s:%s: %s",
							node, port, result ? result : "no result")));
		if (result == NULL || result[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"lockable\" is not installed on Citus worker %s:%s",
							node, port),
					 errdetail("Citus relies on every node having the extension's tables and functions."),
					 errhint("Run CREATE EXTENSION lockable on every node, then lockable.distribute() again.")));
		if (strcmp(result, version) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"lockable\" is at version %s on Citus worker %s:%s, and at %s here",
							result, node, port, version),
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
 * lockable.distribute() RETURNS void
 *		See the file header.  EXECUTE is revoked from PUBLIC; it also
 *		requires a superuser, as Citus's functions it calls do.
 */
Datum
lockable_distribute(PG_FUNCTION_ARGS)
{
	char	   *version;
	char	   *last;
	int64		floor;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to distribute lockable's tables"),
				 errdetail("Only a superuser may call lockable.distribute().")));

	SPI_connect();
	if (QueryValue("SELECT 1 FROM pg_catalog.pg_extension"
				   " WHERE extname OPERATOR(pg_catalog.=) 'citus'") == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"citus\" is not installed in this database"),
				 errhint("lockable.distribute() spreads lockable over a Citus cluster: run CREATE EXTENSION citus on every node first.")));
	if (CitusLocalGroupId() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lockable.distribute() must run on the Citus coordinator"),
				 errdetail("This node is a worker (Citus group %d).", CitusLocalGroupId())));

	version = QueryValue("SELECT extversion FROM pg_catalog.pg_extension"
						 " WHERE extname OPERATOR(pg_catalog.=) 'lockable'");
	CheckWorkers(version);

	/*
	 * 1. Every counter above every token drawn on one node (idempotent: a
	 * sequence only moves forward here).
	 */
	last = QueryValue("SELECT last_value FROM lockable.token_seq");
	floor = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(last)));
	floor = floor / 4096 + 1;
	(void) QueryValue(psprintf("SELECT pg_catalog.setval('lockable.token_seq',"
							   " pg_catalog.int8larger(" INT64_FORMAT ","
							   " (SELECT last_value FROM lockable.token_seq)))",
							   floor));
	SPI_finish();
	(void) CitusRunOnWorkers(psprintf("SELECT pg_catalog.setval('lockable.token_seq',"
									  " pg_catalog.int8larger(" INT64_FORMAT ","
									  " (SELECT last_value FROM lockable.token_seq)))",
									  floor),
							 "lockable.distribute()");
	SPI_connect();

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
