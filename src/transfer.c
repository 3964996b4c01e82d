/*-------------------------------------------------------------------------
 *
 * transfer.c
 *	  Moving a lock between owners on purpose: lock_take_over,
 *	  lock_hand_over, and asking for it, lock_request and lock_decline
 *	  (1.4).
 *
 * The editors people know do this outside the database, and lose work on
 * the way: the displaced editor is told late, or never.  Here each move is
 * one compare-and-set of the uid's lock row (lock_table.h, queue.h), in the
 * caller's transaction, with its notification and its history row:
 *
 *	take over	an administrator's: the lock goes to owner whatever its state
 *				(held live, expired, free), with a new token above the old
 *				one; the previous grant ends in the same write.  The line
 *				keeps its order; with requeue the displaced holder gets a
 *				place first in it.  EXECUTE is lockable_admin's.
 *	hand over	the live holder's: the lock goes to to_owner, wherever
 *				to_owner is in the line, or outside it; the rest of the
 *				line keeps its order.  New token.
 *	request		a waiter with a live place asks the holder: nothing changes
 *				but a notification and a history row.
 *	decline		the holder's answer to a request: likewise.
 *
 * A move that gives an owner the lock takes that owner's owner lock
 * (owners.c), as every grant does, so lock_release_all stays atomic.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/transfer.c
 *
 *-------------------------------------------------------------------------
 */
#include "calls.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "history.h"
#include "owners.h"

/* The longest reason or message a request or take-over carries, in bytes. */
#define LOCKABLE_MAX_MESSAGE_BYTES 1000

PG_FUNCTION_INFO_V1(lock_take_over);
PG_FUNCTION_INFO_V1(lock_hand_over);
PG_FUNCTION_INFO_V1(lock_request);
PG_FUNCTION_INFO_V1(lock_decline);

/*
 * GetMessageArg
 *		An optional text argument (a reason, a message): NULL, or at most
 *		LOCKABLE_MAX_MESSAGE_BYTES bytes (22023), as a C string.
 */
static char *
GetMessageArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	text	   *arg;
	int			len;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	arg = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(arg);
	if (len > LOCKABLE_MAX_MESSAGE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("It is %d bytes long; the limit is %d bytes.",
						   len, LOCKABLE_MAX_MESSAGE_BYTES)));
	return text_to_cstring(arg);
}

/*
 * LeaseOf
 *		The length of a lock's lease as granted (expires_at - acquired_at),
 *		at most lockable.max_ttl.
 */
static Interval *
LeaseOf(const LockValues *v)
{
	Interval   *lease = DatumGetIntervalP(DirectFunctionCall2(timestamp_mi,
															  TimestampTzGetDatum(v->expires_at),
															  TimestampTzGetDatum(v->acquired_at)));
	Interval   *max_ttl = LockableMaxTtl();

	if (IntervalHasNegativeField(lease) || IntervalIsZero(lease))
		return max_ttl;
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(lease),
										  IntervalPGetDatum(max_ttl))) > 0)
		return max_ttl;
	return lease;
}

/*
 * lock_take_over(uid text, owner text, ttl interval, reason text,
 *				  requeue boolean) RETURNS lockable.take_over_status
 *
 * Grants uid to owner for ttl whatever the lock's state, with a new token,
 * ending the previous grant in the same write; returns the lock_status of
 * the grant with the previous live holder's owner and token (NULL when
 * there was none).  Owner's own place, if any, is removed; the rest of the
 * line keeps its order, and with requeue the displaced holder gets a place
 * first in it, for the length of the lease it lost.
 */
