/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  The lease-lock functions: lock_acquire, lock_release, lock_owner,
 *	  lock_verify, lock_release_all, lock_break and lock_sweep.
 *
 * State lives in lockable.locks, one row per uid.  There is no session
 * state: any call may land on any backend (a transaction-pooling pooler is
 * fine).  The per-uid paths (read a row, then update that row) use the
 * table's primary key index and heap_update directly: they are the hot path
 * of every caller, and the profile showed executor start-up and plan checks
 * costing as much as the work itself.  The rare and set-oriented writes (the
 * first INSERT of a uid, lock_release_all, lock_sweep) run SQL through SPI
 * plans prepared once per backend.
 *
 * Protocol.  Each write is a compare-and-set: the function first reads the
 * row without locking it ("peek"), decides from what it saw, and then
 * updates exactly the row version it saw (or, for a new uid, runs INSERT
 * ... ON CONFLICT DO NOTHING).  heap_update waits, as an UPDATE does, for a
 * concurrent writer of that row to finish; if that writer committed, the
 * version we saw is no longer the latest, nothing is written, and the
 * function peeks again.  So the answer always reflects committed state at
 * the moment of the call.  A refusal is decided from the peek alone, which
 * takes no row lock: a caller that is refused blocks nobody.
 *
 * Snapshots.  Every peek reads with the latest snapshot, so in READ
 * COMMITTED the answer is always current.  In REPEATABLE READ and
 * SERIALIZABLE the write is cross-checked against the transaction snapshot
 * (as the foreign-key triggers do): a lock changed after the transaction's
 * snapshot is never granted from stale data; the write fails with SQLSTATE
 * 40001 instead.
 *
 * Waiting.  lock_acquire with a wait polls: it peeks, and only when the lock
 * looks free does it try to take it, inside a subtransaction that is rolled
 * back if the try fails, so that no row lock outlives a failed try and the
 * holder's release never waits for a waiter.  Between tries it sleeps on its
 * latch for at most LOCKABLE_WAIT_POLL_MS, or until the holder's lease ends
 * if that is sooner, and honours query cancel and statement_timeout.
 *
 * Time.  "Now" is GetCurrentTimestamp() at the moment of the call (taken
 * again for each try of a waiting acquire), never the transaction start.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/locks.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#if PG_VERSION_NUM >= 140000
#include "utils/wait_event.h"
#else
#include "pgstat.h"
#endif

/* Longest sleep between two tries of a waiting lock_acquire. */
#define LOCKABLE_WAIT_POLL_MS 10

/*---- The lock table ----*/

/* Columns of lockable.locks, as lockable--1.0.sql creates it. */
#define Natts_locks				5
#define Anum_locks_uid			1
#define Anum_locks_owner		2
#define Anum_locks_token		3
#define Anum_locks_acquired_at	4
#define Anum_locks_expires_at	5

/*
 * lockable.locks and its primary key index, opened for one call.  They are
 * looked up by name on every call (three syscache probes, next to nothing)
 * rather than cached, so that DROP and CREATE EXTENSION in a long-lived
 * backend need no invalidation logic.
 */
typedef struct LockTable
{
	Relation	heap;
	Relation	index;			/* the primary key, on uid */
	Oid			token_seq;		/* lockable.token_seq */
} LockTable;

/*---- The row of one uid, as a peek saw it ----*/

typedef struct LockRow
{
	bool		found;			/* is there a row for the uid? */
	HeapTuple	tuple;			/* a copy of the row version seen */
	text	   *owner;			/* NULL if released */
	int64		token;
	TimestampTz acquired_at;
	TimestampTz expires_at;
} LockRow;

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
		" WHERE owner = $1 AND expires_at > $2"
		" RETURNING uid, token",
		2, {TEXTOID, TIMESTAMPTZOID}
	},
	/* $1 cutoff: a lock that ended at or before it is deleted */
	[STMT_SWEEP] = {
		"DELETE FROM lockable.locks WHERE expires_at <= $1",
		1, {TIMESTAMPTZOID}
	},
};

