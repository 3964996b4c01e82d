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
#include "storage/lmgr.h"
#include "catalog/pg_class.h"
#include "citus.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * The columns of lockable.locks: lockable--1.0.sql created the first five,
 * lockable--1.1--1.2.sql added the line's two.
 */
static const ExpectedColumn locks_columns[NUM_LOCK_COLUMNS] = {
	[LOCK_UID] = {"uid", TEXTOID, false},
	[LOCK_OWNER] = {"owner", TEXTOID, false},
	[LOCK_TOKEN] = {"token", INT8OID, false},
	[LOCK_ACQUIRED_AT] = {"acquired_at", TIMESTAMPTZOID, false},
	[LOCK_EXPIRES_AT] = {"expires_at", TIMESTAMPTZOID, false},
	[LOCK_PLACES] = {"places", INT4OID, true},
	[LOCK_LAST_PLACE] = {"last_place", INT8OID, true},
};

/*---- Prepared statements ----*/

/*
 * The statements run through SPI.  Their plans are prepared on first use and
 * kept for the life of the backend.  "%s" stands for the table: on Citus,
 * after lockable.distribute(), they run on each shard of it on the node,
 * named, and planned every time (a plan on lockable.locks would be Citus's,
 * routed over the network, at some 150 us per statement).  The functions run with search_path
 * pinned to pg_catalog, and every object is schema-qualified.
 */
typedef enum LockStatement
{
	STMT_INSERT,
	STMT_HELD_BY,
	STMT_WITH_LINES,
	STMT_SWEEP,
	STMT_SWEEP_1_1,
	STMT_SWEEP_SHARD,
	STMT_HIGH_WATER,
	NUM_LOCK_STATEMENTS
} LockStatement;

typedef struct LockStatementDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[4];
} LockStatementDef;

