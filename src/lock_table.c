/*-------------------------------------------------------------------------
 *
 * lock_table.c
 *	  The storage of lockable.locks (see lock_table.h for the protocol).
 *
 * The per-uid paths (peek, then update the version seen) read the primary
 * key and write through table_write.c: they are the hot path of every
 * caller, and planning and executing a statement for each cost as much as
 * the work itself.  The rare and set-oriented writes (the first INSERT of
 * a uid, lock_release_all, lock_sweep) run SQL through SPI plans prepared
 * once per backend, with every name schema-qualified; the executor then
 * maintains the table as it would for any statement.
 *
 * The table is looked up by name on every call (syscache probes, next to
 * nothing) and verified by trust.c, whose result is cached until the table
 * changes; so DROP and CREATE EXTENSION in a long-lived backend, a table
 * rewrite by pg_repack or VACUUM FULL, and a replaced table all take
 * effect at the next call.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/lock_table.c
 *
 *-------------------------------------------------------------------------
 */
#include "lock_table.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* The columns of lockable.locks, as lockable--1.0.sql created them. */
static const ExpectedColumn locks_columns[NUM_LOCK_COLUMNS] = {
	[LOCK_UID] = {"uid", TEXTOID, false},
	[LOCK_OWNER] = {"owner", TEXTOID, false},
	[LOCK_TOKEN] = {"token", INT8OID, false},
	[LOCK_ACQUIRED_AT] = {"acquired_at", TIMESTAMPTZOID, false},
	[LOCK_EXPIRES_AT] = {"expires_at", TIMESTAMPTZOID, false},
};

/*---- Prepared statements ----*/

/*
 * The statements run through SPI.  Their plans are prepared on first use and
 * kept for the life of the backend.  The functions run with search_path
 * pinned to pg_catalog, and every object is schema-qualified.
 */
typedef enum LockStatement
{
	STMT_INSERT,
	STMT_RELEASE_ALL,
	STMT_SWEEP,
	NUM_LOCK_STATEMENTS
} LockStatement;

typedef struct LockStatementDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[4];
} LockStatementDef;

static const LockStatementDef lock_statements[NUM_LOCK_STATEMENTS] = {
	/* $1 uid, $2 owner, $3 now, $4 expiry */
	[STMT_INSERT] = {
		"INSERT INTO lockable.locks (uid, owner, token, acquired_at, expires_at)"
		" VALUES ($1, $2, pg_catalog.nextval('lockable.token_seq'), $3, $4)"
		" ON CONFLICT (uid) DO NOTHING RETURNING token",
		4, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	/* $1 owner, $2 now */
	[STMT_RELEASE_ALL] = {
		"UPDATE lockable.locks SET owner = NULL, expires_at = $2"
		" WHERE owner OPERATOR(pg_catalog.=) $1"
		"   AND expires_at OPERATOR(pg_catalog.>) $2"
		" RETURNING uid, token",
		2, {TEXTOID, TIMESTAMPTZOID}
	},
	/* $1 cutoff: a lock that ended at or before it is deleted */
	[STMT_SWEEP] = {
		"DELETE FROM lockable.locks WHERE expires_at OPERATOR(pg_catalog.<=) $1",
		1, {TIMESTAMPTZOID}
	},
};

static SPIPlanPtr lock_plans[NUM_LOCK_STATEMENTS];

/*
 * RunStatement
 *		Execute one of the prepared statements inside the caller's SPI
 *		connection; returns the number of rows processed.
 *
 * Under REPEATABLE READ or SERIALIZABLE, read the latest committed state and
 * cross-check writes against the transaction snapshot, so that a row changed
 * since the snapshot raises a serialization failure instead of being
 * silently judged on stale data.
 */
static uint64
RunStatement(LockStatement stmt, Datum *values)
{
	Snapshot	snapshot = InvalidSnapshot;
	Snapshot	crosscheck = InvalidSnapshot;
	int			rc;

	if (lock_plans[stmt] == NULL)
	{
		const LockStatementDef *def = &lock_statements[stmt];
		SPIPlanPtr	plan;

		plan = SPI_prepare(def->sql, def->nargs, (Oid *) def->argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 def->sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		lock_plans[stmt] = plan;
	}

	if (IsolationUsesXactSnapshot())
	{
		CommandCounterIncrement();
		snapshot = GetLatestSnapshot();
		crosscheck = GetTransactionSnapshot();
	}

	rc = SPI_execute_snapshot(lock_plans[stmt], values, NULL,
							  snapshot, crosscheck, false, true, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_snapshot failed for \"%s\": %s",
			 lock_statements[stmt].sql, SPI_result_code_string(rc));
	return SPI_processed;
}

/*---- Opening the table ----*/

static Oid
LockableRelid(const char *relname, bool missing_ok)
{
	Oid			namespace = get_namespace_oid("lockable", missing_ok);
	Oid			relid = OidIsValid(namespace) ?
		get_relname_relid(relname, namespace) : InvalidOid;

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"lockable.%s\" does not exist", relname),
				 errhint("The extension's objects are missing; reinstall it with DROP EXTENSION and CREATE EXTENSION.")));
	return relid;
}

