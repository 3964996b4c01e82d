/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  The lease-lock functions: lock_acquire, lock_release, lock_owner,
 *	  lock_verify, lock_release_all, lock_break and lock_sweep.
 *
 * State lives in lockable.locks, one row per uid.  Every function reads and
 * writes that table through SPI plans prepared once per backend, so there is
 * no session state: any call may land on any backend (a transaction-pooling
 * pooler is fine).
 *
 * Protocol.  Each write is a compare-and-set: the function first reads the
 * row without locking it ("peek"), decides from what it saw, and then runs
 * an UPDATE (or INSERT ... ON CONFLICT DO NOTHING) whose WHERE clause states
 * the same condition.  If a concurrent transaction changed the row in
 * between, READ COMMITTED's re-check makes the write touch no row, and the
 * function peeks again; so the answer always reflects committed state at the
 * moment of the call.  A refusal is decided from the peek alone, which takes
 * no row lock: a caller that is refused blocks nobody.
 *
 * Snapshots.  In READ COMMITTED every statement sees the latest committed
 * state anyway.  In REPEATABLE READ and SERIALIZABLE the functions read with
 * the latest snapshot and write with the transaction snapshot as cross-check
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

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#if PG_VERSION_NUM >= 140000
#include "utils/wait_event.h"
#else
#include "pgstat.h"
#endif

/* Longest sleep between two tries of a waiting lock_acquire. */
#define LOCKABLE_WAIT_POLL_MS 10

/*---- Prepared statements ----*/

/*
 * Every statement the lock functions run.  Their plans are prepared on first
 * use and kept for the life of the backend.  The functions run with
 * search_path pinned to pg_catalog, and every object is schema-qualified.
 */
