/*-------------------------------------------------------------------------
 *
 * presence.c
 *	  Presence leases: lockable.presence_touch and lockable.presence_leave,
 *	  and their part of lock_release_all and lock_sweep.
 *
 * A presence lease says that owner has uid open (editing, waiting or only
 * viewing it) until expires_at, and whether its user is idle.  It is a
 * lease like a lock or a place: renewed by touching it again, on the
 * database clock, ended by leaving or by lapsing.  It grants nothing and
 * orders nothing: who edits and who waits stay the lock's and the line's
 * (queue.h); a lease only adds the viewers and the idle flag, so an
 * application server that reads presence_of together with the lock and the
 * line (one query) sees every other server's sockets with no store besides
 * PostgreSQL.
 *
 * Rules:
 *	- one lease per (uid, owner), the primary key of lockable.presence_leases;
 *	  two touches of the same new lease serialize on the key (INSERT ... ON
 *	  CONFLICT), so neither fails (the second then reports a start too: a
 *	  hint more than needed);
 *	- a ttl obeys the rules of a lock's (calls.c LeaseEnd: positive, at most
 *	  lockable.max_ttl);
 *	- a "presence" notification {"event", "uid", "owner"} is queued, a hint
 *	  sent at commit (notify.c), only when a lease starts (new, or renewed
 *	  after it lapsed), changes its idle flag, or a live lease ends: a
 *	  renewal that changes nothing others can see is silent, so heartbeats
 *	  cost no notification; a presence change wakes no waiter;
 *	- lapsed leases are invisible (presence_of reads only live ones) and
 *	  deleted by lock_sweep; lock_release_all(owner) ends owner's leases too.
 *
 * The table is a plain table of the extension, read and written through
 * SPI with plans kept for the backend's life; the functions verify it
 * (trust.c) before their SQL touches it.  It is never distributed: on a
 * Citus cluster the leases stay on the coordinator, where applications
 * connect (presence functions are not delegated).  It is not dumped
 * (leases end within a ttl), unlike the locks.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/presence.c
 *
 *-------------------------------------------------------------------------
 */
#include "calls.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "presence.h"

PG_FUNCTION_INFO_V1(presence_touch);
PG_FUNCTION_INFO_V1(presence_leave);

typedef enum PresenceColumn
{
	PRESENCE_UID,
	PRESENCE_OWNER,
	PRESENCE_IDLE,
	PRESENCE_SINCE,
	PRESENCE_EXPIRES_AT,
	NUM_PRESENCE_COLUMNS
} PresenceColumn;

static const ExpectedColumn presence_columns[NUM_PRESENCE_COLUMNS] = {
	[PRESENCE_UID] = {"uid", TEXTOID, false},
	[PRESENCE_OWNER] = {"owner", TEXTOID, false},
	[PRESENCE_IDLE] = {"idle", BOOLOID, false},
	[PRESENCE_SINCE] = {"since", TIMESTAMPTZOID, false},
	[PRESENCE_EXPIRES_AT] = {"expires_at", TIMESTAMPTZOID, false},
};

/* The statements, each prepared once per backend (SPI_keepplan). */
typedef enum PresencePlan
{
	PLAN_READ,
	PLAN_RENEW,
	PLAN_START,
	PLAN_LEAVE,
	PLAN_LEAVE_ALL,
	PLAN_SWEEP,
	NUM_PRESENCE_PLANS
} PresencePlan;

typedef struct PlanSource
{
	const char *sql;
	int			nargs;
	Oid			argtypes[5];
} PlanSource;