/*
 * LockTableExists
 *		Whether lockable.locks exists (it does not yet while the install
 *		script checks its schema).
 */
bool
LockTableExists(void)
{
	return OidIsValid(LockableRelid("locks", true));
}

/*
 * LockTableOpen
 *		Open and verify lockable.locks, its primary key and token sequence,
 *		for reading (AccessShareLock) or writing (RowExclusiveLock); the
 *		locks are held, as the executor holds them, until the end of the
 *		transaction.
 */
void
LockTableOpen(LockTable *table, bool write)
{
	LOCKMODE	lockmode = write ? RowExclusiveLock : AccessShareLock;
	Oid			relid = LockableRelid("locks", false);
	Oid			indexid;
	Form_pg_index index;

	memset(table, 0, sizeof(LockTable));
	table->token_seq = LockableRelid("token_seq", false);
	table->heap = table_open(relid, lockmode);
	TrustExtensionTable(table->heap, locks_columns, NUM_LOCK_COLUMNS,
						table->attnum);
	TrustExtensionSequence(table->token_seq);

	indexid = RelationGetPrimaryKeyIndex(table->heap);
	if (!OidIsValid(indexid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"lockable.locks\" has no primary key")));
	table->pkey = index_open(indexid, lockmode);
	index = table->pkey->rd_index;
	if (index->indnatts != 1 ||
		index->indkey.values[0] != table->attnum[LOCK_UID] ||
		table->pkey->rd_rel->relam != BTREE_AM_OID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the primary key of table \"lockable.locks\" is not a btree index on uid")));

	table->writing = write;
	if (write)
		WriteTableBegin(&table->writer, table->heap);
}

/*
 * LockTableClose
 *		Close what LockTableOpen opened (the relation locks stay).
 */
void
LockTableClose(LockTable *table)
{
	if (table->writing)
		WriteTableEnd(&table->writer);
	index_close(table->pkey, NoLock);
	table_close(table->heap, NoLock);
}

/*
 * LockTableFinishWrites
 *		Release what the writes so far pinned; the table stays open, and a
 *		later write builds its state again.  Writes made in a subtransaction
 *		are finished before it is released.
 */
void
LockTableFinishWrites(LockTable *table)
{
	if (table->writing)
		WriteTableEnd(&table->writer);
}

/*
 * LockTableForgetWrites
 *		After the subtransaction the writes were made in was rolled back.
 */
void
LockTableForgetWrites(LockTable *table)
{
	if (table->writing)
		WriteTableForget(&table->writer);
}

/*---- Reading ----*/

/*
 * LockRowRelease
 *		Free what a peek kept: the tuple copy and the snapshot.
 */
void
LockRowRelease(LockRow *row)
{
	if (row->snapshot != NULL)
		UnregisterSnapshot(row->snapshot);
	if (row->tuple != NULL)
		heap_freetuple(row->tuple);
	memset(row, 0, sizeof(LockRow));
}

/*
 * LockRowForgetSnapshot
 *		Let go of the peek's snapshot but keep what the peek saw.  Pass
 *		unregister = false only when the resource owner it was registered
 *		with has already released it (the subtransaction it was taken in
 *		was rolled back).
 */
void
LockRowForgetSnapshot(LockRow *row, bool unregister)
{
	if (row->snapshot != NULL && unregister)
		UnregisterSnapshot(row->snapshot);
	row->snapshot = NULL;
}

/*
 * LockTablePeek
 *		Read the row of uid, as the latest committed state and this
 *		transaction's own changes show it, without locking it (see the
 *		protocol in lock_table.h).  Releases what an earlier peek into the
 *		same LockRow kept.
 */