Datum
lock_take_over(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *owner = GetNameArg(fcinfo, 1, ARG_OWNER);
	Interval   *ttl = GetIntervalArg(fcinfo, 2, ARG_TTL);
	char	   *reason = GetMessageArg(fcinfo, 3, "reason");
	bool		requeue;
	Tables		tables;
	UidState	state = {0};
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10] = {false};
	text	   *previous = NULL;
	int64		previous_token = -1;
	int64		token;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz expires;
	bool		requeued = false;

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("requeue cannot be null")));
	requeue = PG_GETARG_BOOL(4);
	(void) LeaseEnd(ttl, now);	/* checks the ttl */
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	TablesOpen(&tables, uid, "lock_take_over", true);
	for (;;)
	{
		Interval   *lost_lease = NULL;

		now = GetCurrentTimestamp();
		expires = TimestampPlusInterval(now, ttl);
		UidRead(&tables.locks, &tables.line, uid, &state);
		if (!state.lock.found)
		{
			(void) LockTableInsert(&tables.locks, uid, now);
			continue;
		}
		if (OwnerLockForGrant(owner))
			continue;
		previous = NULL;
		previous_token = -1;
		if (LockRowIsLive(&state.lock, now))
		{
			previous = state.lock.v.owner;
			previous_token = state.lock.v.token;
		}
		requeued = requeue && previous != NULL && !TextEqual(previous, owner);
		if (requeued)
			lost_lease = LeaseOf(&state.lock.v);
		token = LockTableNewToken(&tables.locks, state.lock.v.token);
		if (LineTakeOver(&tables.locks, &tables.line, &state, owner, token,
						 now, expires, requeued ? previous : NULL,
						 lost_lease) != LOCK_WRITE_OK)
			continue;
		break;
	}

	HistoryRecord(&tables.locks, "take_over", uid, owner, token, previous,
				  reason);
	if (requeued)
		HistoryRecord(&tables.locks, "place_taken", uid, previous, -1, NULL,
					  "requeued by a take-over");
	{
		LockEvent	e = {0};

		e.event = "taken_over";
		e.uid = uid;
		e.owner = owner;
		e.token = token;
		e.with_previous = true;
		e.previous_owner = previous;
		e.previous_token = previous_token;
		e.with_reason = true;
		e.reason = reason;
		e.waiters = LineWaiters(&state, now) + (requeued ? 1 : 0);
		AnnounceEvent(&e);
	}

	values[0] = BoolGetDatum(true);
	values[1] = PointerGetDatum(uid);
	values[2] = PointerGetDatum(owner);
	values[3] = Int64GetDatum(token);
	values[4] = TimestampTzGetDatum(now);
	values[5] = TimestampTzGetDatum(expires);
	values[6] = Int32GetDatum(LineWaiters(&state, now) + (requeued ? 1 : 0));
	nulls[7] = true;			/* position: the holder has none */
	values[8] = PointerGetDatum(previous);
	nulls[8] = (previous == NULL);
	values[9] = Int64GetDatum(previous_token);
	nulls[9] = (previous == NULL);
	{
		HeapTuple	result = heap_form_tuple(tupdesc, values, nulls);

		UidRelease(&state);
		TablesClose(&tables);
		PG_RETURN_DATUM(HeapTupleGetDatum(result));
	}
}

/*
 * lock_hand_over(uid text, holder text, to_owner text, ttl interval)
 *		RETURNS boolean
 *
 * The live holder gives uid to to_owner, with a new token, for ttl (NULL:
 * the ttl to_owner's place last asked for, or else the length of the
 * holder's lease, at most lockable.max_ttl); to_owner's place, if any, is
 * removed and the rest of the line keeps its order.  Returns false, and
 * changes nothing, if holder does not hold the lock live.
 */