static const PlanSource plan_sources[NUM_PRESENCE_PLANS] = {
	[PLAN_READ] = {
		"SELECT idle, expires_at FROM lockable.presence_leases"
		" WHERE uid OPERATOR(pg_catalog.=) $1 AND owner OPERATOR(pg_catalog.=) $2"
		" FOR NO KEY UPDATE",
		2, {TEXTOID, TEXTOID}
	},
	[PLAN_RENEW] = {
		"UPDATE lockable.presence_leases"
		" SET idle = $3, expires_at = $4,"
		"     since = CASE WHEN expires_at OPERATOR(pg_catalog.<=) $5 THEN $5 ELSE since END"
		" WHERE uid OPERATOR(pg_catalog.=) $1 AND owner OPERATOR(pg_catalog.=) $2",
		5, {TEXTOID, TEXTOID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	[PLAN_START] = {
		"INSERT INTO lockable.presence_leases AS p (uid, owner, idle, since, expires_at)"
		" VALUES ($1, $2, $3, $5, $4)"
		" ON CONFLICT (uid, owner) DO UPDATE"
		" SET idle = excluded.idle, expires_at = excluded.expires_at,"
		"     since = CASE WHEN p.expires_at OPERATOR(pg_catalog.<=) excluded.since"
		"             THEN excluded.since ELSE p.since END",
		5, {TEXTOID, TEXTOID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	[PLAN_LEAVE] = {
		"DELETE FROM lockable.presence_leases"
		" WHERE uid OPERATOR(pg_catalog.=) $1 AND owner OPERATOR(pg_catalog.=) $2"
		" RETURNING expires_at",
		2, {TEXTOID, TEXTOID}
	},
	[PLAN_LEAVE_ALL] = {
		"DELETE FROM lockable.presence_leases"
		" WHERE owner OPERATOR(pg_catalog.=) $1"
		" RETURNING uid, expires_at",
		1, {TEXTOID}
	},
	[PLAN_SWEEP] = {
		"DELETE FROM lockable.presence_leases"
		" WHERE expires_at OPERATOR(pg_catalog.<=) $1",
		1, {TIMESTAMPTZOID}
	},
};

static SPIPlanPtr plans[NUM_PRESENCE_PLANS];

/*
 * PresenceTableTrusted
 *		Verify lockable.presence_leases (trust.c) before SQL touches it:
 *		false when the catalog has no such table (1.3 or older), an error
 *		when it is not the extension's own or Citus distributes it.
 */
static bool
PresenceTableTrusted(bool missing_ok)
{
	Oid			relid = LockableRelid("presence_leases", true);
	Relation	rel;
	AttrNumber	attnum[NUM_PRESENCE_COLUMNS];
	bool		distributed;

	if (!OidIsValid(relid))
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("presence needs lockable 1.4"),
				 errhint("Update the extension with ALTER EXTENSION lockable UPDATE.")));
	}
	rel = table_open(relid, RowExclusiveLock);
	distributed = TrustExtensionTable(rel, presence_columns,
									  NUM_PRESENCE_COLUMNS, attnum);
	table_close(rel, NoLock);
	if (distributed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"lockable.presence_leases\" is distributed by Citus"),
				 errdetail("Presence leases stay on the coordinator; distribute() leaves the table alone.")));
	return true;
}

/*
 * Run
 *		Execute one of the plans (SPI connected), preparing it first if this
 *		backend has not; returns SPI's result code.
 */
static int
Run(PresencePlan which, Datum *values, long limit)
{
	if (plans[which] == NULL)
	{
		const PlanSource *source = &plan_sources[which];
		SPIPlanPtr	plan = SPI_prepare(source->sql, source->nargs,
									   (Oid *) source->argtypes);

		if (plan == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", source->sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep the plan of \"%s\"", source->sql);
		plans[which] = plan;
	}
	return SPI_execute_plan(plans[which], values, NULL, false, limit);
}

/* The "presence" hint, at commit. */
static void
AnnouncePresence(text *uid, text *owner)
{
	LockEvent	e = {0};

	e.event = "presence";
	e.uid = uid;
	e.owner = owner;
	e.token = -1;
	e.waiters = -1;
	AnnounceEvent(&e);
}

/*
 * presence_touch(uid text, owner text, ttl interval, idle boolean)
 *		RETURNS boolean
 *		Start or renew owner's presence lease on uid until now plus ttl,
 *		with the idle flag given.  Returns whether others can see a change
 *		(a lease that is new or had lapsed, or another idle flag), which is
 *		then announced.
 */