typedef enum LockStatement
{
	STMT_PEEK,
	STMT_INSERT,
	STMT_GRANT,
	STMT_RENEW,
	STMT_RELEASE,
	STMT_OWNER,
	STMT_VERIFY,
	STMT_RELEASE_ALL,
	STMT_BREAK,
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
	[STMT_PEEK] = {
		"SELECT owner, token, acquired_at, expires_at"
		"  FROM lockable.locks WHERE uid = $1",
		1, {TEXTOID}
	},
	/* $1 uid, $2 owner, $3 now, $4 expiry */
	[STMT_INSERT] = {
		"INSERT INTO lockable.locks (uid, owner, token, acquired_at, expires_at)"
		" VALUES ($1, $2, pg_catalog.nextval('lockable.token_seq'), $3, $4)"
		" ON CONFLICT (uid) DO NOTHING RETURNING token",
		4, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	[STMT_GRANT] = {
		"UPDATE lockable.locks"
		"   SET owner = $2, token = pg_catalog.nextval('lockable.token_seq'),"
		"       acquired_at = $3, expires_at = $4"
		" WHERE uid = $1 AND (owner IS NULL OR expires_at <= $3)"
		" RETURNING token",
		4, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	[STMT_RENEW] = {
		"UPDATE lockable.locks SET expires_at = $4"
		" WHERE uid = $1 AND owner = $2 AND expires_at > $3"
		" RETURNING token, acquired_at",
		4, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	/* $1 uid, $2 owner, $3 now */
	[STMT_RELEASE] = {
		"UPDATE lockable.locks SET owner = NULL, expires_at = $3"
		" WHERE uid = $1 AND owner = $2 AND expires_at > $3"
		" RETURNING token",
		3, {TEXTOID, TEXTOID, TIMESTAMPTZOID}
	},
	/* $1 uid, $2 now */
	[STMT_OWNER] = {
		"SELECT owner FROM lockable.locks"
		" WHERE uid = $1 AND owner IS NOT NULL AND expires_at > $2",
		2, {TEXTOID, TIMESTAMPTZOID}
	},
	/* $1 uid, $2 owner, $3 token, $4 now */
	[STMT_VERIFY] = {
		"SELECT 1 FROM lockable.locks"
		" WHERE uid = $1 AND owner = $2 AND token = $3 AND expires_at > $4",
		4, {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID}
	},
	/* $1 owner, $2 now */
	[STMT_RELEASE_ALL] = {
		"UPDATE lockable.locks SET owner = NULL, expires_at = $2"
		" WHERE owner = $1 AND expires_at > $2"
		" RETURNING uid, token",
		2, {TEXTOID, TIMESTAMPTZOID}
	},
	/* $1 uid, $2 token, $3 now */
	[STMT_BREAK] = {
		"UPDATE lockable.locks SET owner = NULL, expires_at = $3"
		" WHERE uid = $1 AND token = $2"
		"   AND owner IS NOT NULL AND expires_at > $3",
		3, {TEXTOID, INT8OID, TIMESTAMPTZOID}
	},
	/* $1 cutoff: a lock that ended at or before it is deleted */
	[STMT_SWEEP] = {
		"DELETE FROM lockable.locks WHERE expires_at <= $1",
		1, {TIMESTAMPTZOID}
	},
};

static SPIPlanPtr lock_plans[NUM_LOCK_STATEMENTS];

/*---- The row of one uid, as a peek saw it ----*/

typedef struct LockRow
{
	bool		found;			/* is there a row for the uid? */
	text	   *owner;			/* NULL if released */
	int64		token;
	TimestampTz acquired_at;
	TimestampTz expires_at;
} LockRow;

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

/*
 * Peek
 *		Read the row of uid without locking it.  The owner is copied into the
 *		memory context that was current before SPI_connect.
 */
static void
Peek(text *uid, LockRow *row)
{
	Datum		values[1] = {PointerGetDatum(uid)};
	bool		isnull;

	memset(row, 0, sizeof(LockRow));
	if (RunStatement(STMT_PEEK, values, NULL) == 1)
	{
		Datum		owner = ResultDatum(0, 1, &isnull);

		row->found = true;
		row->owner = isnull ? NULL :
			DatumGetTextPP(SPI_datumTransfer(owner, false, -1));
		row->token = DatumGetInt64(ResultDatum(0, 2, &isnull));
		row->acquired_at = DatumGetTimestampTz(ResultDatum(0, 3, &isnull));
		row->expires_at = DatumGetTimestampTz(ResultDatum(0, 4, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
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
 * TryAcquire
 *		One attempt to grant or renew uid for owner at "now".  On return,
 *		*row describes the lock as granted, renewed, or held by another.
 */
static AcquireOutcome
TryAcquire(text *uid, text *owner, TimestampTz now, TimestampTz expires,
		   LockRow *row)
{
	Datum		values[4] = {
		PointerGetDatum(uid),
		PointerGetDatum(owner),
		TimestampTzGetDatum(now),
		TimestampTzGetDatum(expires)
	};
	bool		isnull;

	for (;;)
	{
		LockStatement stmt;
		bool		renewing;

		Peek(uid, row);
		if (IsLive(row, now) && !TextEqual(row->owner, owner))
			return ACQUIRE_REFUSED;

		renewing = IsLive(row, now);
		stmt = !row->found ? STMT_INSERT : renewing ? STMT_RENEW : STMT_GRANT;
		if (RunStatement(stmt, values, NULL) == 1)
		{
			row->found = true;
			row->owner = owner;
			row->token = DatumGetInt64(ResultDatum(0, 1, &isnull));
			row->expires_at = expires;
			if (renewing)
				row->acquired_at = DatumGetTimestampTz(ResultDatum(0, 2, &isnull));
			else
			{
				row->acquired_at = now;
				Announce("acquired", uid, owner, row->token);
			}
			SPI_freetuptable(SPI_tuptable);
			return renewing ? ACQUIRE_RENEWED : ACQUIRE_GRANTED;
		}
		SPI_freetuptable(SPI_tuptable);

		/*
		 * A concurrent transaction changed or created the row between the
		 * peek and the write, and has committed: look again.
		 */
	}
}

/*
 * TryAcquireInSubtransaction
 *		TryAcquire inside a subtransaction that is rolled back unless the lock
 *		was granted, so a failed try leaves no row lock behind: a waiter must
 *		never make the holder's release wait for it.
 */
static AcquireOutcome
TryAcquireInSubtransaction(text *uid, text *owner, TimestampTz now,
						   TimestampTz expires, LockRow *row)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	AcquireOutcome outcome;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		outcome = TryAcquire(uid, owner, now, expires, row);
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
	LockRow		row;
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

	SPI_connect();
	for (;;)
	{
		if (wait_us == 0)
			outcome = TryAcquire(uid, owner, now, expires, &row);
		else
		{
			/* Take no row lock, not even briefly, while the lock is held. */
			Peek(uid, &row);
			if (IsLive(&row, now) && !TextEqual(row.owner, owner))
				outcome = ACQUIRE_REFUSED;
			else
				outcome = TryAcquireInSubtransaction(uid, owner, now, expires,
													 &row);
		}

		if (outcome != ACQUIRE_REFUSED || now >= deadline)
			break;

		WaitForNextTry(&row, now, deadline);
		now = GetCurrentTimestamp();
		expires = TimestampPlusInterval(now, ttl);
	}
	SPI_finish();

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
 * lock_release(uid text, owner text) RETURNS boolean
 *		Returns true if owner held a live lock on uid and it is now released;
 *		false if it was not held, held by another, or already expired.
 */
Datum
lock_release(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, "uid");
	text	   *owner = GetNameArg(fcinfo, 1, "owner");
	Datum		values[3] = {
		PointerGetDatum(uid),
		PointerGetDatum(owner),
		TimestampTzGetDatum(GetCurrentTimestamp())
	};
	bool		released;
	bool		isnull;

	SPI_connect();
	released = (RunStatement(STMT_RELEASE, values, NULL) == 1);
	if (released)
		Announce("released", uid, owner,
				 DatumGetInt64(ResultDatum(0, 1, &isnull)));
	SPI_finish();

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
	bool		broken = false;
	LockRow		row;

	SPI_connect();
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		Datum		values[3];

		Peek(uid, &row);
		if (!IsLive(&row, now))
			break;

		/* Break exactly the grant we saw, so the loser named is right. */
		values[0] = PointerGetDatum(uid);
		values[1] = Int64GetDatum(row.token);
		values[2] = TimestampTzGetDatum(now);
		if (RunStatement(STMT_BREAK, values, NULL) == 1)
		{
			Announce("broken", uid, row.owner, row.token);
			broken = true;
			break;
		}
	}
	SPI_finish();

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
	Datum		values[2] = {
		PointerGetDatum(uid),
		TimestampTzGetDatum(GetCurrentTimestamp())
	};
	Datum		owner = (Datum) 0;
	bool		found;
	bool		isnull;

	SPI_connect();
	found = (RunStatement(STMT_OWNER, values, NULL) == 1);
	if (found)
		owner = SPI_datumTransfer(ResultDatum(0, 1, &isnull), false, -1);
	SPI_finish();

	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(owner);
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
	Datum		values[4];
	bool		live;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lock token cannot be null")));

	values[0] = PointerGetDatum(uid);
	values[1] = PointerGetDatum(owner);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = TimestampTzGetDatum(GetCurrentTimestamp());

	SPI_connect();
	live = (RunStatement(STMT_VERIFY, values, NULL) == 1);
	SPI_finish();

	PG_RETURN_BOOL(live);
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
