/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  What lockable knows of Citus, read from Citus's own catalogs and
 *	  asked of Citus's own SQL functions: whether a relation is a Citus
 *	  table or a shard of one; on a distributed install (lockable.
 *	  distribute()), where a uid's shards are and whether they are on this
 *	  node, and the set-oriented calls run on every worker.
 *
 * lockable reads and writes its tables on the node a call runs on.  Once
 * Citus distributes lockable.locks, that node's copy of the table is an
 * empty shell and the rows live in shards.  Only lockable.distribute()'s
 * distribution is served (CitusCheckDistributedByUid: both tables
 * hash-distributed on uid, colocated); any other is refused.  A per-uid
 * call opens the uid's shards on the node Citus delegated it to
 * (CitusUidShards), under Citus's shard metadata lock, which a shard move
 * takes in ExclusiveLock before it switches the placement: the placement
 * is checked after the lock is granted, so no call writes a shard that has
 * moved away.  enforce_lock, fired on a worker for a row of a distributed
 * table, would look the row's lock up where it is not: its callers refuse
 * such tables (CitusTableOf).

 * Citus keeps its metadata in tables of pg_catalog (pg_dist_partition: one
 * row per Citus table; pg_dist_shard: one row per shard), on the
 * coordinator and, with metadata sync (Citus's default since 11), on every
 * worker.  They are found by name in pg_catalog, where only a superuser
 * can create anything, and their key columns are checked for the types
 * Citus gives them before they are read.  Without Citus's catalogs in the
 * database (Citus not installed, or its extension not created), a relation
 * is never a Citus table and the cost is one syscache look-up per catalog.
 *
 * Invariants: CitusUidShards returns only shards placed on this node as of
 * a catalog snapshot taken after the shard group's metadata lock was
 * granted, and that lock is held to the end of the transaction;
 * CitusTableOf answers from the catalogs as of the current catalog snapshot; callers cache the answer only as long as they cache
 * their verification of the relation, until its next relcache
 * invalidation (Citus invalidates a table's relcache entry whenever it
 * adds or changes its metadata).
 *
 * Copyright (c) 2026, lockable developers
 *
 * IDENTIFICATION
 *	  src/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "citus.h"

/*
 * CitusCatalogColumn
 *		The attribute number of column colname of Citus catalog catalog,
 *		which must be of type typid: fail closed if Citus changed it.
 */
static AttrNumber
CitusCatalogColumn(Oid catalog, const char *colname, Oid typid)
{
	AttrNumber	attnum = get_attnum(catalog, colname);

	if (attnum == InvalidAttrNumber || get_atttype(catalog, attnum) != typid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Citus catalog \"%s\" has no column \"%s\" of type %s",
						get_rel_name(catalog), colname, format_type_be(typid)),
				 errdetail("lockable reads Citus's metadata to refuse tables it cannot serve, and does not recognize this version of it.")));
	return attnum;
}

/*
 * CitusCatalogLogicalRelid
 *		The logicalrelid of the first row of Citus catalog catalogname
 *		whose column keycol (of type keytype, compared with eqproc) equals
 *		key; InvalidOid when there is no such row, or no such catalog.
 */
static Oid
CitusCatalogLogicalRelid(const char *catalogname, const char *keycol,
						 Oid keytype, RegProcedure eqproc, Datum key)
{
	Oid			catalog = get_relname_relid(catalogname, PG_CATALOG_NAMESPACE);
	AttrNumber	relidcol;
	AttrNumber	keyattnum;
	Relation	rel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			logicalrelid = InvalidOid;

	if (!OidIsValid(catalog))
		return InvalidOid;
	relidcol = CitusCatalogColumn(catalog, "logicalrelid", REGCLASSOID);
	keyattnum = CitusCatalogColumn(catalog, keycol, keytype);

	/*
	 * A sequential scan: this runs once per relcache generation of the
	 * relation asked about, and the name of Citus's index is not an API.
	 */
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&skey, keyattnum, BTEqualStrategyNumber, eqproc, key);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &skey);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, relidcol,
										 RelationGetDescr(rel), &isnull);

		if (!isnull)
			logicalrelid = DatumGetObjectId(value);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return logicalrelid;
}