void
LockTablePeek(LockTable *table, text *uid, LockRow *row)
{
	TupleDesc	tupdesc = RelationGetDescr(table->heap);
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;

	LockRowRelease(row);

	CommandCounterIncrement();
	row->snapshot = RegisterSnapshot(GetLatestSnapshot());

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   table->pkey->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(uid));
	scan = index_beginscan(table->heap, table->pkey, row->snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(table->heap, NULL);

	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Datum	   *values = palloc(sizeof(Datum) * tupdesc->natts);
		bool	   *nulls = palloc(sizeof(bool) * tupdesc->natts);

		row->found = true;
		row->tuple = ExecCopySlotHeapTuple(slot);
		heap_deform_tuple(row->tuple, tupdesc, values, nulls);
#define COLUMN(c) (table->attnum[c] - 1)
		row->owner = nulls[COLUMN(LOCK_OWNER)] ? NULL :
			DatumGetTextPP(values[COLUMN(LOCK_OWNER)]);
		row->token = DatumGetInt64(values[COLUMN(LOCK_TOKEN)]);
		row->acquired_at = nulls[COLUMN(LOCK_ACQUIRED_AT)] ? 0 :
			DatumGetTimestampTz(values[COLUMN(LOCK_ACQUIRED_AT)]);
		row->expires_at = nulls[COLUMN(LOCK_EXPIRES_AT)] ? DT_NOBEGIN :
			DatumGetTimestampTz(values[COLUMN(LOCK_EXPIRES_AT)]);
#undef COLUMN
		pfree(values);
		pfree(nulls);
	}

	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
}

/*
 * LockRowIsLive
 *		A lock is live while it has an owner and its lease has not ended.
 */
bool
LockRowIsLive(const LockRow *row, TimestampTz now)
{
	return row->found && row->owner != NULL && row->expires_at > now;
}

/*---- Writing ----*/

/*
 * UpdateColumns
 *		Write a new version of the row version the last peek saw, with the
 *		given columns changed; see the protocol in lock_table.h for the
 *		results.
 */
static LockWriteResult
UpdateColumns(LockTable *table, LockRow *row, int ncols,
			  const LockColumn *columns, const Datum *values,
			  const bool *nulls, bool wait)
{
	Snapshot	crosscheck = InvalidSnapshot;
	int			attnums[NUM_LOCK_COLUMNS];
	HeapTuple	newtuple;
	TM_Result	result;

	Assert(table->writing && row->found && ncols <= NUM_LOCK_COLUMNS);
	PreventCommandIfReadOnly("UPDATE");
	if (IsolationUsesXactSnapshot())
		crosscheck = GetTransactionSnapshot();

	for (int i = 0; i < ncols; i++)
		attnums[i] = table->attnum[columns[i]];
	newtuple = heap_modify_tuple_by_cols(row->tuple,
										 RelationGetDescr(table->heap),
										 ncols, attnums,
										 (Datum *) values, (bool *) nulls);
	result = WriteTableUpdate(&table->writer, &row->tuple->t_self, newtuple,
							  ncols, attnums, wait, crosscheck);
	heap_freetuple(newtuple);

	/* The version seen has served its purpose: let the snapshot go. */
	LockRowForgetSnapshot(row, true);

	switch (result)
	{
		case TM_Ok:
			/* Later peeks in this transaction see the new version. */
			CommandCounterIncrement();
			return LOCK_WRITE_OK;
		case TM_BeingModified:
			return LOCK_WRITE_BUSY;
		default:
			if (IsolationUsesXactSnapshot())
				WriteTableSerializationFailure(result);
			return LOCK_WRITE_CHANGED;
	}
}

/*
 * LockTableGrant
 *		A fresh grant of the lock the last peek saw (free, released or
 *		expired) to owner, with a new token.  On LOCK_WRITE_OK, *row
 *		describes the grant.
 */
LockWriteResult
LockTableGrant(LockTable *table, LockRow *row, text *owner, int64 token,
			   TimestampTz now, TimestampTz expires, bool wait)
{
	LockColumn	columns[4] = {LOCK_OWNER, LOCK_TOKEN, LOCK_ACQUIRED_AT,
							  LOCK_EXPIRES_AT};
	Datum		values[4] = {
		PointerGetDatum(owner),
		Int64GetDatum(token),
		TimestampTzGetDatum(now),
		TimestampTzGetDatum(expires)
	};
	bool		nulls[4] = {false, false, false, false};
	LockWriteResult result;

	result = UpdateColumns(table, row, 4, columns, values, nulls, wait);
	if (result == LOCK_WRITE_OK)
	{
		row->owner = owner;
		row->token = token;
		row->acquired_at = now;
		row->expires_at = expires;
	}
	return result;
}

