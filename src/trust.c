/*-------------------------------------------------------------------------
 *
 * trust.c
 *	  Which objects the lock functions trust: only the extension's own.
 *
 * The lock functions run as SECURITY DEFINER (the extension's owner, a
 * superuser) and look their tables up by name in schema "lockable".  Whoever
 * controls that schema could drop a table and put one of their own in its
 * place, and the functions would then read and write it with superuser
 * rights: the CVE-2022-2625 kind of escalation.  So before a table is used
 * it is verified, and the result cached until the table changes:
 *
 *	- the extension's schema is owned by a superuser, and no role that is
 *	  not a superuser may CREATE in it (CREATE EXTENSION makes it so; a
 *	  schema squatted by an ordinary role before the install is refused,
 *	  and so is one handed to an ordinary role later);
 *	- the table is a member of extension "lockable", lives in its schema,
 *	  is a plain heap table (not partitioned, not foreign) and has exactly
 *	  the columns, with the types, the extension's scripts gave it;
 *	- it is not a Citus table (citus.c), unless lockable.distribute()
 *	  distributed it (hash on uid, the two tables colocated); its rows are
 *	  then in shards, each verified as well (TrustCitusShard): a shard of
 *	  the table, in the same schema, with the same owner and columns;
 *	- it has no enabled BEFORE ROW trigger, and no trigger whose function is
 *	  not a superuser's (table_write.c).
 *
 * Roles.  A role "may use lockable" if it may call lockable.lock_acquire:
 * from 1.4 EXECUTE is granted to lockable_user, not PUBLIC.  The
 * enforce_lock trigger acts on a lock row only for a table whose owner may
 * (RoleMayUseLockable), so that a role no one granted lockable cannot make
 * the trigger share-lock, and so freeze, another owner's lock row.
 *
 * Invariant: a relation OID in the trusted cache passed these checks, and
 * nothing that could change their outcome for that OID has happened since
 * without an invalidation reaching this backend: DROP, ALTER TABLE and
 * CREATE TRIGGER send a relcache invalidation for the table, and a change
 * of the schema's owner or privileges a catalog invalidation, which clears
 * the whole cache, as does any change of a function (a trigger function's
 * new owner).  (A superuser's ALTER EXTENSION ... DROP TABLE is seen at the
 * table's next invalidation.)  Everything fails closed: an error
 * names what is wrong and nothing is written.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/trust.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_sequence.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "citus.h"
#include "table_write.h"

/*
 * Relations verified since their last relcache invalidation, and whether
 * each is distributed by Citus (lockable.distribute()).  Room for every
 * shard of both tables a worker may hold.
 */
#define MAX_TRUSTED_RELATIONS 256

typedef struct TrustedRelation
{
	Oid			relid;
	bool		distributed;
} TrustedRelation;

static TrustedRelation trusted[MAX_TRUSTED_RELATIONS];
static bool callbacks_registered = false;

static void
ForgetTrustedRelation(Datum arg, Oid relid)
{
	for (int i = 0; i < MAX_TRUSTED_RELATIONS; i++)
		if (relid == InvalidOid || trusted[i].relid == relid)
			trusted[i].relid = InvalidOid;
}

static void
ForgetAllTrusted(Datum arg, int cacheid, uint32 hashvalue)
{
	ForgetTrustedRelation(arg, InvalidOid);
}

static TrustedRelation *
FindTrusted(Oid relid)
{
	for (int i = 0; i < MAX_TRUSTED_RELATIONS; i++)
		if (trusted[i].relid == relid)
			return &trusted[i];
	return NULL;
}

static bool
IsTrusted(Oid relid)
{
	return FindTrusted(relid) != NULL;
}