static SPIPlanPtr lock_plans[NUM_LOCK_STATEMENTS];

typedef enum AcquireOutcome
{
	ACQUIRE_GRANTED,			/* a fresh grant with a new token */
	ACQUIRE_RENEWED,			/* the owner's live lock, extended */
	ACQUIRE_REFUSED				/* held by another owner */
} AcquireOutcome;

PG_FUNCTION_INFO_V1(lock_acquire);
PG_FUNCTION_INFO_V1(lock_release);
PG_FUNCTION_INFO_V1(lock_owner);
PG_FUNCTION_INFO_V1(lock_verify);
PG_FUNCTION_INFO_V1(lock_release_all);
PG_FUNCTION_INFO_V1(lock_break);
PG_FUNCTION_INFO_V1(lock_sweep);

/*---- Argument checks ----*/

/*
 * GetNameArg
 *		Fetch a uid or owner argument, refusing NULL, empty and overlong ones.
 */
static text *
GetNameArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	text	   *name;
	int			len;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lock %s cannot be null", what)));

	name = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(name);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lock %s cannot be empty", what)));
	if (len > LOCKABLE_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lock %s is too long", what),
				 errdetail("The %s is %d bytes long; the limit is %d bytes.",
						   what, len, LOCKABLE_MAX_NAME_BYTES)));
	return name;
}

/*
 * GetIntervalArg
 *		Fetch an interval argument, refusing NULL.
 */
static Interval *
GetIntervalArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", what)));
	return PG_GETARG_INTERVAL_P(argno);
}

static bool
IntervalHasNegativeField(const Interval *span)
{
	return span->month < 0 || span->day < 0 || span->time < 0;
}

static bool
IntervalIsZero(const Interval *span)
{
	return span->month == 0 && span->day == 0 && span->time == 0;
}

static char *
IntervalText(Interval *span)
{
	return DatumGetCString(DirectFunctionCall1(interval_out,
											   IntervalPGetDatum(span)));
}

/*
 * IntervalMicroseconds
 *		An interval's length in microseconds (a month counted as 30 days),
 *		saturating at PG_INT64_MAX.  Only for non-negative intervals.
 */
static int64
IntervalMicroseconds(const Interval *span)
{
	int64		days = (int64) span->month * DAYS_PER_MONTH + span->day;

	if (days > (PG_INT64_MAX - span->time) / USECS_PER_DAY)
		return PG_INT64_MAX;
	return days * USECS_PER_DAY + span->time;
}

static TimestampTz
TimestampPlusInterval(TimestampTz start, Interval *span)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(start),
												   IntervalPGetDatum(span)));
}

/*
 * LeaseEnd
 *		Check a ttl against the rules and lockable.max_ttl, and return when a
 *		lease of that length taken at "now" ends.
 */
static TimestampTz
LeaseEnd(Interval *ttl, TimestampTz now)
{
	Interval   *max_ttl = LockableMaxTtl();

	if (IntervalHasNegativeField(ttl) || IntervalIsZero(ttl))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be positive"),
				 errdetail("The ttl is \"%s\"; it must be longer than zero, with no negative field.",
						   IntervalText(ttl))));

	/*
	 * Compare the lengths first (this also keeps an absurd ttl from
	 * overflowing the timestamp arithmetic), then the exact end times, which
	 * count months and days by the calendar.
	 */
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp,
										  IntervalPGetDatum(ttl),
										  IntervalPGetDatum(max_ttl))) > 0 ||
		TimestampPlusInterval(now, ttl) > TimestampPlusInterval(now, max_ttl))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl exceeds lockable.max_ttl"),
				 errdetail("The ttl is \"%s\"; lockable.max_ttl is \"%s\".",
						   IntervalText(ttl), lockable_max_ttl_string),
				 errhint("Renew a lock by acquiring it again before it expires.")));

	return TimestampPlusInterval(now, ttl);
}

