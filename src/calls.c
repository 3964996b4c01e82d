/*-------------------------------------------------------------------------
 *
 * calls.c
 *	  What the SQL-callable lock functions share: their argument checks,
 *	  the lease arithmetic, the tables of one call, and the notifications
 *	  they send (see calls.h).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/calls.c
 *
 *-------------------------------------------------------------------------
 */
#include "calls.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "history.h"
#include "notify.h"
#include "wait.h"

/*---- Argument checks ----*/

static const struct
{
	const char *null_message;
	const char *empty_message;
	const char *long_message;
	const char *long_detail;
}			name_messages[] = {
	[ARG_UID] = {
		gettext_noop("lock uid cannot be null"),
		gettext_noop("lock uid cannot be empty"),
		gettext_noop("lock uid is too long"),
		gettext_noop("The uid is %d bytes long; the limit is %d bytes.")
	},
	[ARG_OWNER] = {
		gettext_noop("lock owner cannot be null"),
		gettext_noop("lock owner cannot be empty"),
		gettext_noop("lock owner is too long"),
		gettext_noop("The owner is %d bytes long; the limit is %d bytes.")
	},
	[ARG_HOLDER] = {
		gettext_noop("lock holder cannot be null"),
		gettext_noop("lock holder cannot be empty"),
		gettext_noop("lock holder is too long"),
		gettext_noop("The holder is %d bytes long; the limit is %d bytes.")
	},
	[ARG_TO_OWNER] = {
		gettext_noop("to_owner cannot be null"),
		gettext_noop("to_owner cannot be empty"),
		gettext_noop("to_owner is too long"),
		gettext_noop("The new owner is %d bytes long; the limit is %d bytes.")
	},
};

static const char *const interval_null_messages[] = {
	[ARG_TTL] = gettext_noop("ttl cannot be null"),
	[ARG_WAIT] = gettext_noop("wait cannot be null"),
	[ARG_OLDER_THAN] = gettext_noop("older_than cannot be null"),
};

/* From PostgreSQL 17 an interval can be 'infinity' or '-infinity'. */
#ifdef INTERVAL_NOT_FINITE
static const char *const interval_infinite_messages[] = {
	[ARG_TTL] = gettext_noop("ttl must be finite"),
	[ARG_WAIT] = gettext_noop("wait must be finite"),
	[ARG_OLDER_THAN] = gettext_noop("older_than must be finite"),
};
#endif

/*
 * GetNameArg
 *		Fetch a uid or owner argument, refusing NULL, empty and overlong ones.
 */
text *
GetNameArg(FunctionCallInfo fcinfo, int argno, NameArgument which)
{
	text	   *name;
	int			len;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s", _(name_messages[which].null_message))));

	name = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(name);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", _(name_messages[which].empty_message))));
	if (len > LOCKABLE_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", _(name_messages[which].long_message)),
				 errdetail(name_messages[which].long_detail,
						   len, LOCKABLE_MAX_NAME_BYTES)));
	return name;
}

/*
 * GetIntervalArg
 *		Fetch an interval argument, refusing NULL.
 */
Interval *
GetIntervalArg(FunctionCallInfo fcinfo, int argno, IntervalArgument which)
{
	Interval   *span;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s", _(interval_null_messages[which]))));
	span = PG_GETARG_INTERVAL_P(argno);
#ifdef INTERVAL_NOT_FINITE
	if (INTERVAL_NOT_FINITE(span))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", _(interval_infinite_messages[which]))));
#endif
	return span;
}

bool
IntervalHasNegativeField(const Interval *span)
{
	return span->month < 0 || span->day < 0 || span->time < 0;
}

bool
IntervalIsZero(const Interval *span)
{
	return span->month == 0 && span->day == 0 && span->time == 0;
}

char *
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
int64
IntervalMicroseconds(const Interval *span)
{
	int64		days = (int64) span->month * DAYS_PER_MONTH + span->day;

	if (days > (PG_INT64_MAX - span->time) / USECS_PER_DAY)
		return PG_INT64_MAX;
	return days * USECS_PER_DAY + span->time;
}

TimestampTz
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
TimestampTz
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

bool
TextEqual(const text *a, const text *b)
{
	int			len = VARSIZE_ANY_EXHDR(a);

	return len == (int) VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), len) == 0;
}

/*---- Notifications ----*/

/*
 * AnnounceEvent
 *		Queue a notification on the lockable channel, a hint sent at commit
 *		and dropped on rollback (notify.c):
 *			{"event", "uid", "owner"[, "token"][, "position"]
 *			 [, "previous": {"owner", "token"}][, "holder"][, "reason"]
 *			 [, "message"][, "version"][, "waiters"]}
 *		Events that may let a waiter in also wake the uid's waiters at
 *		commit (wait.c), notify or not.
 */