Datum
presence_touch(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *owner = GetNameArg(fcinfo, 1, ARG_OWNER);
	Interval   *ttl = GetIntervalArg(fcinfo, 2, ARG_TTL);
	bool		idle;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz expires;
	Datum		values[5];
	bool		changed;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("idle cannot be null")));
	idle = PG_GETARG_BOOL(3);
	expires = LeaseEnd(ttl, now);

	(void) PresenceTableTrusted(false);
	values[0] = PointerGetDatum(uid);
	values[1] = PointerGetDatum(owner);
	values[2] = BoolGetDatum(idle);
	values[3] = TimestampTzGetDatum(expires);
	values[4] = TimestampTzGetDatum(now);

	SPI_connect();
	if (Run(PLAN_READ, values, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read lockable.presence_leases");
	if (SPI_processed == 1)
	{
		/* a lease to renew, locked against other touches */
		TupleDesc	desc = SPI_tuptable->tupdesc;
		HeapTuple	tuple = SPI_tuptable->vals[0];
		bool		isnull;
		bool		was_idle = DatumGetBool(SPI_getbinval(tuple, desc, 1, &isnull));
		TimestampTz was_until = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 2, &isnull));

		changed = was_idle != idle || was_until <= now;
		if (Run(PLAN_RENEW, values, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not renew a presence lease");
	}
	else
	{
		/*
		 * None visible: start one.  A concurrent start of the same lease
		 * makes this wait on the key, then renew what it committed.
		 */
		changed = true;
		if (Run(PLAN_START, values, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not start a presence lease");
	}
	SPI_finish();

	if (changed)
		AnnouncePresence(uid, owner);
	PG_RETURN_BOOL(changed);
}

/*
 * presence_leave(uid text, owner text) RETURNS boolean
 *		End owner's presence lease on uid.  Returns whether it was live,
 *		which is then announced.
 */
Datum
presence_leave(PG_FUNCTION_ARGS)
{
	text	   *uid = GetNameArg(fcinfo, 0, ARG_UID);
	text	   *owner = GetNameArg(fcinfo, 1, ARG_OWNER);
	TimestampTz now = GetCurrentTimestamp();
	Datum		values[2];
	bool		live = false;

	(void) PresenceTableTrusted(false);
	values[0] = PointerGetDatum(uid);
	values[1] = PointerGetDatum(owner);
	SPI_connect();
	if (Run(PLAN_LEAVE, values, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not end a presence lease");
	if (SPI_processed == 1)
	{
		bool		isnull;

		live = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1,
												 &isnull)) > now;
	}
	SPI_finish();

	if (live)
		AnnouncePresence(uid, owner);
	PG_RETURN_BOOL(live);
}

/*
 * PresenceLeaveAll
 *		End every presence lease of owner, announcing the live ones; for
 *		lock_release_all.  Nothing without the 1.4 table.  Returns how many
 *		were live.
 */
uint64
PresenceLeaveAll(text *owner, TimestampTz now)
{
	Datum		values[1];
	uint64		live = 0;
	List	   *uids = NIL;
	ListCell   *lc;

	if (!PresenceTableTrusted(true))
		return 0;
	values[0] = PointerGetDatum(owner);
	SPI_connect();
	if (Run(PLAN_LEAVE_ALL, values, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not end presence leases");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		if (DatumGetTimestampTz(SPI_getbinval(tuple, desc, 2, &isnull)) > now)
		{
			/* copied out of SPI's memory, which SPI_finish frees */
			text	   *uid = (text *) SPI_datumTransfer(SPI_getbinval(tuple, desc, 1, &isnull),
														 false, -1);

			uids = lappend(uids, uid);
		}
	}
	SPI_finish();

	foreach(lc, uids)
	{
		AnnouncePresence((text *) lfirst(lc), owner);
		live++;
	}
	return live;
}

/*
 * PresenceSweep
 *		Delete the lapsed presence leases; for lock_sweep.  Returns how
 *		many.
 */
uint64
PresenceSweep(TimestampTz now)
{
	Datum		values[1];
	uint64		deleted;

	if (!PresenceTableTrusted(true))
		return 0;
	values[0] = TimestampTzGetDatum(now);
	SPI_connect();
	if (Run(PLAN_SWEEP, values, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete lapsed presence leases");
	deleted = SPI_processed;
	SPI_finish();
	return deleted;
}