/*
 * ShardIdOfName
 *		Citus names a shard <table name>_<shard id> (the table name
 *		shortened, with a hash, if the whole would be too long): the shard
 *		id at the end of relname, or 0 if it has no such suffix.
 */
static int64
ShardIdOfName(const char *relname)
{
	const char *underscore = strrchr(relname, '_');
	const char *digits;
	char	   *end;
	long long	shardid;

	if (underscore == NULL || underscore == relname)
		return 0;
	digits = underscore + 1;
	if (!isdigit((unsigned char) digits[0]))
		return 0;
	errno = 0;
	shardid = strtoll(digits, &end, 10);
	if (errno != 0 || *end != '\0' || shardid <= 0)
		return 0;
	return (int64) shardid;
}

/*
 * CitusTableOf
 *		If rel is a Citus table, its OID; if it is a shard of one (as the
 *		relation a trigger fires on inside a worker is), the OID of the
 *		Citus table it is a shard of; otherwise InvalidOid.
 *
 *		A shard is recognized by a name ending in _<shard id> where
 *		pg_dist_shard has that shard id for a table of the same schema.  A
 *		table of one's own that happens to be named like that is taken for
 *		a shard: the callers refuse what they find, so a mistake here
 *		refuses, never lets through.
 */
Oid
CitusTableOf(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			citustable;
	int64		shardid;

	citustable = CitusCatalogLogicalRelid("pg_dist_partition", "logicalrelid",
										  REGCLASSOID, F_OIDEQ,
										  ObjectIdGetDatum(relid));
	if (OidIsValid(citustable))
		return citustable;

	shardid = ShardIdOfName(RelationGetRelationName(rel));
	if (shardid == 0)
		return InvalidOid;
	citustable = CitusCatalogLogicalRelid("pg_dist_shard", "shardid",
										  INT8OID, F_INT8EQ,
										  Int64GetDatum(shardid));
	if (OidIsValid(citustable) &&
		get_rel_namespace(citustable) == RelationGetNamespace(rel))
		return citustable;
	return InvalidOid;
}

/*---- lockable's own tables, distributed by lockable.distribute() ----*/

/*
 * CitusCatalogOid
 *		The OID of Citus catalog relation name in pg_catalog; fail closed
 *		when it is missing (Citus's metadata was just found to name one of
 *		lockable's tables, so Citus is installed).
 */
static Oid
CitusCatalogOid(const char *name)
{
	Oid			catalog = get_relname_relid(name, PG_CATALOG_NAMESPACE);

	if (!OidIsValid(catalog))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Citus catalog \"%s\" does not exist", name)));
	return catalog;
}

/*
 * CitusCheckDistributedByUid
 *		rel, lockable.locks or lockable.places, is a Citus table: accept it
 *		only as lockable.distribute() leaves it, hash-distributed on its
 *		column uid and colocated with the other one (so that the lock row
 *		and the places of a uid are always on one node).
 */
