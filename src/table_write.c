/*-------------------------------------------------------------------------
 *
 * table_write.c
 *	  Writing rows of lockable's own tables the way the executor writes
 *	  them (see table_write.h for the protocol).
 *
 * This is the executor-lite path of execReplication.c, cut to what a
 * compare-and-set needs: the caller has already read the row version it
 * wants to change, so there is no search here and no tuple lock before the
 * write; table_tuple_update and table_tuple_delete themselves wait for a
 * concurrent writer and report whether the version is still the latest.
 * What the apply worker does around the heap change, this does too:
 *
 *	- constraints: ExecConstraints, so that a CHECK constraint a DBA adds
 *	  holds for the functions' writes as for anyone's;
 *	- indexes: ExecOpenIndices and ExecInsertIndexTuples over the table's
 *	  whole index list, so every index gets its entry, including one that
 *	  CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY is building
 *	  (indisready), and a HOT update adds none;
 *	- replica identity: CheckCmdReplicaIdentity, as UPDATE and DELETE do;
 *	- triggers: AFTER ROW triggers fire, in their own trigger query level,
 *	  before the write returns, with the updated columns known, so that an
 *	  "AFTER UPDATE OF owner" trigger fires exactly when owner is written.
 *	  Statement triggers do not fire, as for the apply worker.
 *
 * The executor state is built on the first write of a call, not when the
 * table is opened, so that a call that only reads (a refusal, a look-up)
 * costs nothing here.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/table_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "table_write.h"

#include "access/heapam.h"
#include "access/sysattr.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/bitmapset.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/*
 * FunctionOwner
 *		The owner of a function, or InvalidOid if it is gone.
 */
static Oid
FunctionOwner(Oid funcid)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	owner = ((Form_pg_proc) GETSTRUCT(tuple))->proowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * WriteTableCheckTriggers
 *		Refuse a table with an enabled BEFORE ROW trigger.  Such a trigger
 *		could change or skip a write after the compare-and-set decided it,
 *		so the invariants of the lock functions would no longer hold.
 *
 *		Refuse, too, an enabled trigger whose function a superuser does not
 *		own.  The lock functions are SECURITY DEFINER, so the AFTER ROW
 *		triggers they fire run as the extension's owner, at any user's next
 *		lock call: a role that could create such a trigger (TRIGGER on the
 *		table) or change its function (owning it) would run code as a
 *		superuser.  A DBA's audit trigger, pg_repack's capture trigger and
 *		foreign-key triggers have functions a superuser owns.
 */
void
WriteTableCheckTriggers(Relation rel)
{
	TriggerDesc *trigdesc = rel->trigdesc;

	if (trigdesc == NULL)
		return;
	for (int i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &trigdesc->triggers[i];
		Oid			funcowner;

		if (trigger->tgenabled == TRIGGER_DISABLED)
			continue;
		funcowner = FunctionOwner(trigger->tgfoid);
		if (!OidIsValid(funcowner) || !superuser_arg(funcowner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("table \"%s.%s\" has trigger \"%s\" whose function is not owned by a superuser",
							get_namespace_name(RelationGetNamespace(rel)),
							RelationGetRelationName(rel), trigger->tgname),
					 errdetail("The lockable functions run as the extension's owner, and so would the trigger function %s, owned by role \"%s\".",
							   format_procedure(trigger->tgfoid),
							   OidIsValid(funcowner) ? GetUserNameFromId(funcowner, true) : "?"),
					 errhint("Drop or disable the trigger, or have a superuser own its function.")));

		if (TRIGGER_FOR_ROW(trigger->tgtype) &&
			!TRIGGER_FOR_AFTER(trigger->tgtype) &&
			trigger->tgenabled != TRIGGER_DISABLED)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s.%s\" has BEFORE ROW trigger \"%s\"",
							get_namespace_name(RelationGetNamespace(rel)),
							RelationGetRelationName(rel), trigger->tgname),
					 errdetail("The lockable functions decide each write from the row they read; a BEFORE ROW trigger could change or skip it."),
					 errhint("Use an AFTER ROW trigger to audit the table, or disable the trigger.")));
	}
}

/*
 * WriteTableBegin
 *		Prepare to write rel, which the caller has opened with
 *		RowExclusiveLock and keeps open until after WriteTableEnd.
 */