void
AnnounceEvent(const LockEvent *e)
{
	StringInfoData payload;
	const char *event = e->event;

	/*
	 * A lock that ended, was handed on, broken or taken over, or a line a
	 * waiter left: waiters of the uid look again when this commits.
	 */
	if (strcmp(event, "acquired") != 0 && strcmp(event, "queued") != 0 &&
		strcmp(event, "requested") != 0 && strcmp(event, "declined") != 0 &&
		strcmp(event, "saved") != 0 && strcmp(event, "presence") != 0)
		WaitSignalAtCommit(e->uid);

	if (!lockable_notify)
		return;

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"event\": \"%s\", \"uid\": ", event);
	escape_json(&payload, text_to_cstring(e->uid));
	appendStringInfoString(&payload, ", \"owner\": ");
	if (e->owner != NULL)
		escape_json(&payload, text_to_cstring(e->owner));
	else
		appendStringInfoString(&payload, "null");
	if (e->token >= 0)
		appendStringInfo(&payload, ", \"token\": " INT64_FORMAT, e->token);
	if (e->position > 0)
		appendStringInfo(&payload, ", \"position\": %d", e->position);
	if (e->with_previous)
	{
		appendStringInfoString(&payload, ", \"previous\": {\"owner\": ");
		if (e->previous_owner != NULL)
			escape_json(&payload, text_to_cstring(e->previous_owner));
		else
			appendStringInfoString(&payload, "null");
		if (e->previous_owner != NULL && e->previous_token >= 0)
			appendStringInfo(&payload, ", \"token\": " INT64_FORMAT "}",
							 e->previous_token);
		else
			appendStringInfoString(&payload, ", \"token\": null}");
	}
	if (e->with_holder)
	{
		appendStringInfoString(&payload, ", \"holder\": ");
		if (e->holder != NULL)
			escape_json(&payload, text_to_cstring(e->holder));
		else
			appendStringInfoString(&payload, "null");
	}
	if (e->with_reason)
	{
		appendStringInfoString(&payload, ", \"reason\": ");
		if (e->reason != NULL)
			escape_json(&payload, e->reason);
		else
			appendStringInfoString(&payload, "null");
	}
	if (e->with_message)
	{
		appendStringInfoString(&payload, ", \"message\": ");
		if (e->message != NULL)
			escape_json(&payload, e->message);
		else
			appendStringInfoString(&payload, "null");
	}
	if (e->with_version)
	{
		if (e->version_known)
			appendStringInfo(&payload, ", \"version\": " INT64_FORMAT, e->version);
		else
			appendStringInfoString(&payload, ", \"version\": null");
	}
	if (e->waiters >= 0)
		appendStringInfo(&payload, ", \"waiters\": %d", e->waiters);
	appendStringInfoChar(&payload, '}');
	NotifyHint(payload.data);
	pfree(payload.data);
}

/*
 * Announce
 *		The notification of an event of 1.0 to 1.3: token < 0 and position
 *		<= 0 are left out of the payload; waiters is the length of the line
 *		after the event.
 */
void
Announce(const char *event, text *uid, text *owner, int64 token,
		 int position, int waiters)
{
	LockEvent	e = {0};

	e.event = event;
	e.uid = uid;
	e.owner = owner;
	e.token = token;
	e.position = position;
	e.waiters = waiters;
	AnnounceEvent(&e);
}

/*
 * AnnounceHandOff
 *		The notifications of a hand-off of an expired lock (its former
 *		holder, if it had one, lost it) and of the grant it made, and its
 *		history row (event "expiry_hand_off", or "sweep" from lock_sweep).
 */
void
AnnounceHandOff(LockTable *locks, UidState *state, text *lost,
				int64 lost_token, const HandOff *handoff, TimestampTz now,
				const char *history_event)
{
	int			waiters = LineWaiters(state, now);

	if (!handoff->handed)
		return;
	HistoryRecord(locks, history_event, state->uid, handoff->holder,
				  handoff->token, lost, NULL);
	if (lost != NULL)
		Announce("expired", state->uid, lost, lost_token, 0, waiters);
	Announce("acquired", state->uid, handoff->holder, handoff->token, 0,
			 waiters);
}


/*
 * TablesOpen
 *		Open the tables for the calls on uid (on Citus, its shards) made by
 *		function caller.
 */
void
TablesOpen(Tables *tables, text *uid, const char *caller, bool write)
{
	LockTableOpen(&tables->locks, uid, caller, write);
	memset(&tables->line, 0, sizeof(LineTable));
	tables->line.shard = tables->locks.places_shard;
}

void
TablesClose(Tables *tables)
{
	LineTableClose(&tables->line);
	LockTableClose(&tables->locks);
}