static bool
TextEqual(const text *a, const text *b)
{
	int			len = VARSIZE_ANY_EXHDR(a);

	return len == (int) VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), len) == 0;
}

/*---- Statement execution ----*/

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
RunStatement(LockStatement stmt, Datum *values, const char *nulls)
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

	rc = SPI_execute_snapshot(lock_plans[stmt], values, nulls,
							  snapshot, crosscheck, false, true, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_snapshot failed for \"%s\": %s",
			 lock_statements[stmt].sql, SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * ResultDatum
 *		Column "col" (1-based) of row "row" of the last statement's result.
 */
static Datum
ResultDatum(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

/*---- Direct access to the lock table ----*/

/*
 * OpenLockTable
 *		Open lockable.locks and its primary key with the given lock mode
 *		(held, as the executor holds them, until the end of the transaction).
 */
static void
OpenLockTable(LockTable *table, LOCKMODE lockmode)
{
	Oid			namespace = get_namespace_oid("lockable", false);
	Oid			relid = get_relname_relid("locks", namespace);
	Oid			indexid;
	Form_pg_index index;

	table->token_seq = get_relname_relid("token_seq", namespace);
	if (!OidIsValid(relid) || !OidIsValid(table->token_seq))
		elog(ERROR, "lockable.locks or lockable.token_seq is missing");

	table->heap = table_open(relid, lockmode);
	if (RelationGetDescr(table->heap)->natts != Natts_locks)
		elog(ERROR, "lockable.locks does not have the expected columns");
	indexid = RelationGetPrimaryKeyIndex(table->heap);
	if (!OidIsValid(indexid))
		elog(ERROR, "lockable.locks has no primary key");
	table->index = index_open(indexid, lockmode);
	index = table->index->rd_index;
	if (index->indnatts != 1 || index->indkey.values[0] != Anum_locks_uid)
		elog(ERROR, "lockable.locks does not have its primary key on uid");
}

static void
CloseLockTable(LockTable *table)
{
	index_close(table->index, NoLock);
	table_close(table->heap, NoLock);
}

/*
 * Peek
 *		Read the row of uid, as the latest committed state and this
 *		transaction's own earlier changes show it, without locking it.
 *		Frees what an earlier peek into the same LockRow kept.
 */
static void
Peek(LockTable *table, text *uid, LockRow *row)
{
	TupleDesc	tupdesc = RelationGetDescr(table->heap);
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;

	if (row->tuple != NULL)
		heap_freetuple(row->tuple);
	memset(row, 0, sizeof(LockRow));

	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   table->index->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(uid));
	scan = index_beginscan(table->heap, table->index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(table->heap, NULL);

	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Datum		values[Natts_locks];
		bool		nulls[Natts_locks];

		row->found = true;
		row->tuple = ExecCopySlotHeapTuple(slot);
		heap_deform_tuple(row->tuple, tupdesc, values, nulls);
		row->owner = nulls[Anum_locks_owner - 1] ? NULL :
			DatumGetTextPP(values[Anum_locks_owner - 1]);
		row->token = DatumGetInt64(values[Anum_locks_token - 1]);
		row->acquired_at = DatumGetTimestampTz(values[Anum_locks_acquired_at - 1]);
		row->expires_at = DatumGetTimestampTz(values[Anum_locks_expires_at - 1]);
	}

	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
}

/*
 * UpdateRow
 *		Write a new version of the row version the last peek saw, with the
 *		given columns (1-based numbers) changed.  Returns false, writing
 *		nothing, if a concurrent transaction updated or deleted that version
 *		and committed: the caller peeks again.
 *
 * Like UPDATE, this waits for a concurrent writer of the row to finish.  In
 * REPEATABLE READ and SERIALIZABLE, a row version the transaction snapshot
 * does not see, or one changed by a concurrent transaction, is a
 * serialization failure.
 */
static bool
UpdateRow(LockTable *table, LockRow *row,
		  int ncols, int *cols, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc = RelationGetDescr(table->heap);
	Snapshot	crosscheck = InvalidSnapshot;
	HeapTuple	newtuple;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	TM_Result	result;

	PreventCommandIfReadOnly("UPDATE");
	if (IsolationUsesXactSnapshot())
		crosscheck = GetTransactionSnapshot();

	newtuple = heap_modify_tuple_by_cols(row->tuple, tupdesc,
										 ncols, cols, values, nulls);
#if PG_VERSION_NUM >= 160000
	{
		TU_UpdateIndexes update_indexes;

		result = heap_update(table->heap, &row->tuple->t_self, newtuple,
							 GetCurrentCommandId(true), crosscheck, true,
							 &tmfd, &lockmode, &update_indexes);
	}
#else
	result = heap_update(table->heap, &row->tuple->t_self, newtuple,
						 GetCurrentCommandId(true), crosscheck, true,
						 &tmfd, &lockmode);
#endif

	switch (result)
	{
		case TM_Ok:
			break;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot() && result == TM_Updated)
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent delete")));
			heap_freetuple(newtuple);
			return false;
		default:
			elog(ERROR, "unexpected heap_update result %d in lockable.locks",
				 (int) result);
	}

	/*
	 * A HOT update needs no new index entry; otherwise the primary key gets
	 * one for the new version (uid is unchanged, which lets btree remove
	 * the old versions' entries bottom-up).
	 */
	if (!HeapTupleIsHeapOnly(newtuple))
	{
		Datum		key[1];
		bool		keynull[1];

		key[0] = heap_getattr(newtuple, Anum_locks_uid, tupdesc, &keynull[0]);
		index_insert(table->index, key, keynull, &newtuple->t_self,
					 table->heap, UNIQUE_CHECK_YES,
#if PG_VERSION_NUM >= 140000
					 true,
#endif
					 BuildIndexInfo(table->index));
	}
	heap_freetuple(newtuple);

	/* Later peeks in this transaction see the new version. */
	CommandCounterIncrement();
	return true;
}