static const LockStatementDef lock_statements[NUM_LOCK_STATEMENTS] = {
	/* $1 uid, $2 now: a free lock, which the caller then grants */
	[STMT_INSERT] = {
		"INSERT INTO %s (uid, owner, token, acquired_at, expires_at)"
		" VALUES ($1, NULL, 0, NULL, $2)"
		" ON CONFLICT (uid) DO NOTHING",
		2, {TEXTOID, TIMESTAMPTZOID}
	},
	/* $1 owner, $2 now: the uids of owner's live locks */
	[STMT_HELD_BY] = {
		"SELECT uid FROM %s"
		" WHERE owner OPERATOR(pg_catalog.=) $1"
		"   AND expires_at OPERATOR(pg_catalog.>) $2",
		2, {TEXTOID, TIMESTAMPTZOID}
	},
	/* the uids that have a line (live or lapsed places) */
	[STMT_WITH_LINES] = {
		"SELECT uid FROM %s"
		" WHERE places OPERATOR(pg_catalog.>) 0",
		0, {InvalidOid}
	},
	/*
	 * $1 cutoff: a lock that ended at or before it, and has no line, is
	 * deleted (re-checked on the latest version of a row a line was joined
	 * meanwhile)
	 */
	[STMT_SWEEP] = {
		"DELETE FROM %s"
		" WHERE expires_at OPERATOR(pg_catalog.<=) $1"
		"   AND places OPERATOR(pg_catalog.=) 0",
		1, {TIMESTAMPTZOID}
	},
	/* the same on a shard (Citus): how many, and the highest token deleted */
	[STMT_SWEEP_SHARD] = {
		"WITH d AS (DELETE FROM %s"
		" WHERE expires_at OPERATOR(pg_catalog.<=) $1"
		"   AND places OPERATOR(pg_catalog.=) 0 RETURNING token)"
		" SELECT pg_catalog.count(*), pg_catalog.max(token) FROM d",
		1, {TIMESTAMPTZOID}
	},
	/* the same for the table of 1.0 and 1.1, which has no line */
	[STMT_SWEEP_1_1] = {
		"DELETE FROM %s WHERE expires_at OPERATOR(pg_catalog.<=) $1",
		1, {TIMESTAMPTZOID}
	},
	/*
	 * $1 token: the high-water row of a shard (on Citus) keeps the highest
	 * token deleted from it; its expires_at is NULL, so no sweep deletes it
	 */
	[STMT_HIGH_WATER] = {
		"INSERT INTO %s AS l (uid, owner, token, acquired_at, expires_at)"
		" VALUES ('', NULL, $1, NULL, NULL)"
		" ON CONFLICT (uid) DO UPDATE"
		" SET token = pg_catalog.int8larger(l.token, excluded.token)",
		1, {INT8OID}
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
RunStatement(LockStatement stmt, Datum *values, Oid shard, Snapshot read)
{
	const LockStatementDef *def = &lock_statements[stmt];
	Snapshot	snapshot = read;
	Snapshot	crosscheck = InvalidSnapshot;
	char	   *sql;
	SPIPlanPtr	plan;
	int			rc;

	if (OidIsValid(shard))
		sql = psprintf(def->sql,
					   quote_qualified_identifier(get_namespace_name(get_rel_namespace(shard)),
												  get_rel_name(shard)));
	else
		sql = psprintf(def->sql, "lockable.locks");

	if (OidIsValid(shard) || lock_plans[stmt] == NULL)
	{
		plan = SPI_prepare(sql, def->nargs, (Oid *) def->argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (!OidIsValid(shard))
		{
			SPI_keepplan(plan);
			lock_plans[stmt] = plan;
		}
	}
	else
		plan = lock_plans[stmt];

	if (IsolationUsesXactSnapshot())
	{
		CommandCounterIncrement();
		if (snapshot == InvalidSnapshot)
			snapshot = GetLatestSnapshot();
		crosscheck = GetTransactionSnapshot();
	}

	rc = SPI_execute_snapshot(plan, values, NULL,
							  snapshot, crosscheck, false, true, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_snapshot failed for \"%s\": %s",
			 sql, SPI_result_code_string(rc));
	return SPI_processed;
}

/*---- Opening the table ----*/

/*
 * LockableRelid
 *		The OID of relation lockable.relname (InvalidOid if missing_ok and
 *		there is none).
 */
Oid
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
 * OpenWithLock
 *		Open and verify lockable.locks, its primary key and token sequence,
 *		with the given relation lock mode (held, as the executor holds it,
 *		until the end of the transaction).  When Citus distributes the
 *		table and uid is given, open uid's shard of it instead, and find
 *		that of lockable.places (caller names the function in errors).
 */
static void
OpenWithLock(LockTable *table, text *uid, const char *caller,
			 LOCKMODE lockmode, bool write)
{
	Oid			relid = LockableRelid("locks", false);
	Oid			indexid;
	Form_pg_index index;

	memset(table, 0, sizeof(LockTable));
	ItemPointerSetInvalid(&table->waited_for);
	table->token_seq = LockableRelid("token_seq", false);
	table->heap = table_open(relid, lockmode);
	table->distributed = TrustExtensionTable(table->heap, locks_columns,
											 NUM_LOCK_COLUMNS, table->attnum);
	TrustExtensionSequence(table->token_seq);

	if (table->distributed && uid != NULL)
	{
		Relation	shell = table->heap;
		Oid			shard;

		CitusUidShards(relid, LockableRelid("places", false), uid, caller,
					   &shard, &table->places_shard);
		table->heap = table_open(shard, lockmode);
		TrustCitusShard(table->heap, shell, locks_columns, NUM_LOCK_COLUMNS,
						table->attnum);
		table_close(shell, NoLock);
	}

	indexid = RelationGetPrimaryKeyIndex_compat(table->heap);
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

	/* The update script adds both line columns, or neither. */
	table->has_line = (table->attnum[LOCK_PLACES] != InvalidAttrNumber);
	if (table->has_line != (table->attnum[LOCK_LAST_PLACE] != InvalidAttrNumber))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"lockable.locks\" has only one of the columns \"places\" and \"last_place\"")));

	table->writing = write;
	if (write)
	{
		/* The shell of a distributed table has no rows to write. */
		Assert(!table->distributed || uid != NULL);
		WriteTableBegin(&table->writer, table->heap);
	}
}