void
WriteTableBegin(WriteTable *wt, Relation rel)
{
	memset(wt, 0, sizeof(WriteTable));
	wt->rel = rel;
}

/*
 * StartExecutor
 *		Build the executor state for the first write: a one-entry range
 *		table for rel (which trigger firing and error reports read), its
 *		ResultRelInfo and a slot for the new row.
 */
static void
StartExecutor(WriteTable *wt)
{
	Relation	rel = wt->rel;
	EState	   *estate;
	RangeTblEntry *rte;
	MemoryContext oldcontext;

	if (wt->estate != NULL)
		return;

	estate = CreateExecutorState();
	oldcontext = MemoryContextSwitchTo(estate->es_query_cxt);

	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitSingleRelationRangeTable(estate, rte,
									 ACL_INSERT | ACL_UPDATE | ACL_DELETE);

	wt->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(wt->rri, rel, 1, NULL, 0);
	estate->es_opened_result_relations =
		lappend(estate->es_opened_result_relations, wt->rri);

	wt->slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel),
									  &TTSOpsHeapTuple);
	MemoryContextSwitchTo(oldcontext);
	wt->estate = estate;
}

/*
 * SetWrittenColumns
 *		Record which columns the next write changes (attribute numbers,
 *		1-based), as UPDATE's range table entry would: column-specific
 *		triggers and error reports read it.
 */
static void
SetWrittenColumns(WriteTable *wt, int ncols, const int *cols)
{
	Bitmapset  *columns = NULL;
	MemoryContext oldcontext = MemoryContextSwitchTo(wt->estate->es_query_cxt);

	for (int i = 0; i < ncols; i++)
		columns = bms_add_member(columns,
								 cols[i] - FirstLowInvalidHeapAttributeNumber);
	SetSingleRelationUpdatedCols(wt->estate, columns);
	MemoryContextSwitchTo(oldcontext);
}

static void
OpenIndexes(WriteTable *wt)
{
	if (!wt->indexes_open)
	{
		ExecOpenIndices(wt->rri, false);
		wt->indexes_open = true;
	}
}

/*
 * InsertIndexEntries
 *		Index entries for the row in wt->slot, in every index that is ready
 *		for inserts; "update" says it is a new version of an existing row
 *		(which lets btree delete the older versions' entries bottom-up),
 *		"summarizing_only" that a HOT update needs entries in summarizing
 *		indexes (BRIN) only.
 */
static List *
InsertIndexEntries(WriteTable *wt, bool update, bool summarizing_only)
{
	OpenIndexes(wt);
	if (wt->rri->ri_NumIndices == 0)
		return NIL;
	return ExecInsertIndexTuples_compat(wt->rri, wt->slot, wt->estate, update,
										summarizing_only);
}

static void
CheckResult(WriteTable *wt, TM_Result result, const char *what)
{
	switch (result)
	{
		case TM_Ok:
		case TM_Updated:
		case TM_Deleted:
		case TM_BeingModified:
			return;
		default:
			elog(ERROR, "unexpected %s result %d in table \"%s\"",
				 what, (int) result, RelationGetRelationName(wt->rel));
	}
}

/*
 * WriteTableUpdate
 *		Replace the row version at otid with newtuple, in which columns
 *		"cols" changed.  Returns TM_Ok when written; TM_Updated or
 *		TM_Deleted when a committed transaction changed the row first (or,
 *		with a crosscheck snapshot, changed it after that snapshot);
 *		TM_BeingModified when !wait and a transaction is changing it now.
 *		Only on TM_Ok were indexes and triggers touched.
 */