/*
 * NewToken
 *		The next fencing token.
 */
static int64
NewToken(LockTable *table)
{
	return nextval_internal(table->token_seq, true);
}

static bool
IsLive(const LockRow *row, TimestampTz now)
{
	return row->found && row->owner != NULL && row->expires_at > now;
}

/*
 * Announce
 *		Queue a notification on the lockable channel; PostgreSQL delivers it
 *		at commit and drops it on rollback.
 */
static void
Announce(const char *event, text *uid, text *owner, int64 token)
{
	StringInfoData payload;

	if (!lockable_notify)
		return;

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"event\": \"%s\", \"uid\": ", event);
	escape_json(&payload, text_to_cstring(uid));
	appendStringInfoString(&payload, ", \"owner\": ");
	escape_json(&payload, text_to_cstring(owner));
	appendStringInfo(&payload, ", \"token\": " INT64_FORMAT "}", token);
	Async_Notify(LOCKABLE_CHANNEL, payload.data);
	pfree(payload.data);
}

/*---- lock_acquire ----*/

/*
 * InsertRow
 *		The first grant of a uid that has no row: INSERT ... ON CONFLICT DO
 *		NOTHING through SPI.  Returns false if a concurrent transaction
 *		created the row first (the caller peeks again); else sets *token.
 */
static bool
InsertRow(text *uid, text *owner, TimestampTz now, TimestampTz expires,
		  int64 *token)
{
	Datum		values[4] = {
		PointerGetDatum(uid),
		PointerGetDatum(owner),
		TimestampTzGetDatum(now),
		TimestampTzGetDatum(expires)
	};
	bool		inserted;
	bool		isnull;

	SPI_connect();
	inserted = (RunStatement(STMT_INSERT, values, NULL) == 1);
	if (inserted)
		*token = DatumGetInt64(ResultDatum(0, 1, &isnull));
	SPI_finish();
	return inserted;
}