/*
 * LockTableOpen
 *		Open lockable.locks for reading (AccessShareLock) or writing
 *		(RowExclusiveLock), for the calls on uid (or, with uid NULL, to
 *		verify it before a set-oriented statement).
 */
void
LockTableOpen(LockTable *table, text *uid, const char *caller, bool write)
{
	OpenWithLock(table, uid, caller,
				 write ? RowExclusiveLock : AccessShareLock, write);
}

/*
 * LockTableOpenToShare
 *		Open lockable.locks for reading and share-locking rows (RowShareLock,
 *		as SELECT ... FOR SHARE takes).
 */
void
LockTableOpenToShare(LockTable *table, text *uid, const char *caller)
{
	OpenWithLock(table, uid, caller, RowShareLock, false);
}

/*
 * LockTableDistributed
 *		Whether Citus distributes lockable.locks (lockable.distribute()).
 */
bool
LockTableDistributed(void)
{
	LockTable	table;
	bool		distributed;

	OpenWithLock(&table, NULL, NULL, AccessShareLock, false);
	distributed = table.distributed;
	LockTableClose(&table);
	return distributed;
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
	scan = index_beginscan_compat(table->heap, table->pkey, row->snapshot, 1, 0);
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
		row->v.owner = nulls[COLUMN(LOCK_OWNER)] ? NULL :
			DatumGetTextPP(values[COLUMN(LOCK_OWNER)]);
		row->v.token = DatumGetInt64(values[COLUMN(LOCK_TOKEN)]);
		row->v.acquired_at = nulls[COLUMN(LOCK_ACQUIRED_AT)] ? 0 :
			DatumGetTimestampTz(values[COLUMN(LOCK_ACQUIRED_AT)]);
		row->v.expires_at = nulls[COLUMN(LOCK_EXPIRES_AT)] ? DT_NOBEGIN :
			DatumGetTimestampTz(values[COLUMN(LOCK_EXPIRES_AT)]);
		if (table->has_line)
		{
			row->v.places = DatumGetInt32(values[COLUMN(LOCK_PLACES)]);
			row->v.last_place = DatumGetInt64(values[COLUMN(LOCK_LAST_PLACE)]);
		}
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
	return row->found && row->v.owner != NULL && row->v.expires_at > now;
}

/*---- Writing ----*/

