/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  The lease-lock functions: lock_acquire, lock_release, lock_owner,
 *	  lock_verify, lock_release_all, lock_break, lock_sweep, and
 *	  verify_installation.
 *
 * This file owns the SQL-callable contract of these functions: the lease
 * rules, what each call returns, which notifications and history rows it
 * makes (the argument checks and the notifications themselves are
 * calls.c's, the history history.c's, the owner lock owners.c's).  The
 * storage of lockable.locks, and the compare-and-set protocol every write
 * follows, are lock_table.c's (see lock_table.h); the waiting line and its
 * hand-off rule are queue.c's (see queue.h).  There is no session state:
 * any call may land on any backend (a transaction-pooling pooler is fine).
 *
 * The line.  lock_acquire(..., queue => true) by an owner the lock is held
 * against takes (or renews) a place; a lock that ends (release, release_all,
 * break) is handed to the first live place in the same transaction; a lock
 * that expired with a live place waiting is handed on by the next call that
 * writes on its uid (acquire by anyone, release, break, sweep), which then
 * does its own work against the new holder.  While the line has a live
 * place, nobody but its head is granted the lock (no barging).  lock_owner,
 * lock_verify and the views only read: they report the live holder, NULL
 * for an expired lock, and hand nothing on.
 *
 * Waiting.  lock_acquire with a wait peeks, and only when the lock looks
 * free does it try to take it, inside a subtransaction that is rolled back
 * if the try fails, so that no row lock outlives a failed try and the
 * holder's release never waits for a waiter.  Between tries it sleeps
 * (wait.c): on a condition variable until a commit that may free the lock
 * when the library is preloaded, polling otherwise; at the latest until the
 * holder's lease ends; and it honours query cancel and statement_timeout.
 * Every call that may free a lock or move its line marks the uid for the
 * waiters' wake-up at commit (WaitSignalAtCommit).  The
 * wait bounds the whole call: a try that finds the row being changed by an
 * open transaction waits for it only until the deadline (its lock waits run
 * under a lock_timeout that ends there, or sooner at the session's own
 * lock_timeout, after which the call tries again), and at the deadline the
 * call returns the last committed holder.  Under REPEATABLE READ and SERIALIZABLE a waiting
 * acquire is refused up front: the release it waits for would commit after
 * the transaction's snapshot, so the wait could only end in 40001.
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
#include "access/xlog.h"
#include "commands/async.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/wait_event.h"

#include "calls.h"
#include "citus.h"
#include "history.h"
#include "lock_table.h"
#include "notify.h"
#include "owners.h"
#include "presence.h"
#include "queue.h"
#include "wait.h"

typedef enum AcquireOutcome
{
	ACQUIRE_GRANTED,			/* a fresh grant with a new token */
	ACQUIRE_RENEWED,			/* the owner's live lock, extended */
	ACQUIRE_REFUSED				/* held by another owner */
} AcquireOutcome;

PG_FUNCTION_INFO_V1(lock_acquire);
PG_FUNCTION_INFO_V1(lock_acquire_1_2);
PG_FUNCTION_INFO_V1(lock_release);
PG_FUNCTION_INFO_V1(lock_owner);
PG_FUNCTION_INFO_V1(lock_verify);
PG_FUNCTION_INFO_V1(lock_release_all);
PG_FUNCTION_INFO_V1(lock_break);
PG_FUNCTION_INFO_V1(lock_sweep);
PG_FUNCTION_INFO_V1(verify_installation);

/*---- lock_acquire ----*/

/*
 * TryAcquire
 *		One attempt to grant or renew uid for owner for ttl, or, with queue,
 *		to take or keep a place in line when another owner holds it.  The
 *		clock is read for each decision, so a lease granted after a wait for
 *		a concurrent writer starts when it is granted; *now is the time of
 *		the last one.  On return, state describes the lock as granted,
 *		renewed, or held by another (handed on first, if it had expired
 *		with a live place waiting), and *position the caller's place (0:
 *		none).
 */
static AcquireOutcome
TryAcquire(Tables *tables, UidState *state, text *uid, text *owner,
		   Interval *ttl, bool queue, TimestampTz *nowp, int *position)
{
	LockTable  *locks = &tables->locks;
	LineTable  *line = &tables->line;

	/*
	 * Each "continue" below: a concurrent transaction changed the uid
	 * between the read and the write, and has committed; or this call handed
	 * an expired lock on and now does its own work.  Look again.
	 */
	for (;;)
	{
		int64		token;
		int			head;
		text	   *lost;
		int64		lost_token;
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz expires = TimestampPlusInterval(now, ttl);

		*nowp = now;
		UidRead(locks, line, uid, state);
		*position = 0;

		if (!state->lock.found)
		{
			/* No row: no lock and no line.  Make a free one, and grant it. */
			(void) LockTableInsert(locks, uid, now);
			continue;
		}

		if (LockRowIsLive(&state->lock, now))
		{
			LockValues	values = state->lock.v;
			int			mine;

			if (TextEqual(values.owner, owner))
			{
				/*
				 * The owner's own live lock: only the expiry moves.  Waiters
				 * sleep until the lease they saw ends: wake them if it now
				 * ends sooner.
				 */
				if (expires < values.expires_at)
					WaitSignalAtCommit(uid);
				values.expires_at = expires;
				if (LockTableWrite(locks, &state->lock, &values,
								   true) != LOCK_WRITE_OK)
					continue;
				return ACQUIRE_RENEWED;
			}

			/* Held by another. */
			mine = LineFind(state, owner);
			if (mine >= 0 && PlaceIsLive(&state->places[mine], now))
			{
				if (queue &&
					LineRenewPlace(locks, line, state, mine, ttl,
								   now) != LOCK_WRITE_OK)
					continue;
				*position = LinePosition(state, mine, now);
			}
			else if (queue)
			{
				if (OwnerLockForGrant(owner))
					continue;
				if (LineJoin(locks, line, state, owner, ttl, now,
							 position) != LOCK_WRITE_OK)
					continue;
				HistoryRecord(locks, "place_taken", uid, owner, -1, NULL, NULL);
				Announce("queued", uid, owner, -1, *position,
						 LineWaiters(state, now));
			}
			return ACQUIRE_REFUSED;
		}

		/* Free, released or expired. */
		lost = state->lock.v.owner;
		lost_token = state->lock.v.token;
		head = LineHead(state, now);
		if (head >= 0 && !TextEqual(state->places[head].owner, owner))
		{
			HandOff		handoff;

			/* The lock belongs to the line: hand it on, then look again. */
			if (LineHandOff(locks, line, state, now, false, NULL,
							&handoff) != LOCK_WRITE_OK)
				continue;
			AnnounceHandOff(locks, state, lost, lost_token, &handoff, now,
							"expiry_hand_off");
			continue;
		}

		/* The line is empty, or the caller is its head: a fresh grant. */
		if (OwnerLockForGrant(owner))
			continue;
		token = LockTableNewToken(locks, state->lock.v.token);
		if (LineGrant(locks, line, state, owner, token, now,
					  expires) != LOCK_WRITE_OK)
			continue;
		HistoryRecord(locks, head >= 0 && lost != NULL ? "expiry_hand_off" : "grant",
					  uid, owner, token, lost, NULL);
		if (head >= 0 && lost != NULL)
			Announce("expired", uid, lost, lost_token, 0,
					 LineWaiters(state, now));
		Announce("acquired", uid, owner, token, 0, LineWaiters(state, now));
		return ACQUIRE_GRANTED;
	}
}

/*
 * RefusedWithoutTry
 *		For a waiting acquire: whether the lock, as last read, is certainly
 *		not for owner now (held by another, or expired with someone else at
 *		the head of its line), so that no try, and no row lock, is needed.
 */
static bool
RefusedWithoutTry(UidState *state, text *owner, TimestampTz now)
{
	int			head;

	if (LockRowIsLive(&state->lock, now))
		return !TextEqual(state->lock.v.owner, owner);
	head = LineHead(state, now);
	return head >= 0 && !TextEqual(state->places[head].owner, owner);
}

/*
 * WakeTime
 *		When a waiter refused on the state it read should look again if no
 *		commit wakes it first: when the last lease that keeps the lock from a
 *		newcomer ends (the holder's, and every live place's, since a newcomer
 *		is never let in before the line), or at the deadline.
 */
static TimestampTz
WakeTime(const UidState *state, TimestampTz now, TimestampTz deadline)
{
	TimestampTz wake = 0;

	if (LockRowIsLive(&state->lock, now))
		wake = state->lock.v.expires_at;
	for (int i = 0; i < state->nplaces; i++)
		if (PlaceIsLive(&state->places[i], now) &&
			state->places[i].expires_at > wake)
			wake = state->places[i].expires_at;
	return wake == 0 || wake > deadline ? deadline : wake;
}

/*
 * BoundLockWaits
 *		Make the lock waits of the current GUC nest level end after at most
 *		remaining_us, with a lock_timeout, unless the session's own
 *		lock_timeout already ends them sooner.
 */
static void
BoundLockWaits(int64 remaining_us)
{
	int64		ms = (remaining_us + 999) / 1000;
	char		value[32];

	if (ms < 1)
		ms = 1;
	if (ms > INT_MAX)
		ms = INT_MAX;
	if (LockTimeout > 0 && LockTimeout <= ms)
		return;

	snprintf(value, sizeof(value), INT64_FORMAT, ms);
	(void) set_config_option("lock_timeout", value, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * TryAcquireBounded
 *		TryAcquire inside a subtransaction that is rolled back unless the lock
 *		was granted, so a failed try leaves no row lock behind (a waiter must
 *		never make the holder's release wait for it), and whose lock waits
 *		end at the caller's deadline, or sooner at the session's
 *		lock_timeout.  If a lock wait ended that way, *busy is set: an open
 *		transaction is changing the row, and the outcome is ACQUIRE_REFUSED
 *		with *state not filled in.  A waiting acquire never queues.  The
 *		last try of a wait (last) keeps what a refused try wrote (a
 *		hand-off to the line), so that the refusal it reports happened.
 */
static AcquireOutcome
TryAcquireBounded(Tables *tables, UidState *state, text *uid, text *owner,
				  Interval *ttl, TimestampTz *nowp, TimestampTz deadline,
				  bool last, int *position, bool *busy)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	AcquireOutcome outcome = ACQUIRE_REFUSED;
	uint64		writes = tables->locks.writes;

	*busy = false;

	/*
	 * What the try may open must outlive its subtransaction: lockable.places
	 * is opened on first need, and a line can appear between the caller's
	 * look and the try's read.
	 */
	if (tables->locks.has_line && tables->line.heap == NULL)
	{
		int			nestlevel = NewGUCNestLevel();

		BoundLockWaits(deadline - *nowp);
		LineTableEnsureOpen(&tables->line, tables->locks.writing);
		AtEOXact_GUC(true, nestlevel);
	}
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		int			nestlevel = NewGUCNestLevel();

		BoundLockWaits(deadline - *nowp);
		outcome = TryAcquire(tables, state, uid, owner, ttl, false, nowp,
							 position);
		AtEOXact_GUC(true, nestlevel);

		/*
		 * What the try pinned (the read's snapshot, the executor state of
		 * a write) belongs to the subtransaction's resource owner.
		 */
		LockRowForgetSnapshot(&state->lock, true);
		LockTableFinishWrites(&tables->locks);
		LineTableFinishWrites(&tables->line);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * Close our subtransaction before the error travels on, so that
		 * whoever catches it (the top level, a savepoint, a PL/pgSQL
		 * exception block) finds its own transaction state on top.  Its
		 * resource owner releases what the try pinned.
		 */
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();

		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		LockRowForgetSnapshot(&state->lock, false);
		LockTableForgetWrites(&tables->locks);
		LineTableForgetWrites(&tables->line);
		tables->locks.writes = writes;

		if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		{
			/*
			 * A lock wait for an open transaction ran out.  When the
			 * statement's own timeout ran out at the same moment, PostgreSQL
			 * reports only one of the two: do not let it be lost.
			 */
			FreeErrorData(edata);
			if (StatementTimeout > 0 && get_timeout_active(STATEMENT_TIMEOUT) &&
				get_timeout_finish_time(STATEMENT_TIMEOUT) <= GetCurrentTimestamp())
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("canceling statement due to statement timeout")));
			*busy = true;
			return ACQUIRE_REFUSED;
		}
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (outcome == ACQUIRE_REFUSED &&
		!(last && tables->locks.writes != writes))
	{
		RollbackAndReleaseCurrentSubTransaction();
		tables->locks.writes = writes;
	}
	else
		ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;

	return outcome;
}

/*
 * Acquire
 *		The body of lock_acquire, with or without the queue argument (1.2),
 *		returning a lock_status of either shape: six attributes up to 1.1,
 *		eight (waiters, position) from 1.2.
 */
static Datum
Acquire(FunctionCallInfo fcinfo, bool queue)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *owner = GetNameArg(fcinfo, 1, ARG_OWNER);
	Interval   *ttl = GetIntervalArg(fcinfo, 2, ARG_TTL);
	Interval   *wait = GetIntervalArg(fcinfo, 3, ARG_WAIT);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz deadline;
	int64		wait_us;
	Tables		tables;
	UidState	state = {0};
	AcquireOutcome outcome;
	int			position = 0;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};
	bool		live;
	HeapTuple	result;

	(void) LeaseEnd(ttl, now);	/* checks the ttl */
	if (IntervalHasNegativeField(wait))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait cannot be negative"),
				 errdetail("The wait is \"%s\"; none of its fields may be negative.",
						   IntervalText(wait))));
	wait_us = IntervalMicroseconds(wait);
	if (wait_us > 0 && queue)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lock_acquire cannot both wait and queue"),
				 errdetail("A waiting acquire has not committed, so no one else could see its place in line."),
				 errhint("Queue with wait => '0' and renew the place by calling again, or wait without queue.")));
	if (wait_us > 0 && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a waiting lock_acquire cannot run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("The release it would wait for commits after the transaction's snapshot, so the wait could only end in a serialization failure."),
				 errhint("Wait in a READ COMMITTED transaction, or call lock_acquire with wait => '0' and retry the transaction.")));
	deadline = (wait_us > DT_NOEND - now) ? DT_NOEND : now + wait_us;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (wait_us > 0)
	{
		/*
		 * The wait bounds the whole call, the wait for the tables' own
		 * locks too (behind a VACUUM FULL, or pg_repack's swap): 55P03 if
		 * they cannot be had in time.
		 */
		int			nestlevel = NewGUCNestLevel();

		BoundLockWaits(wait_us);
		TablesOpen(&tables, uid, "lock_acquire", true);
		AtEOXact_GUC(true, nestlevel);
	}
	else
		TablesOpen(&tables, uid, "lock_acquire", true);
	if (queue && !tables.locks.has_line)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the waiting line needs version 1.2 of extension \"lockable\""),
				 errhint("Run ALTER EXTENSION lockable UPDATE.")));
	if (wait_us > 0)
		WaitBegin(uid);
	for (;;)
	{
		bool		busy = false;

		/* At the end of the bound, one last try that does not wait. */
		bool		last = wait_us > 0 && now >= deadline;

		if (wait_us == 0)
			outcome = TryAcquire(&tables, &state, uid, owner, ttl, queue,
								 &now, &position);
		else
		{
			/* Take no row lock, not even briefly, while the lock is held. */
			UidRead(&tables.locks, &tables.line, uid, &state);
			LockRowForgetSnapshot(&state.lock, true);
			if (!last && RefusedWithoutTry(&state, owner, now))
			{
				outcome = ACQUIRE_REFUSED;
				position = 0;
				if (LineFind(&state, owner) >= 0 &&
					PlaceIsLive(&state.places[LineFind(&state, owner)], now))
					position = LinePosition(&state, LineFind(&state, owner), now);
			}
			else
				outcome = TryAcquireBounded(&tables, &state, uid, owner, ttl,
											&now, last ? now : deadline, last,
											&position, &busy);
			if (busy)
			{
				/* Report the last committed holder, if this was the last try. */
				UidRead(&tables.locks, &tables.line, uid, &state);
				LockRowForgetSnapshot(&state.lock, true);
				now = GetCurrentTimestamp();
			}
		}

		if (outcome != ACQUIRE_REFUSED || wait_us == 0 || last)
			break;
		if (now >= deadline)
			continue;

		/* Until a commit that may free it, a lease that ends, or the bound. */
		WaitSleep(now, WakeTime(&state, now, deadline));
		now = GetCurrentTimestamp();
	}
	if (wait_us > 0)
		WaitEnd();

	/*
	 * A refusal reports the live holder, who is never the caller (the last
	 * try of a wait hands an expired lock to its line first).  With none,
	 * because an open transaction was changing the lock when the bound
	 * ended, the holder's fields are NULL.
	 */
	live = outcome != ACQUIRE_REFUSED ||
		(LockRowIsLive(&state.lock, now) &&
		 !TextEqual(state.lock.v.owner, owner));
	values[0] = BoolGetDatum(outcome != ACQUIRE_REFUSED);
	values[1] = PointerGetDatum(uid);
	values[2] = PointerGetDatum(state.lock.v.owner);
	nulls[2] = !live;
	values[3] = Int64GetDatum(state.lock.v.token);
	nulls[3] = (outcome == ACQUIRE_REFUSED);
	values[4] = TimestampTzGetDatum(state.lock.v.acquired_at);
	nulls[4] = !live;
	values[5] = TimestampTzGetDatum(state.lock.v.expires_at);
	nulls[5] = !live;
	if (tupdesc->natts >= 8)
	{
		values[6] = Int32GetDatum(LineWaiters(&state, now));
		values[7] = Int32GetDatum(position);
		nulls[7] = (position <= 0);
	}
	result = heap_form_tuple(tupdesc, values, nulls);
	UidRelease(&state);
	TablesClose(&tables);

	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/*
 * lock_acquire(uid text, owner text, ttl interval, wait interval)
 *		RETURNS lockable.lock_status
 *
 * The entry point of 1.0 and 1.1 (and of their catalogs under a newer
 * library): grants uid to owner for ttl if it is free, released or expired
 * (with a new fencing token), renews it if owner already holds it (same
 * token, new expiry), and otherwise reports the holder with granted =
 * false.  With a positive wait, tries again until granted or wait has
 * passed.
 */