void
CitusCheckDistributedByUid(Relation rel)
{
	Oid			catalog = CitusCatalogOid("pg_dist_partition");
	AttrNumber	relidcol = CitusCatalogColumn(catalog, "logicalrelid", REGCLASSOID);
	AttrNumber	methodcol = CitusCatalogColumn(catalog, "partmethod", CHAROID);
	AttrNumber	colocationcol = CitusCatalogColumn(catalog, "colocationid", INT4OID);
	AttrNumber	uidattnum = get_attnum(RelationGetRelid(rel), "uid");
	bool		is_locks = strcmp(RelationGetRelationName(rel), "locks") == 0;
	const Oid	ids[2] = {RelationGetRelid(rel),
		get_relname_relid(is_locks ? "places" : "locks",
						  RelationGetNamespace(rel))};
	char		method[2] = {0, 0};
	int32		colocation[2] = {-1, -2};
	char	   *partkey = NULL;
	Relation	pdp;
	SysScanDesc scan;
	HeapTuple	tuple;

	pdp = table_open(catalog, AccessShareLock);
	scan = systable_beginscan(pdp, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(pdp);
		bool		isnull;
		Oid			relid = DatumGetObjectId(heap_getattr(tuple, relidcol, desc, &isnull));

		for (int i = 0; i < 2; i++)
		{
			if (relid != ids[i] || !OidIsValid(relid))
				continue;
			method[i] = DatumGetChar(heap_getattr(tuple, methodcol, desc, &isnull));
			colocation[i] = DatumGetInt32(heap_getattr(tuple, colocationcol, desc, &isnull));
			if (i == 0)
			{
				Datum		key = heap_getattr(tuple,
											   get_attnum(catalog, "partkey"),
											   desc, &isnull);

				if (!isnull)
					partkey = TextDatumGetCString(key);
			}
		}
	}
	systable_endscan(scan);
	table_close(pdp, AccessShareLock);

	/*
	 * Citus stores the distribution column as the nodeToString() of a Var:
	 * check its varattno.
	 */
	if (method[0] != 'h' || partkey == NULL || uidattnum == InvalidAttrNumber ||
		strstr(partkey, psprintf(":varattno %d ", uidattnum)) == NULL ||
		colocation[0] != colocation[1])
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"lockable.%s\" is distributed by Citus, but not as lockable.distribute() distributes it",
						RelationGetRelationName(rel)),
				 errdetail("The lock functions serve lockable.locks and lockable.places hash-distributed on uid and colocated, so that every uid's rows are on one node."),
				 errhint("Undistribute the tables and call lockable.distribute() on the coordinator.")));
}

/*
 * CitusLocalGroupId
 *		This node's group in the Citus cluster (0: the coordinator).
 */
int32
CitusLocalGroupId(void)
{
	static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
	static int32 cached_group = -1;
	Oid			catalog;
	AttrNumber	groupcol;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	int32		groupid = -1;

	/* It changes only when the node joins a cluster: once a transaction. */
	if (cached_lxid == MyLocalTransactionId() && cached_group >= 0)
		return cached_group;

	catalog = CitusCatalogOid("pg_dist_local_group");
	groupcol = CitusCatalogColumn(catalog, "groupid", INT4OID);
	rel = table_open(catalog, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, groupcol, RelationGetDescr(rel), &isnull);

		if (!isnull)
			groupid = DatumGetInt32(value);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (groupid < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no group in the Citus cluster")));
	cached_lxid = MyLocalTransactionId();
	cached_group = groupid;
	return groupid;
}

/*
 * PlacementIndex
 *		Citus's index of pg_dist_placement on shardid, if it is one (its
 *		name is not an API: checked, and a sequential scan otherwise).
 */
static Oid
PlacementIndex(Oid catalog, AttrNumber shardcol)
{
	Oid			index = get_relname_relid("pg_dist_placement_shardid_index",
										  PG_CATALOG_NAMESPACE);
	HeapTuple	tuple;
	bool		usable = false;

	if (!OidIsValid(index))
		return InvalidOid;
	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_index form = (Form_pg_index) GETSTRUCT(tuple);

		usable = form->indrelid == catalog && form->indisvalid &&
			form->indnkeyatts >= 1 && form->indkey.values[0] == shardcol;
		ReleaseSysCache(tuple);
	}
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(index));
	if (HeapTupleIsValid(tuple))
	{
		usable = usable && ((Form_pg_class) GETSTRUCT(tuple))->relam == BTREE_AM_OID;
		ReleaseSysCache(tuple);
	}
	else
		usable = false;
	return usable ? index : InvalidOid;
}

/*
 * PlacedHere
 *		Whether shard shardid has an active placement (shardstate 1) in
 *		group groupid, as of the current catalog snapshot.
 */
