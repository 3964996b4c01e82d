/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  What lockable knows of Citus: whether a relation is a Citus table
 *	  (distributed, reference, or a local table in Citus's metadata), or a
 *	  shard of one, read from Citus's own catalogs.
 *
 * lockable reads and writes its tables on the node a call runs on.  Once
 * Citus distributes lockable.locks, that node's copy of the table is an
 * empty shell and the rows live in shards on other nodes: every per-uid
 * call would miss its row (1.1 looped for ever).  And enforce_lock, fired
 * on a worker for a row of a distributed table, would look the row's lock
 * up in the worker's own, empty, lockable.locks and let every write pass.
 * Both are refused, by the callers of CitusTableOf, the moment they would
 * first use such a table.
 *
 * Citus keeps its metadata in tables of pg_catalog (pg_dist_partition: one
 * row per Citus table; pg_dist_shard: one row per shard), on the
 * coordinator and, with metadata sync (Citus's default since 11), on every
 * worker.  They are found by name in pg_catalog, where only a superuser
 * can create anything, and their key columns are checked for the types
 * Citus gives them before they are read.  Without Citus's catalogs in the
 * database (Citus not installed, or its extension not created), a relation
 * is never a Citus table and the cost is one syscache look-up per catalog.
 *
 * Invariant: CitusTableOf answers from the catalogs as of the current
 * catalog snapshot; callers cache the answer only as long as they cache
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
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

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