Datum
lock_acquire(PG_FUNCTION_ARGS)
{
	return Acquire(fcinfo, false);
}

/*
 * lock_acquire(uid text, owner text, ttl interval, wait interval,
 *				queue boolean) RETURNS lockable.lock_status
 *
 * The entry point of 1.2: as above, and with queue, when another owner
 * holds the lock, takes a place at the end of its line or renews the place
 * it has; the result carries the line's length (waiters) and the caller's
 * place (position).  Waiting and queueing exclude each other (22023).
 */
Datum
lock_acquire_1_2(PG_FUNCTION_ARGS)
{
	/*
	 * A call stored before the update (a view, a SQL-standard function body)
	 * has the four arguments of the old signature, defaults filled in.
	 */
	if (PG_NARGS() < 5)
		return Acquire(fcinfo, false);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue cannot be null")));
	return Acquire(fcinfo, PG_GETARG_BOOL(4));
}

/*---- lock_release, lock_release_all, lock_break ----*/

/*
 * Release
 *		Release owner's live lock on uid (handing it to the head of the
 *		line), or give up owner's place in uid's line.  Returns true if
 *		owner released a live lock or gave up a live place.
 */
static bool
Release(Tables *tables, text *uid, text *owner)
{
	LockTable  *locks = &tables->locks;
	LineTable  *line = &tables->line;
	UidState	state = {0};
	bool		done = false;

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		HandOff		handoff;
		int			mine;

		UidRead(locks, line, uid, &state);
		if (!state.lock.found)
			break;

		if (LockRowIsLive(&state.lock, now) &&
			TextEqual(state.lock.v.owner, owner))
		{
			int64		token = state.lock.v.token;

			if (LineHandOff(locks, line, &state, now, true, NULL,
							&handoff) != LOCK_WRITE_OK)
				continue;
			HistoryRecord(locks, "release", uid, owner, token, NULL, NULL);
			Announce("released", uid, owner, token, 0,
					 LineWaiters(&state, now));
			if (handoff.handed)
			{
				HistoryRecord(locks, "grant", uid, handoff.holder,
							  handoff.token, owner, "hand-off");
				Announce("acquired", uid, handoff.holder, handoff.token, 0,
						 LineWaiters(&state, now));
			}
			done = true;
			break;
		}

		mine = LineFind(&state, owner);
		if (!LockRowIsLive(&state.lock, now) && LineHead(&state, now) >= 0)
		{
			/*
			 * The lock expired and belongs to the line: hand it on, never to
			 * owner, who is leaving.
			 */
			text	   *lost = state.lock.v.owner;
			int64		lost_token = state.lock.v.token;
			bool		left = mine >= 0 && PlaceIsLive(&state.places[mine], now);

			if (LineHandOff(locks, line, &state, now, false, owner,
							&handoff) != LOCK_WRITE_OK)
				continue;
			if (left)
				HistoryRecord(locks, "place_left", uid, owner, -1, NULL, NULL);
			if (handoff.handed)
				HistoryRecord(locks, "expiry_hand_off", uid, handoff.holder,
							  handoff.token, lost, NULL);
			if (lost != NULL && handoff.handed)
				Announce("expired", uid, lost, lost_token, 0,
						 LineWaiters(&state, now));
			if (left)
				Announce("left", uid, owner, -1, 0, LineWaiters(&state, now));
			if (handoff.handed)
				Announce("acquired", uid, handoff.holder, handoff.token, 0,
						 LineWaiters(&state, now));
			done = left;
			break;
		}

		if (mine >= 0)
		{
			bool		left = PlaceIsLive(&state.places[mine], now);

			if (LineLeave(locks, line, &state, mine) != LOCK_WRITE_OK)
				continue;
			if (left)
			{
				HistoryRecord(locks, "place_left", uid, owner, -1, NULL, NULL);
				Announce("left", uid, owner, -1, 0, LineWaiters(&state, now));
			}
			done = left;
		}
		break;
	}
	UidRelease(&state);
	return done;
}