static bool
PlacedHere(int64 shardid, int32 groupid)
{
	Oid			catalog = CitusCatalogOid("pg_dist_placement");
	AttrNumber	shardcol = CitusCatalogColumn(catalog, "shardid", INT8OID);
	AttrNumber	groupcol = CitusCatalogColumn(catalog, "groupid", INT4OID);
	AttrNumber	statecol = CitusCatalogColumn(catalog, "shardstate", INT4OID);
	Oid			index = PlacementIndex(catalog, shardcol);
	Relation	rel = table_open(catalog, AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		here = false;

	/* The key is the heap's column, which is also the index's first. */
	ScanKeyInit(&skey, shardcol, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(shardid));
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &skey);
	while (!here && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull1,
					isnull2;
		int32		group = DatumGetInt32(heap_getattr(tuple, groupcol,
													   RelationGetDescr(rel), &isnull1));
		int32		state = DatumGetInt32(heap_getattr(tuple, statecol,
													   RelationGetDescr(rel), &isnull2));

		here = !isnull1 && !isnull2 && group == groupid && state == 1;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return here;
}

/*
 * The OIDs of the Citus functions a per-uid call uses, looked up once and
 * forgotten at any invalidation of pg_proc (DROP EXTENSION citus, say).
 */
typedef enum CitusFunctionId
{
	CITUS_SHARD_ID_FN,			/* get_shard_id_for_distribution_column */
	CITUS_LOCK_METADATA_FN,		/* lock_shard_metadata */
	NUM_CITUS_FUNCTIONS
} CitusFunctionId;

static Oid	citus_functions[NUM_CITUS_FUNCTIONS];
static bool citus_functions_callback = false;

static void
ForgetCitusFunctions(Datum arg, int cacheid, uint32 hashvalue)
{
	memset(citus_functions, 0, sizeof(citus_functions));
}

/*
 * CitusFunction
 *		The OID of Citus's SQL function pg_catalog.name(argtypes).
 */
static Oid
CitusFunction(CitusFunctionId id, const char *name, int nargs, Oid *argtypes)
{
	if (!OidIsValid(citus_functions[id]))
	{
		String	   *schema = makeString("pg_catalog");
		String	   *function = makeString(pstrdup(name));

		if (!citus_functions_callback)
		{
			CacheRegisterSyscacheCallback(PROCOID, ForgetCitusFunctions, (Datum) 0);
			citus_functions_callback = true;
		}
		citus_functions[id] = LookupFuncName(lappend(lappend(NIL, schema), function),
											 nargs, argtypes, false);
	}
	return citus_functions[id];
}

/*
 * ShardIdOfUid
 *		The shard of Citus table relid that holds uid, by Citus's own
 *		get_shard_id_for_distribution_column(regclass, "any"), so that the
 *		hash is Citus's.  Its second argument is "any": the call carries
 *		an expression that gives the argument's type, text.
 */
static int64
ShardIdOfUid(Oid relid, text *uid)
{
	Oid			argtypes[2] = {REGCLASSOID, ANYOID};
	Oid			fn = CitusFunction(CITUS_SHARD_ID_FN, "get_shard_id_for_distribution_column",
							   2, argtypes);
	FmgrInfo	flinfo;
	FuncExpr   *expr = makeNode(FuncExpr);
	FunctionCallInfo fcinfo = palloc0(SizeForFunctionCallInfo(2));
	Const	   *relarg = makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid),
								   ObjectIdGetDatum(relid), false, true);
	Const	   *uidarg = makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
								   PointerGetDatum(uid), false, false);
	Datum		result;

	fmgr_info(fn, &flinfo);
	expr->funcid = fn;
	expr->funcresulttype = INT8OID;
	expr->args = lappend(lappend(NIL, relarg), uidarg);
	flinfo.fn_expr = (Node *) expr;
	InitFunctionCallInfoData(*fcinfo, &flinfo, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(relid);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = PointerGetDatum(uid);
	fcinfo->args[1].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "Citus found no shard of \"%s\" for a uid", get_rel_name(relid));
	return DatumGetInt64(result);
}

/*
 * LockShardMetadata
 *		Take Citus's metadata lock on the given shards in lockmode, through
 *		Citus's lock_shard_metadata(int, bigint[]), which picks the lock tag
 *		Citus's own placement changes take (for a colocated table: the lock
 *		of the colocated shard group), and then apply the invalidations of
 *		everything committed before the lock was granted.
 */