TM_Result
WriteTableUpdate(WriteTable *wt, ItemPointer otid, HeapTuple newtuple,
				 int ncols, const int *cols, bool wait, Snapshot crosscheck)
{
	Relation	rel = wt->rel;
	TriggerDesc *trigdesc = rel->trigdesc;
	bool		fire = trigdesc != NULL && trigdesc->trig_update_after_row;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	TM_Result	result;
	bool		need_index;
	bool		summarizing_only;

	StartExecutor(wt);
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	SetWrittenColumns(wt, ncols, cols);
	ExecStoreHeapTuple(newtuple, wt->slot, false);
	if (rel->rd_att->constr)
		ExecConstraints(wt->rri, wt->slot, wt->estate);

	if (fire)
		AfterTriggerBeginQuery();

	result = table_tuple_update_compat(rel, otid, wt->slot,
									   GetCurrentCommandId(true), crosscheck,
									   wait, &tmfd, &lockmode, &need_index,
									   &summarizing_only);
	CheckResult(wt, result, "update");

	if (result == TM_Ok)
	{
		List	   *recheck = NIL;

		if (need_index)
			recheck = InsertIndexEntries(wt, true, summarizing_only);
		if (fire)
			ExecARUpdateTriggers(wt->estate, wt->rri, NULL, NULL, otid, NULL,
								 wt->slot, recheck, NULL, false);
		list_free(recheck);
	}

	if (fire)
		AfterTriggerEndQuery(wt->estate);
	ExecClearTuple(wt->slot);
	return result;
}

/*
 * WriteTableDelete
 *		Delete the row version at tid; results as for WriteTableUpdate.
 */
TM_Result
WriteTableDelete(WriteTable *wt, ItemPointer tid, bool wait,
				 Snapshot crosscheck)
{
	Relation	rel = wt->rel;
	TriggerDesc *trigdesc = rel->trigdesc;
	bool		fire = trigdesc != NULL && trigdesc->trig_delete_after_row;
	TM_FailureData tmfd;
	TM_Result	result;

	StartExecutor(wt);
	CheckCmdReplicaIdentity(rel, CMD_DELETE);

	if (fire)
		AfterTriggerBeginQuery();
	result = table_tuple_delete(rel, tid, GetCurrentCommandId(true),
								InvalidSnapshot, crosscheck, wait, &tmfd,
								false);
	CheckResult(wt, result, "delete");
	if (result == TM_Ok && fire)
		ExecARDeleteTriggers(wt->estate, wt->rri, tid, NULL, NULL, false);
	if (fire)
		AfterTriggerEndQuery(wt->estate);
	return result;
}

/*
 * WriteTableInsert
 *		Insert tuple.  Unique indexes are checked as INSERT checks them (a
 *		duplicate is an error): the callers insert only what their
 *		compare-and-set on another row made unique.
 */
void
WriteTableInsert(WriteTable *wt, HeapTuple tuple)
{
	Relation	rel = wt->rel;
	TriggerDesc *trigdesc = rel->trigdesc;
	bool		fire = trigdesc != NULL && trigdesc->trig_insert_after_row;
	List	   *recheck;

	StartExecutor(wt);
	ExecStoreHeapTuple(tuple, wt->slot, false);
	if (rel->rd_att->constr)
		ExecConstraints(wt->rri, wt->slot, wt->estate);

	if (fire)
		AfterTriggerBeginQuery();
	table_tuple_insert(rel, wt->slot, GetCurrentCommandId(true), 0, NULL);
	recheck = InsertIndexEntries(wt, false, false);
	if (fire)
		ExecARInsertTriggers(wt->estate, wt->rri, wt->slot, recheck, NULL);
	list_free(recheck);
	if (fire)
		AfterTriggerEndQuery(wt->estate);
	ExecClearTuple(wt->slot);
}

/*
 * WriteTableEnd
 *		Close the indexes a write opened and free the executor state.
 */
void
WriteTableEnd(WriteTable *wt)
{
	if (wt->estate == NULL)
		return;
	if (wt->indexes_open)
		ExecCloseIndices(wt->rri);
	ExecResetTupleTable(wt->estate->es_tupleTable, false);
	FreeExecutorState(wt->estate);
	wt->estate = NULL;
	wt->indexes_open = false;
}

/*
 * WriteTableSerializationFailure
 *		The error of a REPEATABLE READ or SERIALIZABLE write whose row was
 *		changed after the transaction's snapshot, worded as PostgreSQL's own.
 */
void
WriteTableSerializationFailure(TM_Result result)
{
	if (result == TM_Deleted)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent delete")));
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent update")));
}

/*
 * WriteTableForget
 *		Drop the executor state without releasing anything: the
 *		subtransaction it was built in was rolled back, and its resource
 *		owner released the pins.  The memory goes with the caller's context.
 */
void
WriteTableForget(WriteTable *wt)
{
	wt->estate = NULL;
	wt->rri = NULL;
	wt->slot = NULL;
	wt->indexes_open = false;
}