/*
 * lock_release(uid text, owner text) RETURNS boolean
 *		Releases owner's live lock on uid, handing it to the head of the
 *		line if one waits, or gives up owner's place in that line.  Returns
 *		true if owner released a live lock or gave up a live place; false if
 *		it had neither (not held, held by another, already expired).
 */
Datum
lock_release(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *owner = GetNameArg(fcinfo, 1, ARG_OWNER);
	Tables		tables;
	bool		released;

	TablesOpen(&tables, uid, "lock_release", true);
	released = Release(&tables, uid, owner);
	TablesClose(&tables);

	PG_RETURN_BOOL(released);
}

/*
 * UidCompare
 *		The one order in which lock_release_all locks the rows of uids, byte
 *		by byte, so that two of them never wait for each other's rows.
 */
static int
UidCompare(const void *a, const void *b)
{
	const text *x = *(text *const *) a;
	const text *y = *(text *const *) b;
	int			xlen = VARSIZE_ANY_EXHDR(x);
	int			ylen = VARSIZE_ANY_EXHDR(y);
	int			cmp = memcmp(VARDATA_ANY(x), VARDATA_ANY(y), Min(xlen, ylen));

	if (cmp != 0)
		return cmp;
	return (xlen > ylen) - (xlen < ylen);
}