static void
LockShardMetadata(int64 *shardids, int nshards, LOCKMODE lockmode)
{
	Oid			argtypes[2] = {INT4OID, INT8ARRAYOID};
	Oid			fn;
	Datum	   *elems;
	ArrayType  *array;

	if (nshards == 0)
		return;
	fn = CitusFunction(CITUS_LOCK_METADATA_FN, "lock_shard_metadata", 2, argtypes);
	elems = palloc(sizeof(Datum) * nshards);
	for (int i = 0; i < nshards; i++)
		elems[i] = Int64GetDatum(shardids[i]);
	array = construct_array(elems, nshards, INT8OID, sizeof(int64),
							FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	OidFunctionCall2(fn, Int32GetDatum((int32) lockmode), PointerGetDatum(array));
	AcceptInvalidationMessages();
}

/*
 * ShardRelid
 *		The relation of shard shardid of lockable's table relname on this
 *		node (Citus names it <relname>_<shardid>, in the table's schema).
 */
static Oid
ShardRelid(Oid namespace, const char *relname, int64 shardid)
{
	char		name[NAMEDATALEN];

	snprintf(name, sizeof(name), "%s_" INT64_FORMAT, relname, shardid);
	return get_relname_relid(name, namespace);
}

/*
 * CitusInternalBackend
 *		Whether this session is one Citus opened to run work it routed here
 *		(a delegated call included): Citus names those connections
 *		"citus_internal gpid=<id>" (its CITUS_APPLICATION_NAME_PREFIX, from
 *		Citus 11).  A session that set that name itself gets a retryable
 *		error instead of 0A000, nothing more.
 */
static bool
CitusInternalBackend(void)
{
	static const char prefix[] = "citus_internal gpid=";

	return application_name != NULL &&
		strncmp(application_name, prefix, sizeof(prefix) - 1) == 0;
}

/*
 * CitusUidShards
 *		For a per-uid call on distributed tables: the relations, on this
 *		node, of the shards of lockable.locks (locks) and lockable.places
 *		(places, colocated) that hold uid.  The metadata of the shard group
 *		is locked in ShareLock until the end of the transaction, so that no
 *		shard move can finish while the call reads and writes (a move takes
 *		it in ExclusiveLock before its last catch-up and switches the
 *		placement at commit); the placement is checked after the lock.
 *
 *		A call that runs where the uid's shard is not: 0A000 (Citus did not
 *		delegate it); one whose shard moved away while it waited for the
 *		lock, or that Citus delegated here (it came over one of Citus's own
 *		connections) from metadata that a move made stale before the call
 *		arrived: 40001, to be retried (Citus then sends it to the new node).
 */
void
CitusUidShards(Oid locks, Oid places, text *uid, const char *caller,
			   Oid *locks_shard, Oid *places_shard)
{
	Oid			namespace = get_rel_namespace(locks);
	int32		group = CitusLocalGroupId();
	int64		shardid = ShardIdOfUid(locks, uid);
	int64		places_shardid = ShardIdOfUid(places, uid);
	bool		was_here = PlacedHere(shardid, group);

	LockShardMetadata(&shardid, 1, ShareLock);
	if (!PlacedHere(shardid, group) || !PlacedHere(places_shardid, group))
	{
		if (was_here || CitusInternalBackend())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access: the shard of lock \"%s\" moved to another node",
							text_to_cstring(uid)),
					 errhint("Retry the call; Citus sends it to the node that now holds the shard.")));
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot run on this node for lock \"%s\", whose shard is on another node",
						caller, text_to_cstring(uid)),
				 errdetail("lockable's tables are distributed by Citus; a per-uid call runs on the node that holds the uid's shard."),
				 errhint("Call the function by itself, outside a transaction block, as SELECT * FROM lockable.%s(...) with constant arguments, so that Citus delegates it to that node.",
						 caller)));
	}
	*locks_shard = ShardRelid(namespace, get_rel_name(locks), shardid);
	*places_shard = ShardRelid(namespace, get_rel_name(places), places_shardid);
	if (!OidIsValid(*locks_shard) || !OidIsValid(*places_shard))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the shards of lock \"%s\" are placed on this node but do not exist",
						text_to_cstring(uid))));
}