static bool
TextEqualOrBothNull(const text *a, const text *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/*
 * WaitForRowWriter
 *		The row version the last peek saw is being changed, or locked, by an
 *		open transaction: wait for it as UPDATE would, and take the row lock
 *		that UPDATE takes (FOR NO KEY UPDATE), so that the next write of
 *		this transaction does not wait again.  TM_Ok if the version is still
 *		the latest; TM_Updated or TM_Deleted if a committed transaction
 *		changed it (under REPEATABLE READ or SERIALIZABLE, a serialization
 *		failure instead).
 */
static TM_Result
WaitForRowWriter(LockTable *table, LockRow *row)
{
	TupleTableSlot *slot = table_slot_create(table->heap, NULL);
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(table->heap, &row->tuple->t_self, row->snapshot,
							  slot, GetCurrentCommandId(true),
							  LockTupleNoKeyExclusive, LockWaitBlock, 0,
							  &tmfd);
	ExecDropSingleTupleTableSlot(slot);
	switch (result)
	{
		case TM_Ok:
			return TM_Ok;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				WriteTableSerializationFailure(result);
			return result;
		default:
			elog(ERROR, "unexpected table_tuple_lock result %d in lockable.locks",
				 (int) result);
	}
	return result;				/* keep the compiler quiet */
}

/*
 * LockTableWrite
 *		Write a new version of the row version the last peek saw, saying
 *		*values; see the protocol in lock_table.h for the results.  Only the
 *		columns whose value changes are written (and reported to triggers
 *		as written).  On LOCK_WRITE_OK, row->v is *values.
 *
 *		A write never lands on a decision made before a wait: when an open
 *		transaction is changing or locking the row, nothing is written;
 *		with wait, the call waits for that transaction, locks the row, and
 *		returns LOCK_WRITE_CHANGED, so that the caller looks again and
 *		decides (and reads the clock) after the wait, and then writes
 *		without waiting.
 */
LockWriteResult
LockTableWrite(LockTable *table, LockRow *row, const LockValues *values,
			   bool wait)
{
	const LockValues *old = &row->v;
	Snapshot	crosscheck = InvalidSnapshot;
	int			attnums[NUM_LOCK_COLUMNS];
	Datum		datums[NUM_LOCK_COLUMNS];
	bool		nulls[NUM_LOCK_COLUMNS];
	int			ncols = 0;
	HeapTuple	newtuple;
	TM_Result	result;

	Assert(table->writing && row->found);
	PreventCommandIfReadOnly("UPDATE");
	if (IsolationUsesXactSnapshot())
		crosscheck = GetTransactionSnapshot();

#define CHANGE(column, changed, datum, isnull) \
	do { \
		if (changed) \
		{ \
			attnums[ncols] = table->attnum[column]; \
			datums[ncols] = (datum); \
			nulls[ncols] = (isnull); \
			ncols++; \
		} \
	} while (0)

	CHANGE(LOCK_OWNER, !TextEqualOrBothNull(old->owner, values->owner),
		   PointerGetDatum(values->owner), values->owner == NULL);
	CHANGE(LOCK_TOKEN, old->token != values->token,
		   Int64GetDatum(values->token), false);
	CHANGE(LOCK_ACQUIRED_AT, old->acquired_at != values->acquired_at,
		   TimestampTzGetDatum(values->acquired_at), false);
	CHANGE(LOCK_EXPIRES_AT, old->expires_at != values->expires_at,
		   TimestampTzGetDatum(values->expires_at), false);
	if (table->has_line)
	{
		CHANGE(LOCK_PLACES, old->places != values->places,
			   Int32GetDatum(values->places), false);
		CHANGE(LOCK_LAST_PLACE, old->last_place != values->last_place,
			   Int64GetDatum(values->last_place), false);
	}
	else
		Assert(values->places == 0 && values->last_place == 0);
#undef CHANGE

	newtuple = heap_modify_tuple_by_cols(row->tuple,
										 RelationGetDescr(table->heap),
										 ncols, attnums, datums, nulls);
	/*
	 * Without waiting first; but a version this call locked after waiting
	 * is locked by this transaction only, which the update does not wait
	 * for (and without wait would report as busy).
	 */
	result = WriteTableUpdate(&table->writer, &row->tuple->t_self, newtuple,
							  ncols, attnums,
							  wait && ItemPointerEquals(&table->waited_for,
														&row->tuple->t_self),
							  crosscheck);
	heap_freetuple(newtuple);
	if (result == TM_BeingModified && wait)
	{
		if (WaitForRowWriter(table, row) == TM_Ok)
			table->waited_for = row->tuple->t_self;
		LockRowForgetSnapshot(row, true);
		return LOCK_WRITE_CHANGED;
	}

	/* The version seen has served its purpose: let the snapshot go. */
	LockRowForgetSnapshot(row, true);

	switch (result)
	{
		case TM_Ok:
			row->v = *values;
			table->writes++;
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
 * LockTableShareRow
 *		Lock the row version the last peek saw FOR SHARE, until the end of
 *		the transaction, waiting like SELECT ... FOR SHARE for a concurrent
 *		writer of the row.  LOCK_WRITE_CHANGED: a committed transaction
 *		changed the row first (peek again); under REPEATABLE READ or
 *		SERIALIZABLE that is a serialization failure, as for SELECT ... FOR
 *		SHARE.
 */
LockWriteResult
LockTableShareRow(LockTable *table, LockRow *row)
{
	TupleTableSlot *slot = table_slot_create(table->heap, NULL);
	TM_FailureData tmfd;
	TM_Result	result;

	Assert(row->found && row->snapshot != NULL);
	result = table_tuple_lock(table->heap, &row->tuple->t_self, row->snapshot,
							  slot, GetCurrentCommandId(true), LockTupleShare,
							  LockWaitBlock, 0, &tmfd);
	ExecDropSingleTupleTableSlot(slot);
	LockRowForgetSnapshot(row, true);

	switch (result)
	{
		case TM_Ok:
			return LOCK_WRITE_OK;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				WriteTableSerializationFailure(result);
			return LOCK_WRITE_CHANGED;
		default:
			elog(ERROR, "unexpected table_tuple_lock result %d in lockable.locks",
				 (int) result);
	}
	return LOCK_WRITE_CHANGED;	/* keep the compiler quiet */
}

/*
 * LockTableInsert
 *		Give a uid that has no row one: a free lock (no owner, token 0,
 *		ended now), by INSERT ... ON CONFLICT DO NOTHING through SPI.  The
 *		caller then peeks and grants as for any free lock, so the token of
 *		a first grant is drawn, like every other, after the row it is
 *		written to was read: drawn before the insert, it could be older than
 *		a grant that another transaction committed while the insert waited
 *		on it (and that a sweep then deleted).  Returns false if a concurrent
 *		transaction created the row first; the caller peeks again either way.
 */
bool
LockTableInsert(LockTable *table, text *uid, TimestampTz now)
{
	Datum		values[2] = {PointerGetDatum(uid), TimestampTzGetDatum(now)};
	bool		inserted;

	Assert(table->writing);
	SPI_connect();
	inserted = (RunStatement(STMT_INSERT, values,
							 table->distributed ? RelationGetRelid(table->heap) :
							 InvalidOid, InvalidSnapshot) == 1);
	SPI_finish();
	return inserted;
}

/*
 * The fencing tokens of a distributed install (lockable.distribute()).
 *
 * Every node draws from its own lockable.token_seq, so plain sequence
 * values would repeat across nodes (each starts at 1) and would not be
 * ordered per uid once a shard moves to a node whose sequence is behind.
 * So a token is counter * 2^TOKEN_GROUP_BITS + group: the node's Citus
 * group id in the low bits makes tokens of different nodes distinct, and
 * the counter, drawn from the node's sequence, makes the tokens of one
 * node distinct.  The counter is a Lamport clock: a new token must be
 * above a floor (the token in the uid's row, or for a uid without one
 * the highest token lock_sweep deleted from its shard, which the shard's
 * high-water row keeps, see LockTableSweep), and when the drawn one is
 * not, the node's sequence is first moved past the floor.  Moving a
 * sequence forward is a read and a setval; the draws on a node hold a
 * ShareLock and the move an ExclusiveLock on a lock of the sequence's own
 * (an object lock on its pg_class entry, sub-id 1, which PostgreSQL never
 * takes), each only around the draw, so the move never goes backwards
 * past a token another backend drew meanwhile.
 */
#define TOKEN_GROUP_BITS 12
#define TOKEN_HIGH_WATER_UID ""

/*
 * HighWaterToken
 *		The token of the high-water row of the shard (0 if it has none).
 */
static int64
HighWaterToken(LockTable *table)
{
	LockRow		row = {0};
	int64		token;
	text	   *uid = cstring_to_text(TOKEN_HIGH_WATER_UID);

	LockTablePeek(table, uid, &row);
	token = row.found ? row.v.token : 0;
	LockRowRelease(&row);
	return token;
}

static int64
DrawCounter(Oid seq, LOCKMODE mode, int64 at_least)
{
	LOCKTAG		tag;
	volatile int64 counter = 0;

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, RelationRelationId, seq, 1);
	(void) LockAcquire(&tag, mode, true, false);
	PG_TRY();
	{
		counter = nextval_internal(seq, true);
		if (counter < at_least)
		{
			DirectFunctionCall2(setval_oid, ObjectIdGetDatum(seq),
								Int64GetDatum(at_least));
			counter = at_least;
		}
	}
	PG_FINALLY();
	{
		LockRelease(&tag, mode, true);
	}
	PG_END_TRY();
	return counter;
}

static int64
DistributedToken(LockTable *table, int64 floor)
{
	int32		group = CitusLocalGroupId();
	int64		counter;

	if (group >= (1 << TOKEN_GROUP_BITS))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Citus group id %d is too large for a fencing token", group),
				 errdetail("Tokens keep the group id of the node that drew them in %d bits.",
						   TOKEN_GROUP_BITS)));
	if (floor <= 0)
		floor = HighWaterToken(table);

	counter = DrawCounter(table->token_seq, ShareLock, 0);
	if (counter > ((PG_INT64_MAX - group) >> TOKEN_GROUP_BITS))
		ereport(ERROR,
				(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
				 errmsg("lockable.token_seq is too large for a fencing token on Citus")));
	if ((counter << TOKEN_GROUP_BITS) + group > floor)
		return (counter << TOKEN_GROUP_BITS) + group;

	/* Behind the floor (the shard came from another node): move past it. */
	counter = DrawCounter(table->token_seq, ExclusiveLock,
						  (floor >> TOKEN_GROUP_BITS) + 1);
	return (counter << TOKEN_GROUP_BITS) + group;
}