/*
 * lock_release_all(owner text) RETURNS bigint
 *		Releases every live lock of owner and gives up every place it has in
 *		a line; returns how many of both.  It also ends owner's presence
 *		leases (presence.c), which it does not count.  It is atomic against owner's
 *		other calls: when it commits, owner holds nothing, whatever other
 *		sessions of owner did meanwhile (owners.c); and it locks its rows in
 *		one global order, so that concurrent calls never deadlock.
 */
Datum
lock_release_all(PG_FUNCTION_ARGS)
{
	text	   *owner = GetNameArg(fcinfo, 0, ARG_OWNER);
	TimestampTz now;
	text	  **held;
	text	  **queued = NULL;
	text	  **uids;
	int			nheld;
	int			nqueued = 0;
	int			nuids = 0;
	Snapshot	snapshot;
	Tables		tables;
	int64		count = 0;
	bool		distributed = LockTableDistributed();

	/*
	 * First wait for owner's grants in flight; then read what it holds and
	 * where it waits, both with one snapshot taken after the wait: a place
	 * that a hand-off turns into a lock between two reads would be in
	 * neither.  Every uid read is then released on its latest version.
	 */
	OwnerLockForReleaseAll(owner);
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	now = GetCurrentTimestamp();
	nheld = LockTableUidsHeldBy(owner, now, snapshot, &held);
	TablesOpen(&tables, NULL, NULL, !distributed);
	if (tables.locks.has_line)
		nqueued = LineUidsOf(owner, snapshot, &queued);
	UnregisterSnapshot(snapshot);

	uids = palloc(sizeof(text *) * Max(nheld + nqueued, 1));
	for (int i = 0; i < nheld; i++)
		uids[nuids++] = held[i];
	for (int i = 0; i < nqueued; i++)
		uids[nuids++] = queued[i];
	qsort(uids, nuids, sizeof(text *), UidCompare);

	for (int i = 0; i < nuids; i++)
	{
		/* An owner may hold many: let cancel and statement_timeout in. */
		CHECK_FOR_INTERRUPTS();
		/* A uid both held and queued for is released once. */
		if (i > 0 && UidCompare(&uids[i], &uids[i - 1]) == 0)
			continue;
		/* On Citus, the uid's shards. */
		if (distributed)
		{
			TablesClose(&tables);
			TablesOpen(&tables, uids[i], "lock_release_all", true);
		}
		if (Release(&tables, uids[i], owner))
			count++;
	}
	TablesClose(&tables);
	/* and its presence leases (presence.c) */
	(void) PresenceLeaveAll(owner, now);

	/* On the Citus coordinator: and on every worker, for their shards. */
	if (distributed && CitusLocalGroupId() == 0)
		count += CitusRunOnWorkers(psprintf("SELECT lockable.lock_release_all(%s)",
											quote_literal_cstr(text_to_cstring(owner))),
								   "lock_release_all");

	PG_RETURN_INT64(count);
}