Datum
lock_hand_over(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *holder = GetNameArg(fcinfo, 1, ARG_HOLDER);
	text	   *to_owner = GetNameArg(fcinfo, 2, ARG_TO_OWNER);
	Interval   *ttl = NULL;
	Tables		tables;
	UidState	state = {0};
	bool		handed = false;
	int64		token = -1;
	int64		previous_token = -1;
	TimestampTz now = GetCurrentTimestamp();

	if (!PG_ARGISNULL(3))
	{
		ttl = GetIntervalArg(fcinfo, 3, ARG_TTL);
		(void) LeaseEnd(ttl, now);	/* checks the ttl */
	}
	if (TextEqual(holder, to_owner))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot hand a lock over to its own holder"),
				 errhint("Renew it with lock_acquire instead.")));

	TablesOpen(&tables, uid, "lock_hand_over", true);
	for (;;)
	{
		Interval   *lease = ttl;
		int			theirs;

		now = GetCurrentTimestamp();
		UidRead(&tables.locks, &tables.line, uid, &state);
		if (!state.lock.found || !LockRowIsLive(&state.lock, now) ||
			!TextEqual(state.lock.v.owner, holder))
			break;
		if (OwnerLockForGrant(to_owner))
			continue;
		theirs = LineFind(&state, to_owner);
		if (lease == NULL)
			lease = theirs >= 0 && PlaceIsLive(&state.places[theirs], now) ?
				&state.places[theirs].ttl : LeaseOf(&state.lock.v);
		if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(lease),
											  IntervalPGetDatum(LockableMaxTtl()))) > 0)
			lease = LockableMaxTtl();
		previous_token = state.lock.v.token;
		token = LockTableNewToken(&tables.locks, state.lock.v.token);
		if (LineGrant(&tables.locks, &tables.line, &state, to_owner, token,
					  now, TimestampPlusInterval(now, lease)) != LOCK_WRITE_OK)
			continue;
		handed = true;
		break;
	}
	if (handed)
	{
		LockEvent	e = {0};

		HistoryRecord(&tables.locks, "hand_over", uid, to_owner, token, holder,
					  NULL);
		e.event = "handed_over";
		e.uid = uid;
		e.owner = to_owner;
		e.token = token;
		e.with_previous = true;
		e.previous_owner = holder;
		e.previous_token = previous_token;
		e.waiters = LineWaiters(&state, now);
		AnnounceEvent(&e);
	}
	UidRelease(&state);
	TablesClose(&tables);
	PG_RETURN_BOOL(handed);
}

/*
 * lock_request(uid text, owner text, message text) RETURNS boolean
 *		A waiter asks the holder for the lock: true, with a "requested"
 *		notification naming both and the message, if owner has a live place
 *		in uid's line and someone holds the lock live; false otherwise.
 *		Changes no lock.
 */
Datum
lock_request(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *owner = GetNameArg(fcinfo, 1, ARG_OWNER);
	char	   *message = GetMessageArg(fcinfo, 2, "message");
	Tables		tables;
	UidState	state = {0};
	TimestampTz now = GetCurrentTimestamp();
	int			mine;
	bool		asked = false;

	TablesOpen(&tables, uid, "lock_request", false);
	UidRead(&tables.locks, &tables.line, uid, &state);
	mine = LineFind(&state, owner);
	if (mine >= 0 && PlaceIsLive(&state.places[mine], now) &&
		LockRowIsLive(&state.lock, now))
	{
		LockEvent	e = {0};

		HistoryRecord(&tables.locks, "request", uid, owner, -1,
					  state.lock.v.owner, message);
		e.event = "requested";
		e.uid = uid;
		e.owner = owner;
		e.token = -1;
		e.waiters = -1;
		e.with_holder = true;
		e.holder = state.lock.v.owner;
		e.with_message = true;
		e.message = message;
		AnnounceEvent(&e);
		asked = true;
	}
	UidRelease(&state);
	TablesClose(&tables);
	PG_RETURN_BOOL(asked);
}

/*
 * lock_decline(uid text, holder text, owner text) RETURNS boolean
 *		The holder says no to owner's request: true, with a "declined"
 *		notification, if holder holds uid live; false otherwise.  Changes
 *		no lock.
 */
Datum
lock_decline(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *holder = GetNameArg(fcinfo, 1, ARG_HOLDER);
	text	   *owner = GetNameArg(fcinfo, 2, ARG_OWNER);
	LockTable	table;
	LockRow		row = {0};
	bool		declined;

	LockTableOpen(&table, uid, "lock_decline", false);
	LockTablePeek(&table, uid, &row);
	declined = LockRowIsLive(&row, GetCurrentTimestamp()) &&
		TextEqual(row.v.owner, holder);
	if (declined)
	{
		LockEvent	e = {0};

		HistoryRecord(&table, "decline", uid, owner, -1, holder, NULL);
		e.event = "declined";
		e.uid = uid;
		e.owner = owner;
		e.token = -1;
		e.waiters = -1;
		e.with_holder = true;
		e.holder = holder;
		AnnounceEvent(&e);
	}
	LockRowRelease(&row);
	LockTableClose(&table);
	PG_RETURN_BOOL(declined);
}