/*
 * CitusLocalShards
 *		The relations of the shards of Citus table relid placed on this
 *		node, for the set-oriented functions, with the metadata of each
 *		locked in ShareLock as for CitusUidShards; returns their number.
 */
int
CitusLocalShards(Oid relid, Oid **shards)
{
	Oid			catalog = CitusCatalogOid("pg_dist_shard");
	AttrNumber	relidcol = CitusCatalogColumn(catalog, "logicalrelid", REGCLASSOID);
	AttrNumber	shardcol = CitusCatalogColumn(catalog, "shardid", INT8OID);
	int32		group = CitusLocalGroupId();
	Oid			namespace = get_rel_namespace(relid);
	char	   *relname = get_rel_name(relid);
	int64	   *ids = NULL;
	int			nids = 0;
	int			maxids = 0;
	int			nshards = 0;
	Relation	rel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;

	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&skey, relidcol, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &skey);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		int64		shardid = DatumGetInt64(heap_getattr(tuple, shardcol,
														 RelationGetDescr(rel), &isnull));

		if (isnull || !PlacedHere(shardid, group))
			continue;
		if (nids == maxids)
		{
			maxids = maxids == 0 ? 16 : maxids * 2;
			ids = ids == NULL ? palloc(sizeof(int64) * maxids) :
				repalloc(ids, sizeof(int64) * maxids);
		}
		ids[nids++] = shardid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	LockShardMetadata(ids, nids, ShareLock);
	*shards = palloc(sizeof(Oid) * (nids + 1));
	for (int i = 0; i < nids; i++)
	{
		Oid			shard;

		if (!PlacedHere(ids[i], group))
			continue;			/* moved away meanwhile */
		shard = ShardRelid(namespace, relname, ids[i]);
		if (OidIsValid(shard))
			(*shards)[nshards++] = shard;
	}
	return nshards;
}

/*
 * CitusRunOnWorkersEach
 *		Run command on every worker through Citus's run_command_on_workers
 *		(each node runs it in a transaction of its own, which commits or
 *		fails by itself); return what each returned, in the caller's
 *		memory context, and their number in *nworkers.  A node that fails:
 *		an error naming it (with caller), after the others committed.
 */
CitusWorkerResult *
CitusRunOnWorkersEach(const char *command, const char *caller, int *nworkers)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(command)};
	CitusWorkerResult *results;
	int			rc;

	SPI_connect();
	rc = SPI_execute_with_args("SELECT nodename, nodeport, success, result"
							   " FROM pg_catalog.run_command_on_workers($1)",
							   1, argtypes, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	results = MemoryContextAllocZero(callercxt,
									 sizeof(CitusWorkerResult) * (SPI_processed + 1));
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
					 errmsg("%s failed on node %s:%s: %s", caller,
							node ? node : "?", port ? port : "?",
							result ? result : "no result"),
					 errdetail("Every node runs its part in a transaction of its own; the nodes that did not fail have committed theirs."),
					 errhint("Call %s again when the node is back.", caller)));
		results[i].node = MemoryContextStrdup(callercxt, node ? node : "?");
		results[i].port = MemoryContextStrdup(callercxt, port ? port : "?");
		results[i].result = result ? MemoryContextStrdup(callercxt, result) : NULL;
	}
	*nworkers = (int) SPI_processed;
	SPI_finish();
	return results;
}

/*
 * CitusRunOnWorkers
 *		As CitusRunOnWorkersEach, for a command that returns a bigint: the
 *		sum of what the workers returned.
 */
int64
CitusRunOnWorkers(const char *command, const char *caller)
{
	int			nworkers;
	CitusWorkerResult *results = CitusRunOnWorkersEach(command, caller, &nworkers);
	int64		sum = 0;

	for (int i = 0; i < nworkers; i++)
		if (results[i].result != NULL)
			sum += DatumGetInt64(DirectFunctionCall1(int8in,
													 CStringGetDatum(results[i].result)));
	return sum;
}