/*
 * lock_break(uid text) RETURNS boolean
 *		An administrator's forced release of whatever live lock uid has,
 *		handed to the head of the line if one waits.  Returns true if there
 *		was a live lock.  An expired lock with a line is handed on, as by
 *		every call that writes on a uid, but that breaks nothing: false.
 *		EXECUTE is revoked from PUBLIC.
 */
Datum
lock_break(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	Tables		tables;
	UidState	state = {0};
	bool		broken = false;

	TablesOpen(&tables, uid, "lock_break", true);
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		HandOff		handoff;
		text	   *holder;
		int64		token;

		UidRead(&tables.locks, &tables.line, uid, &state);
		if (!state.lock.found)
			break;
		holder = state.lock.v.owner;
		token = state.lock.v.token;

		if (LockRowIsLive(&state.lock, now))
		{
			/* Break exactly the grant we saw, so the loser named is right. */
			if (LineHandOff(&tables.locks, &tables.line, &state, now, true,
							NULL, &handoff) != LOCK_WRITE_OK)
				continue;
			HistoryRecord(&tables.locks, "break", uid, holder, token, NULL, NULL);
			Announce("broken", uid, holder, token, 0,
					 LineWaiters(&state, now));
			if (handoff.handed)
			{
				HistoryRecord(&tables.locks, "grant", uid, handoff.holder,
							  handoff.token, holder, "hand-off");
				Announce("acquired", uid, handoff.holder, handoff.token, 0,
						 LineWaiters(&state, now));
			}
			broken = true;
			break;
		}
		if (LineHead(&state, now) >= 0)
		{
			if (LineHandOff(&tables.locks, &tables.line, &state, now, false,
							NULL, &handoff) != LOCK_WRITE_OK)
				continue;
			AnnounceHandOff(&tables.locks, &state, holder, token, &handoff,
							now, "expiry_hand_off");
		}
		break;
	}
	UidRelease(&state);
	TablesClose(&tables);

	PG_RETURN_BOOL(broken);
}