/*
 * TryAcquire
 *		One attempt to grant or renew uid for owner at "now".  On return,
 *		*row describes the lock as granted, renewed, or held by another.
 */
static AcquireOutcome
TryAcquire(LockTable *table, text *uid, text *owner,
		   TimestampTz now, TimestampTz expires, LockRow *row)
{
	/*
	 * Each "continue" below: a concurrent transaction changed or created the
	 * row between the peek and the write, and has committed; look again.
	 */
	for (;;)
	{
		int64		token;

		Peek(table, uid, row);
		if (IsLive(row, now) && !TextEqual(row->owner, owner))
			return ACQUIRE_REFUSED;

		if (!row->found)
		{
			if (!InsertRow(uid, owner, now, expires, &token))
				continue;
		}
		else if (IsLive(row, now))
		{
			/* The owner's own live lock: only the expiry moves. */
			int			cols[1] = {Anum_locks_expires_at};
			Datum		values[1] = {TimestampTzGetDatum(expires)};
			bool		nulls[1] = {false};

			if (!UpdateRow(table, row, 1, cols, values, nulls))
				continue;
			row->expires_at = expires;
			return ACQUIRE_RENEWED;
		}
		else
		{
			/* Free, released or expired: a fresh grant. */
			int			cols[4] = {Anum_locks_owner, Anum_locks_token,
								   Anum_locks_acquired_at,
								   Anum_locks_expires_at};
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			token = NewToken(table);
			values[0] = PointerGetDatum(owner);
			values[1] = Int64GetDatum(token);
			values[2] = TimestampTzGetDatum(now);
			values[3] = TimestampTzGetDatum(expires);
			if (!UpdateRow(table, row, 4, cols, values, nulls))
				continue;
		}

		row->found = true;
		row->owner = owner;
		row->token = token;
		row->acquired_at = now;
		row->expires_at = expires;
		Announce("acquired", uid, owner, token);
		return ACQUIRE_GRANTED;
	}
}

/*
 * TryAcquireInSubtransaction
 *		TryAcquire inside a subtransaction that is rolled back unless the lock
 *		was granted, so a failed try leaves no row lock behind: a waiter must
 *		never make the holder's release wait for it.
 */
static AcquireOutcome
TryAcquireInSubtransaction(LockTable *table, text *uid, text *owner,
						   TimestampTz now, TimestampTz expires, LockRow *row)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	AcquireOutcome outcome;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		outcome = TryAcquire(table, uid, owner, now, expires, row);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * Close our subtransaction before the error travels on, so that
		 * whoever catches it (the top level, a savepoint, a PL/pgSQL
		 * exception block) finds its own transaction state on top.
		 */
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();

		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;

		ReThrowError(edata);
	}
	PG_END_TRY();

	if (outcome == ACQUIRE_REFUSED)
		RollbackAndReleaseCurrentSubTransaction();
	else
		ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;

	return outcome;
}

/*
 * WaitForNextTry
 *		Sleep until the next try of a waiting acquire: at most
 *		LOCKABLE_WAIT_POLL_MS, and no later than the holder's lease end or the
 *		caller's deadline.  Query cancel and statement_timeout end the wait.
 */