static void
RememberTrusted(Oid relid, bool distributed)
{
	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(ForgetTrustedRelation, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, ForgetAllTrusted, (Datum) 0);
		/* a trigger function that changed owner (see table_write.c) */
		CacheRegisterSyscacheCallback(PROCOID, ForgetAllTrusted, (Datum) 0);
		callbacks_registered = true;
	}
	for (int i = 0; i < MAX_TRUSTED_RELATIONS; i++)
		if (!OidIsValid(trusted[i].relid))
		{
			trusted[i].relid = relid;
			trusted[i].distributed = distributed;
			return;
		}
	/* Full: replace the entries in turn; an evicted one is verified again. */
	{
		static int	victim = 0;

		trusted[victim].relid = relid;
		trusted[victim].distributed = distributed;
		victim = (victim + 1) % MAX_TRUSTED_RELATIONS;
	}
}

/*
 * LockableExtension
 *		The OID of extension "lockable" and, in *schema, its schema.
 */
static Oid
LockableExtension(Oid *schema)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	Oid			extoid = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("lockable"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_extension ext = (Form_pg_extension) GETSTRUCT(tuple);

		extoid = ext->oid;
		*schema = ext->extnamespace;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"lockable\" is not installed in this database")));
	return extoid;
}

/*
 * CheckSchemaTrusted
 *		Refuse the extension's schema unless a superuser owns it and no
 *		role but a superuser may create objects in it.
 */
static void
CheckSchemaTrusted(Oid schema)
{
	HeapTuple	tuple;
	Form_pg_namespace nsp;
	char	   *nspname;
	Datum		acldatum;
	bool		isnull;

	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(schema));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for schema %u", schema);
	nsp = (Form_pg_namespace) GETSTRUCT(tuple);
	nspname = pstrdup(NameStr(nsp->nspname));

	if (!superuser_arg(nsp->nspowner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schema \"%s\" of extension \"lockable\" is owned by role \"%s\", which is not a superuser",
						nspname, GetUserNameFromId(nsp->nspowner, false)),
				 errdetail("A role that controls the schema can replace the tables the extension's SECURITY DEFINER functions use."),
				 errhint("Drop the schema and create the extension again, so that CREATE EXTENSION creates the schema itself.")));

	acldatum = SysCacheGetAttr(NAMESPACEOID, tuple, Anum_pg_namespace_nspacl,
							   &isnull);
	if (!isnull)
	{
		Acl		   *acl = DatumGetAclP(acldatum);

		/*
		 * ACL_DAT, written for arrays that may have nulls, trips
		 * -Wsign-compare; an aclitem[] never has nulls, so its items start
		 * right after the one-dimension header.
		 */
		AclItem    *item;

		Assert(!ARR_HASNULL(acl) && ARR_NDIM(acl) == 1);
		item = (AclItem *) ((char *) acl + ARR_OVERHEAD_NONULLS(1));

		for (int i = 0; i < ACL_NUM(acl); i++)
		{
			Oid			grantee = item[i].ai_grantee;

			if ((ACLITEM_GET_PRIVS(item[i]) & ACL_CREATE) == 0 ||
				grantee == nsp->nspowner ||
				(grantee != ACL_ID_PUBLIC && superuser_arg(grantee)))
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 grantee == ACL_ID_PUBLIC ?
					 errmsg("schema \"%s\" of extension \"lockable\" grants CREATE to PUBLIC",
							nspname) :
					 errmsg("schema \"%s\" of extension \"lockable\" grants CREATE to role \"%s\", which is not a superuser",
							nspname, GetUserNameFromId(grantee, false)),
					 errdetail("A role that can create objects in the schema can put objects where the extension's SECURITY DEFINER functions look for their own."),
					 errhint("Revoke CREATE on the schema from every role that is not a superuser.")));
		}
	}
	ReleaseSysCache(tuple);
}

/*
 * CheckColumns
 *		Fill attnums[i] with the attribute number of columns[i]
 *		(InvalidAttrNumber for an optional column that is absent): columns
 *		added by ALTER TABLE land after any dropped ones, so positions are
 *		looked up, never assumed.  Unless trusted, also verify that every
 *		column exists with its type, unless it is marked optional, and that
 *		the table has no other column that is not dropped.
 */