/*---- lock_owner, lock_verify ----*/

/*
 * lock_owner(uid text) RETURNS text
 *		The live holder of uid, or NULL.  On a hot standby it answers from
 *		what has been replayed, which may lag behind the primary.
 */
Datum
lock_owner(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	TimestampTz now = GetCurrentTimestamp();
	LockTable	table;
	LockRow		row = {0};
	text	   *holder = NULL;

	LockTableOpen(&table, uid, "lock_owner", false);
	LockTablePeek(&table, uid, &row);
	LockTableClose(&table);

	if (LockRowIsLive(&row, now))
		holder = DatumGetTextPCopy(PointerGetDatum(row.v.owner));
	LockRowRelease(&row);

	if (holder == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(holder);
}

/*
 * lock_verify(uid text, owner text, token bigint) RETURNS boolean
 *		True if the grant of uid to owner with this fencing token is live.
 *		Refused on a hot standby, which may not have replayed the break or
 *		takeover that ended the grant: a fencing check must ask the primary.
 */
Datum
lock_verify(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *owner = GetNameArg(fcinfo, 1, ARG_OWNER);
	int64		token;
	TimestampTz now;
	LockTable	table;
	LockRow		row = {0};
	bool		verified;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lock token cannot be null")));
	token = PG_GETARG_INT64(2);

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lock_verify cannot run on a standby"),
				 errdetail("A standby may not yet have replayed the takeover or break that ended a grant, so it could confirm a stale one."),
				 errhint("Send fencing checks to the primary.")));

	now = GetCurrentTimestamp();
	LockTableOpen(&table, uid, "lock_verify", false);
	LockTablePeek(&table, uid, &row);
	LockTableClose(&table);

	verified = LockRowIsLive(&row, now) && TextEqual(row.v.owner, owner) &&
		row.v.token == token;
	LockRowRelease(&row);

	PG_RETURN_BOOL(verified);
}