static void
WaitForNextTry(const LockRow *holder, TimestampTz now, TimestampTz deadline)
{
	int64		sleep_us = LOCKABLE_WAIT_POLL_MS * (int64) 1000;

	if (holder->found && holder->expires_at - now < sleep_us)
		sleep_us = holder->expires_at - now;
	if (deadline - now < sleep_us)
		sleep_us = deadline - now;
	if (sleep_us < 1000)
		sleep_us = 1000;

	(void) WaitLatch(MyLatch,
					 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 (long) ((sleep_us + 999) / 1000),
					 PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * lock_acquire(uid text, owner text, ttl interval, wait interval)
 *		RETURNS lockable.lock_status
 *
 * Grants uid to owner for ttl if it is free, released or expired (with a new
 * fencing token), renews it if owner already holds it (same token, new
 * expiry), and otherwise reports the holder with granted = false.  With a
 * positive wait, tries again until granted or wait has passed.
 */
Datum
lock_acquire(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, "uid");
	text	   *owner = GetNameArg(fcinfo, 1, "owner");
	Interval   *ttl = GetIntervalArg(fcinfo, 2, "ttl");
	Interval   *wait = GetIntervalArg(fcinfo, 3, "wait");
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz deadline;
	TimestampTz expires;
	int64		wait_us;
	LockTable	table;
	LockRow		row = {0};
	AcquireOutcome outcome;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false};

	expires = LeaseEnd(ttl, now);
	if (IntervalHasNegativeField(wait))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait cannot be negative"),
				 errdetail("The wait is \"%s\"; none of its fields may be negative.",
						   IntervalText(wait))));
	wait_us = IntervalMicroseconds(wait);
	deadline = (wait_us > DT_NOEND - now) ? DT_NOEND : now + wait_us;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	OpenLockTable(&table, RowExclusiveLock);
	for (;;)
	{
		if (wait_us == 0)
			outcome = TryAcquire(&table, uid, owner, now, expires, &row);
		else
		{
			/* Take no row lock, not even briefly, while the lock is held. */
			Peek(&table, uid, &row);
			if (IsLive(&row, now) && !TextEqual(row.owner, owner))
				outcome = ACQUIRE_REFUSED;
			else
				outcome = TryAcquireInSubtransaction(&table, uid, owner,
													 now, expires, &row);
		}

		if (outcome != ACQUIRE_REFUSED || now >= deadline)
			break;

		WaitForNextTry(&row, now, deadline);
		now = GetCurrentTimestamp();
		expires = TimestampPlusInterval(now, ttl);
	}
	CloseLockTable(&table);

	values[0] = BoolGetDatum(outcome != ACQUIRE_REFUSED);
	values[1] = PointerGetDatum(uid);
	values[2] = PointerGetDatum(row.owner);
	values[3] = Int64GetDatum(row.token);
	nulls[3] = (outcome == ACQUIRE_REFUSED);
	values[4] = TimestampTzGetDatum(row.acquired_at);
	values[5] = TimestampTzGetDatum(row.expires_at);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*---- lock_release, lock_release_all, lock_break ----*/

/*
 * EndLease
 *		Release the lock the last peek saw: no owner, and expires_at the
 *		moment of release.  Returns false, writing nothing, if a concurrent
 *		transaction changed the row first (see UpdateRow).
 */
static bool
EndLease(LockTable *table, LockRow *row, TimestampTz now)
{
	int			cols[2] = {Anum_locks_owner, Anum_locks_expires_at};
	Datum		values[2] = {(Datum) 0, TimestampTzGetDatum(now)};
	bool		nulls[2] = {true, false};

	return UpdateRow(table, row, 2, cols, values, nulls);
}

/*
 * lock_release(uid text, owner text) RETURNS boolean
 *		Returns true if owner held a live lock on uid and it is now released;
 *		false if it was not held, held by another, or already expired.
 */
Datum
lock_release(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, "uid");
	text	   *owner = GetNameArg(fcinfo, 1, "owner");
	TimestampTz now = GetCurrentTimestamp();
	LockTable	table;
	LockRow		row = {0};
	bool		released = false;

	OpenLockTable(&table, RowExclusiveLock);
	for (;;)
	{
		Peek(&table, uid, &row);
		if (!IsLive(&row, now) || !TextEqual(row.owner, owner))
			break;
		if (EndLease(&table, &row, now))
		{
			Announce("released", uid, owner, row.token);
			released = true;
			break;
		}
	}
	CloseLockTable(&table);

	PG_RETURN_BOOL(released);
}

/*
 * lock_release_all(owner text) RETURNS bigint
 *		Releases every live lock of owner; returns how many.
 */