static void
CheckColumns(Relation rel, const char *relname, bool trusted,
			 const ExpectedColumn *columns, int ncolumns, AttrNumber *attnums)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);

	/* Cheap enough to do every time: a name comparison per column. */
	for (int i = 0; i < ncolumns; i++)
		attnums[i] = InvalidAttrNumber;
	for (int a = 0; a < tupdesc->natts; a++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, a);
		int			i;

		if (attr->attisdropped)
			continue;
		for (i = 0; i < ncolumns; i++)
			if (strcmp(NameStr(attr->attname), columns[i].name) == 0)
				break;
		if (trusted)
		{
			if (i < ncolumns)
				attnums[i] = attr->attnum;
			continue;
		}
		if (i == ncolumns)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" has column \"%s\", which the extension did not create",
							relname, NameStr(attr->attname)),
					 errhint("Drop the column; the lock functions write every column of the table.")));
		if (attr->atttypid != columns[i].typid)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of table \"%s\" is of type %s, not %s",
							columns[i].name, relname,
							format_type_be(attr->atttypid),
							format_type_be(columns[i].typid))));
		attnums[i] = attr->attnum;
	}
	if (!trusted)
		for (int i = 0; i < ncolumns; i++)
			if (attnums[i] == InvalidAttrNumber && !columns[i].optional)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("table \"%s\" has no column \"%s\"",
								relname, columns[i].name)));
}

/*
 * CheckHeap
 *		Refuse rel unless it is a plain heap table.
 */
static void
CheckHeap(Relation rel, const char *relname)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->rd_rel->relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" is not a heap table", relname),
				 errdetail("The lock functions read and write it as a plain table with the heap access method.")));
}

/*
 * TrustExtensionTable
 *		Verify, once per relcache generation, that rel is a table extension
 *		"lockable" created (see the file header) with the given columns
 *		(CheckColumns), and fill attnums.  Returns whether Citus distributes
 *		it, as lockable.distribute() does (any other distribution is
 *		refused): its rows are then in shards, which TrustCitusShard
 *		verifies.
 */
bool
TrustExtensionTable(Relation rel, const ExpectedColumn *columns,
					int ncolumns, AttrNumber *attnums)
{
	Oid			relid = RelationGetRelid(rel);
	TrustedRelation *entry = FindTrusted(relid);
	bool		distributed = false;
	char	   *relname = NULL;

	if (entry == NULL)
	{
		Oid			schema;
		Oid			extoid = LockableExtension(&schema);

		CheckSchemaTrusted(schema);
		relname = psprintf("%s.%s",
						   get_namespace_name(RelationGetNamespace(rel)),
						   RelationGetRelationName(rel));

		if (RelationGetNamespace(rel) != schema ||
			getExtensionOfObject(RelationRelationId, relid) != extoid)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("relation \"%s\" is not a member of extension \"lockable\"",
							relname),
					 errdetail("The lock functions use only the tables that the extension's scripts created; this one was replaced."),
					 errhint("Drop the relation and restore the extension's own (for example with DROP EXTENSION and CREATE EXTENSION).")));
		CheckHeap(rel, relname);
		if (OidIsValid(CitusTableOf(rel)))
		{
			CitusCheckDistributedByUid(rel);
			distributed = true;
		}
	}
	else
		distributed = entry->distributed;

	CheckColumns(rel, relname, entry != NULL, columns, ncolumns, attnums);
	if (entry == NULL)
		RememberTrusted(relid, distributed);

	WriteTableCheckTriggers(rel);
	return distributed;
}

/*
 * TrustCitusShard
 *		Verify, once per relcache generation, that shard is a shard of
 *		"table", one of the extension's tables that Citus distributes:
 *		pg_dist_shard says so, it lives in the extension's schema (where
 *		only a superuser can create anything), has the table's owner, is a
 *		heap table and has the expected columns.  Fills attnums as
 *		TrustExtensionTable does.
 */
