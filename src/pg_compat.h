/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  Every difference between the PostgreSQL versions lockable builds
 *	  against, written once.
 *
 * lockable is built and tested on PostgreSQL 15, 17 and 18 (README,
 * "Supported versions"); 16 lies between them and is covered by the same
 * branches, checked by reading only.  Each difference is a macro or a small
 * inline function named for what it does, with the release that made the
 * change in a comment, so that the code that uses it reads as if there were
 * one PostgreSQL.  A new version's change belongs here, not in a function
 * body.
 *
 * Included by lockable.h and table_write.h, right after postgres.h.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/pg_compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_COMPAT_H
#define PG_COMPAT_H

#include "postgres.h"

#include "access/genam.h"
#include "access/tableam.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "storage/proc.h"
#include "catalog/pg_proc.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/relcache.h"

#if PG_VERSION_NUM < 150000
#error "lockable needs PostgreSQL 15 or later"
#endif

/*
 * 18 replaced pg_attribute_noreturn(), written after a declaration, with
 * pg_noreturn, written before it (C11 _Noreturn).  Before 18, the GCC-style
 * attribute is accepted in front of the declaration too.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* 17 moved a backend's local transaction id into MyProc->vxid. */
#if PG_VERSION_NUM >= 170000
#define MyLocalTransactionId() (MyProc->vxid.lxid)
#else
#define MyLocalTransactionId() (MyProc->lxid)
#endif

/*
 * 18: index_beginscan takes an IndexScanInstrumentation, for EXPLAIN;
 * lockable's own scans report nothing.
 */
#if PG_VERSION_NUM >= 180000
#define index_beginscan_compat(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, NULL, nkeys, norderbys)
#else
#define index_beginscan_compat(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, nkeys, norderbys)
#endif

/*
 * 18: RelationGetPrimaryKeyIndex says whether a deferrable primary key may
 * be returned.  lockable creates its keys immediate, and a deferrable one
 * could not serve INSERT ... ON CONFLICT: it counts as no key, which the
 * callers refuse.
 */
#if PG_VERSION_NUM >= 180000
#define RelationGetPrimaryKeyIndex_compat(rel) \
	RelationGetPrimaryKeyIndex(rel, false)
#else
#define RelationGetPrimaryKeyIndex_compat(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * RelationOwnedBy
 *		Whether role owns the relation: 16 made ownership checks generic
 *		(object_ownercheck).
 */
static inline bool
RelationOwnedBy(Oid relid, Oid role)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, role);
#else
	return pg_class_ownercheck(relid, role);
#endif
}

/*
 * FunctionExecutableBy
 *		Whether role may EXECUTE the function: 16 made privilege checks
 *		generic (object_aclcheck).
 */
static inline bool
FunctionExecutableBy(Oid funcid, Oid role)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, funcid, role, ACL_EXECUTE) == ACLCHECK_OK;
#else
	return pg_proc_aclcheck(funcid, role, ACL_EXECUTE) == ACLCHECK_OK;
#endif
}

/*
 * GucExtraAlloc
 *		Memory for a GUC's "extra" value, from the allocator guc.c frees it
 *		with: free() up to 15, guc_free() of its own context from 16.  NULL
 *		(and a LOG message from 16) when out of memory, which a check hook
 *		reports as a failed check.
 */
static inline void *
GucExtraAlloc(size_t size)
{
#if PG_VERSION_NUM >= 160000
	return guc_malloc(LOG, size);
#else
	return malloc(size);
#endif
}

/*
 * ExecInitSingleRelationRangeTable
 *		Give estate a range table of one relation entry, rte, needing perms.
 *		16 moved the required permissions out of the entry into an
 *		RTEPermissionInfo; 18 added the set of entries that survived initial
 *		pruning, which for a one-relation table is that relation.
 */
static inline void
ExecInitSingleRelationRangeTable(EState *estate, RangeTblEntry *rte,
								 AclMode perms)
{
#if PG_VERSION_NUM >= 160000
	RTEPermissionInfo *perminfo = makeNode(RTEPermissionInfo);

	perminfo->relid = rte->relid;
	perminfo->requiredPerms = perms;
	rte->perminfoindex = 1;
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, list_make1(rte), list_make1(perminfo),
					   bms_make_singleton(1));
#else
	ExecInitRangeTable(estate, list_make1(rte), list_make1(perminfo));
#endif
#else
	rte->requiredPerms = perms;
	ExecInitRangeTable(estate, list_make1(rte));
#endif
}

/*
 * SetSingleRelationUpdatedCols
 *		Record, for the range table built above, which columns the next
 *		write changes (column-specific triggers read it): on the permission
 *		entry from 16, on the range table entry before.
 */
static inline void
SetSingleRelationUpdatedCols(EState *estate, Bitmapset *columns)
{
#if PG_VERSION_NUM >= 160000
	((RTEPermissionInfo *) linitial(estate->es_rteperminfos))->updatedCols = columns;
#else
	exec_rt_fetch(1, estate)->updatedCols = columns;
#endif
}

/*
 * ExecInsertIndexTuples_compat
 *		Index entries for slot's row; from 16 a HOT update may still need
 *		entries in summarizing indexes (BRIN) only, which 15 never asks for.
 */
static inline List *
ExecInsertIndexTuples_compat(ResultRelInfo *rri, TupleTableSlot *slot,
							 EState *estate, bool update,
							 bool summarizing_only)
{
#if PG_VERSION_NUM >= 160000
	return ExecInsertIndexTuples(rri, slot, estate, update, false, NULL, NIL,
								 summarizing_only);
#else
	Assert(!summarizing_only);
	return ExecInsertIndexTuples(rri, slot, estate, update, false, NULL, NIL);
#endif
}

/*
 * table_tuple_update_compat
 *		table_tuple_update, saying whether the new version needs index
 *		entries and whether only summarizing ones (16 turned the boolean
 *		into TU_UpdateIndexes).
 */
static inline TM_Result
table_tuple_update_compat(Relation rel, ItemPointer otid,
						  TupleTableSlot *slot, CommandId cid,
						  Snapshot crosscheck, bool wait,
						  TM_FailureData *tmfd, LockTupleMode *lockmode,
						  bool *need_index, bool *summarizing_only)
{
	TM_Result	result;
#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes;

	result = table_tuple_update(rel, otid, slot, cid, InvalidSnapshot,
								crosscheck, wait, tmfd, lockmode,
								&update_indexes);
	*need_index = (update_indexes != TU_None);
	*summarizing_only = (update_indexes == TU_Summarizing);
#else
	result = table_tuple_update(rel, otid, slot, cid, InvalidSnapshot,
								crosscheck, wait, tmfd, lockmode, need_index);
	*summarizing_only = false;
#endif
	return result;
}

#endif							/* PG_COMPAT_H */