Datum
lock_release_all(PG_FUNCTION_ARGS)
{
	text	   *owner = GetNameArg(fcinfo, 0, "owner");
	Datum		values[2] = {
		PointerGetDatum(owner),
		TimestampTzGetDatum(GetCurrentTimestamp())
	};
	uint64		released;
	bool		isnull;

	SPI_connect();
	released = RunStatement(STMT_RELEASE_ALL, values, NULL);
	for (uint64 i = 0; i < released; i++)
		Announce("released",
				 DatumGetTextPP(ResultDatum(i, 1, &isnull)),
				 owner,
				 DatumGetInt64(ResultDatum(i, 2, &isnull)));
	SPI_finish();

	PG_RETURN_INT64((int64) released);
}

/*
 * lock_break(uid text) RETURNS boolean
 *		An administrator's forced release of whatever live lock uid has.
 *		Returns true if there was one.  EXECUTE is revoked from PUBLIC.
 */
Datum
lock_break(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, "uid");
	LockTable	table;
	LockRow		row = {0};
	bool		broken = false;

	OpenLockTable(&table, RowExclusiveLock);
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();

		Peek(&table, uid, &row);
		if (!IsLive(&row, now))
			break;

		/* Break exactly the grant we saw, so the loser named is right. */
		if (EndLease(&table, &row, now))
		{
			Announce("broken", uid, row.owner, row.token);
			broken = true;
			break;
		}
	}
	CloseLockTable(&table);

	PG_RETURN_BOOL(broken);
}

/*---- lock_owner, lock_verify ----*/

/*
 * lock_owner(uid text) RETURNS text
 *		The live holder of uid, or NULL.
 */
Datum
lock_owner(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, "uid");
	TimestampTz now = GetCurrentTimestamp();
	LockTable	table;
	LockRow		row = {0};

	OpenLockTable(&table, AccessShareLock);
	Peek(&table, uid, &row);
	CloseLockTable(&table);

	if (!IsLive(&row, now))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(row.owner);
}

/*
 * lock_verify(uid text, owner text, token bigint) RETURNS boolean
 *		True if the grant of uid to owner with this fencing token is live.
 */
Datum
lock_verify(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, "uid");
	text	   *owner = GetNameArg(fcinfo, 1, "owner");
	int64		token;
	TimestampTz now;
	LockTable	table;
	LockRow		row = {0};

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lock token cannot be null")));
	token = PG_GETARG_INT64(2);
	now = GetCurrentTimestamp();

	OpenLockTable(&table, AccessShareLock);
	Peek(&table, uid, &row);
	CloseLockTable(&table);

	PG_RETURN_BOOL(IsLive(&row, now) && TextEqual(row.owner, owner) &&
				   row.token == token);
}

/*---- lock_sweep ----*/

/*
 * lock_sweep(older_than interval) RETURNS bigint
 *		Deletes the rows of locks that ended (were released, or expired) at
 *		least older_than ago; returns how many.  Live locks are never touched,
 *		and tokens keep growing because they come from a sequence.
 */
Datum
lock_sweep(PG_FUNCTION_ARGS)
{
	Interval   *older_than = GetIntervalArg(fcinfo, 0, "older_than");
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz cutoff;
	Datum		values[1];
	uint64		deleted;

	if (IntervalHasNegativeField(older_than))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than cannot be negative"),
				 errdetail("The interval is \"%s\"; none of its fields may be negative.",
						   IntervalText(older_than))));

	/*
	 * An older_than reaching back past the start of the timestamp range (with
	 * a wide margin for calendar months) matches nothing; don't let the
	 * subtraction overflow.
	 */
	if (IntervalMicroseconds(older_than) > (now - MIN_TIMESTAMP) / 2)
		cutoff = DT_NOBEGIN;
	else
		cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
														 TimestampTzGetDatum(now),
														 IntervalPGetDatum(older_than)));
	values[0] = TimestampTzGetDatum(cutoff);

	SPI_connect();
	deleted = RunStatement(STMT_SWEEP, values, NULL);
	SPI_finish();

	PG_RETURN_INT64((int64) deleted);
}