/*---- lock_sweep ----*/

/*
 * SweepLines
 *		Every pending hand-off, and the removal of every lapsed place: the
 *		part of lock_sweep that a pg_cron job relies on to hand on a lock
 *		whose holder vanished while others wait, with no client calling.
 */
static void
SweepLines(TimestampTz now)
{
	text	  **uids;
	int			nuids = LockTableUidsWithLines(now, &uids);
	Tables		tables;
	UidState	state = {0};
	bool		distributed = LockTableDistributed();

	if (nuids == 0)
		return;
	TablesOpen(&tables, NULL, NULL, !distributed);
	for (int i = 0; i < nuids; i++)
	{
		/* There may be many lines: let cancel and statement_timeout in. */
		CHECK_FOR_INTERRUPTS();
		/* On Citus, the uid's shards. */
		if (distributed)
		{
			TablesClose(&tables);
			TablesOpen(&tables, uids[i], "lock_sweep", true);
		}
		for (;;)
		{
			HandOff		handoff;
			text	   *lost;
			int64		lost_token;

			now = GetCurrentTimestamp();
			UidRead(&tables.locks, &tables.line, uids[i], &state);
			if (!state.lock.found)
				break;
			if (LockRowIsLive(&state.lock, now))
			{
				if (LineTidy(&tables.locks, &tables.line, &state,
							 now) != LOCK_WRITE_OK)
					continue;
				break;
			}
			lost = state.lock.v.owner;
			lost_token = state.lock.v.token;
			if (LineHandOff(&tables.locks, &tables.line, &state, now, false,
							NULL, &handoff) != LOCK_WRITE_OK)
				continue;
			AnnounceHandOff(&tables.locks, &state, lost, lost_token, &handoff,
							now, "sweep");
			break;
		}
	}
	UidRelease(&state);
	TablesClose(&tables);
}