void
TrustCitusShard(Relation shard, Relation table,
				const ExpectedColumn *columns, int ncolumns,
				AttrNumber *attnums)
{
	Oid			relid = RelationGetRelid(shard);
	bool		known = IsTrusted(relid);
	char	   *relname = NULL;

	if (!known)
	{
		relname = psprintf("%s.%s",
						   get_namespace_name(RelationGetNamespace(shard)),
						   RelationGetRelationName(shard));
		if (RelationGetNamespace(shard) != RelationGetNamespace(table) ||
			shard->rd_rel->relowner != table->rd_rel->relowner ||
			CitusTableOf(shard) != RelationGetRelid(table))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("relation \"%s\" is not a shard of table \"%s\"",
							relname, RelationGetRelationName(table)),
					 errdetail("The lock functions use only the shards Citus made of the extension's own tables.")));
		CheckHeap(shard, relname);
	}
	CheckColumns(shard, relname, known, columns, ncolumns, attnums);
	if (!known)
		RememberTrusted(relid, false);
	WriteTableCheckTriggers(shard);
}

/*
 * TrustExtensionSequence
 *		Verify that relid is a sequence that is a member of the extension,
 *		and caches no more than one value: with CACHE above 1 each backend
 *		draws from a range of its own, so a later grant could get a smaller
 *		token than an earlier one.
 */
void
TrustExtensionSequence(Oid relid)
{
	Oid			schema;
	Oid			extoid;

	if (IsTrusted(relid))
		return;
	extoid = LockableExtension(&schema);
	if (get_rel_relkind(relid) != RELKIND_SEQUENCE ||
		get_rel_namespace(relid) != schema ||
		getExtensionOfObject(RelationRelationId, relid) != extoid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" is not a member of extension \"lockable\"",
						get_rel_name(relid)),
				 errdetail("Fencing tokens come only from the sequence the extension's scripts created; this one was replaced.")));
	{
		HeapTuple	tuple = SearchSysCache1(SEQRELID, ObjectIdGetDatum(relid));
		int64		cache;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for sequence %u", relid);
		cache = ((Form_pg_sequence) GETSTRUCT(tuple))->seqcache;
		ReleaseSysCache(tuple);
		if (cache != 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("sequence \"lockable.%s\" caches " INT64_FORMAT " values", get_rel_name(relid), cache),
					 errdetail("With CACHE above 1 every backend draws tokens from a range of its own, so a later grant could get a smaller token than an earlier one."),
					 errhint("ALTER SEQUENCE lockable.%s CACHE 1.", get_rel_name(relid))));
	}
	RememberTrusted(relid, false);
}

/*
 * RoleMayUseLockable
 *		Whether role may EXECUTE lockable.lock_acquire (any of its
 *		signatures: the catalog of 1.0 and 1.1 has the four-argument one).
 *		Superusers may.
 */
bool
RoleMayUseLockable(Oid role)
{
	Oid			schema = get_namespace_oid("lockable", true);
	CatCList   *list;
	bool		may = false;

	if (superuser_arg(role))
		return true;
	if (!OidIsValid(schema))
		return false;
	list = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum("lock_acquire"));
	for (int i = 0; i < list->n_members && !may; i++)
	{
		HeapTuple	tuple = &list->members[i]->tuple;
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);

		if (proc->pronamespace == schema)
			may = FunctionExecutableBy(proc->oid, role);
	}
	ReleaseSysCacheList(list);
	return may;
}

/*
 * TrustExtensionSchema
 *		Verify the extension's schema (see the file header); returns it.
 */
Oid
TrustExtensionSchema(void)
{
	Oid			schema;

	(void) LockableExtension(&schema);
	CheckSchemaTrusted(schema);
	return schema;
}