/*
 * LockTableRenew
 *		Move the expiry of the live lock the last peek saw; token and
 *		acquired_at stay.
 */
LockWriteResult
LockTableRenew(LockTable *table, LockRow *row, TimestampTz expires, bool wait)
{
	LockColumn	columns[1] = {LOCK_EXPIRES_AT};
	Datum		values[1] = {TimestampTzGetDatum(expires)};
	bool		nulls[1] = {false};
	LockWriteResult result;

	result = UpdateColumns(table, row, 1, columns, values, nulls, wait);
	if (result == LOCK_WRITE_OK)
		row->expires_at = expires;
	return result;
}

/*
 * LockTableEndLease
 *		Release the lock the last peek saw: no owner, and expires_at the
 *		moment of release.  The row keeps the last grant's token and owner in
 *		*row, for the caller's notification.
 */
LockWriteResult
LockTableEndLease(LockTable *table, LockRow *row, TimestampTz now, bool wait)
{
	LockColumn	columns[2] = {LOCK_OWNER, LOCK_EXPIRES_AT};
	Datum		values[2] = {(Datum) 0, TimestampTzGetDatum(now)};
	bool		nulls[2] = {true, false};

	return UpdateColumns(table, row, 2, columns, values, nulls, wait);
}

/*
 * LockTableInsert
 *		The first grant of a uid that has no row: INSERT ... ON CONFLICT DO
 *		NOTHING through SPI.  Returns false if a concurrent transaction
 *		created the row first (the caller peeks again); else sets *token.
 */
bool
LockTableInsert(LockTable *table, text *uid, text *owner, TimestampTz now,
				TimestampTz expires, int64 *token)
{
	Datum		values[4] = {
		PointerGetDatum(uid),
		PointerGetDatum(owner),
		TimestampTzGetDatum(now),
		TimestampTzGetDatum(expires)
	};
	bool		inserted;
	bool		isnull;

	Assert(table->writing);
	SPI_connect();
	inserted = (RunStatement(STMT_INSERT, values) == 1);
	if (inserted)
		*token = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1,
											 &isnull));
	SPI_finish();
	return inserted;
}

/*
 * LockTableNewToken
 *		The next fencing token.
 */
int64
LockTableNewToken(LockTable *table)
{
	return nextval_internal(table->token_seq, true);
}

/*---- Set-oriented statements ----*/

/*
 * LockTableReleaseAll
 *		Release every live lock of owner; returns how many, with their uids
 *		and tokens in *released (palloc'd in the caller's context).
 */
uint64
LockTableReleaseAll(text *owner, TimestampTz now, LockTableUidToken **released)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Datum		values[2] = {PointerGetDatum(owner), TimestampTzGetDatum(now)};
	LockTable	table;
	uint64		count;

	/* Verify the table before SQL touches it. */
	LockTableOpen(&table, true);
	LockTableClose(&table);

	SPI_connect();
	count = RunStatement(STMT_RELEASE_ALL, values);
	*released = MemoryContextAllocZero(callercxt,
									   sizeof(LockTableUidToken) * (count + 1));
	for (uint64 i = 0; i < count; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext oldcontext;

		oldcontext = MemoryContextSwitchTo(callercxt);
		(*released)[i].uid = DatumGetTextPCopy(SPI_getbinval(tuple, tupdesc, 1,
															 &isnull));
		MemoryContextSwitchTo(oldcontext);
		(*released)[i].token = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 2,
														   &isnull));
	}
	SPI_finish();
	return count;
}

/*
 * LockTableSweep
 *		Delete the rows of locks that ended at or before cutoff; returns how
 *		many.
 */
uint64
LockTableSweep(TimestampTz cutoff)
{
	Datum		values[1] = {TimestampTzGetDatum(cutoff)};
	LockTable	table;
	uint64		deleted;

	LockTableOpen(&table, true);
	LockTableClose(&table);

	SPI_connect();
	deleted = RunStatement(STMT_SWEEP, values);
	SPI_finish();
	return deleted;
}