/*
 * lock_sweep(older_than interval) RETURNS bigint
 *		Performs every pending hand-off (an expired lock with a live place
 *		waiting), removes every lapsed place, and deletes the rows of locks
 *		that ended (were released, or expired) at least older_than ago and
 *		have no line; returns how many rows it deleted.  It also deletes
 *		lapsed presence leases and history past its retention (not counted).
 *		Live locks are never
 *		touched, and tokens keep growing because they come from a sequence.
 */
Datum
lock_sweep(PG_FUNCTION_ARGS)
{
	Interval   *older_than = GetIntervalArg(fcinfo, 0, ARG_OLDER_THAN);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz cutoff;
	int64		deleted;

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

	SweepLines(now);
	deleted = (int64) LockTableSweep(cutoff);
	/* and the history older than lockable.history_retention */
	(void) HistorySweep();
	/* and the lapsed presence leases */
	(void) PresenceSweep(now);

	/* On the Citus coordinator: and on every worker, for their shards. */
	if (LockTableDistributed() && CitusLocalGroupId() == 0)
		deleted += CitusRunOnWorkers(psprintf("SELECT lockable.lock_sweep(%s)",
											  quote_literal_cstr(IntervalText(older_than))),
									 "lock_sweep");
	PG_RETURN_INT64(deleted);
}

/*---- verify_installation ----*/

/*
 * verify_installation() RETURNS void
 *		Raises an error unless the objects the functions use are the
 *		extension's own (see trust.c): its schema always, and its table and
 *		sequence when they exist.  The install and update scripts call it
 *		before anything else, so that CREATE EXTENSION into a schema that an
 *		ordinary role squatted fails and creates nothing.
 */
Datum
verify_installation(PG_FUNCTION_ARGS)
{
	(void) TrustExtensionSchema();
	if (LockTableExists())
	{
		LockTable	table;

		LockTableOpen(&table, NULL, NULL, false);
		LockTableClose(&table);
	}
	PG_RETURN_VOID();
}