/*
 * LockTableNewToken
 *		The next fencing token, above floor (the token of the row it goes
 *		into; 0 for a row never granted).  On one node, the next value of
 *		lockable.token_seq, always above every token drawn before.
 */
int64
LockTableNewToken(LockTable *table, int64 floor)
{
	if (table->distributed)
		return DistributedToken(table, floor);
	return nextval_internal(table->token_seq, true);
}

/*---- Set-oriented statements ----*/

/*
 * TrustShard
 *		Lock and verify a shard of lockable.locks on this node before SQL
 *		touches it (see TrustCitusShard).
 */
static void
TrustShard(Oid shard, LOCKMODE lockmode)
{
	Relation	shell = table_open(LockableRelid("locks", false), AccessShareLock);
	Relation	rel = table_open(shard, lockmode);
	AttrNumber	attnum[NUM_LOCK_COLUMNS];

	TrustCitusShard(rel, shell, locks_columns, NUM_LOCK_COLUMNS, attnum);
	table_close(rel, NoLock);
	table_close(shell, NoLock);
}

/*
 * AppendSpiUids
 *		Append the first column (a uid) of every row of the last SPI
 *		statement to *uids, which holds total uids and a NULL after them,
 *		copying each into memory context cxt; returns the new total.
 */
uint64
AppendSpiUids(text ***uids, uint64 total, MemoryContext cxt)
{
	uint64		count = SPI_processed;

	if (total + count > (uint64) (MaxAllocSize / sizeof(text *)) - 1)
		elog(ERROR, "too many uids: " UINT64_FORMAT, total + count);
	*uids = repalloc(*uids, sizeof(text *) * (total + count + 1));
	for (uint64 i = 0; i < count; i++)
	{
		bool		isnull;
		Datum		uid = SPI_getbinval(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext oldcontext = MemoryContextSwitchTo(cxt);

		(*uids)[total++] = DatumGetTextPCopy(uid);
		MemoryContextSwitchTo(oldcontext);
	}
	(*uids)[total] = NULL;
	return total;
}

/*
 * CollectUids
 *		Run a statement whose first column is a uid on the table (or, when
 *		Citus distributes it, on each of its shards on this node); return
 *		the uids, copied into the caller's memory context, and their number.
 */
static int
CollectUids(LockStatement stmt, Datum *values, Snapshot snapshot,
			text ***uids)
{
	MemoryContext callercxt = CurrentMemoryContext;
	bool		distributed = LockTableDistributed();
	Oid		   *shards = NULL;
	int			nshards = 1;
	uint64		total = 0;

	if (distributed)
		nshards = CitusLocalShards(LockableRelid("locks", false), &shards);
	*uids = MemoryContextAllocZero(callercxt, sizeof(text *));

	SPI_connect();
	for (int s = 0; s < nshards; s++)
	{
		if (distributed)
			TrustShard(shards[s], AccessShareLock);
		(void) RunStatement(stmt, values, distributed ? shards[s] : InvalidOid,
							 snapshot);
		total = AppendSpiUids(uids, total, callercxt);
	}
	SPI_finish();
	return (int) total;
}

/*
 * LockTableUidsHeldBy
 *		The uids of owner's live locks at now.
 */
int
LockTableUidsHeldBy(text *owner, TimestampTz now, Snapshot snapshot,
					text ***uids)
{
	Datum		values[2] = {PointerGetDatum(owner), TimestampTzGetDatum(now)};

	return CollectUids(STMT_HELD_BY, values, snapshot, uids);
}

/*
 * LockTableUidsWithLines
 *		The uids that have places in line, live or lapsed.
 */
int
LockTableUidsWithLines(TimestampTz now, text ***uids)
{
	LockTable	table;
	bool		has_line;

	LockTableOpen(&table, NULL, NULL, false);
	has_line = table.has_line;
	LockTableClose(&table);
	if (!has_line)
	{
		*uids = palloc0(sizeof(text *));
		return 0;
	}
	return CollectUids(STMT_WITH_LINES, NULL, InvalidSnapshot, uids);
}

/*
 * LockTableSweep
 *		Delete the rows of locks that ended at or before cutoff and have no
 *		line; returns how many.  When Citus distributes the table, each
 *		shard on this node keeps the highest token deleted from it in its
 *		high-water row (uid '', never granted, never deleted, moved with
 *		the shard), above which the first grant of any uid of the shard
 *		draws its token (LockTableNewToken).
 */
uint64
LockTableSweep(TimestampTz cutoff)
{
	Datum		values[1] = {TimestampTzGetDatum(cutoff)};
	LockTable	table;
	bool		has_line;
	bool		distributed;
	Oid		   *shards = NULL;
	uint64		deleted = 0;

	LockTableOpen(&table, NULL, NULL, false);
	has_line = table.has_line;
	distributed = table.distributed;
	LockTableClose(&table);

	SPI_connect();
	if (!distributed)
		deleted = RunStatement(has_line ? STMT_SWEEP : STMT_SWEEP_1_1, values,
							   InvalidOid, InvalidSnapshot);
	else
	{
		int			nshards = CitusLocalShards(LockableRelid("locks", false), &shards);

		for (int s = 0; s < nshards; s++)
		{
			bool		isnull;
			int64		count;
			Datum		highest;

			TrustShard(shards[s], RowExclusiveLock);
			(void) RunStatement(STMT_SWEEP_SHARD, values, shards[s],
								InvalidSnapshot);
			count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
			highest = SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 2, &isnull);
			if (count > 0 && !isnull)
				RunStatement(STMT_HIGH_WATER, &highest, shards[s],
							 InvalidSnapshot);
			deleted += count;
		}
	}
	SPI_finish();
	return deleted;
}
