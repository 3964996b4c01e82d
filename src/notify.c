/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  The notifications of lock changes: hints, queued at commit, that
 *	  never stop the change they announce.
 *
 * A notification tells listeners that a lock changed; a listener that
 * misses one learns the same by looking (django-lockable's bridge re-checks
 * on every hint and on a timer).  So a notification must never be the
 * reason a lock change fails.  PostgreSQL's NOTIFY can make it one:
 *
 *	- when the NOTIFY queue is full (a listener that sits idle in a
 *	  transaction holds its tail back), the commit of every transaction that
 *	  notified fails with "too many notifications in the NOTIFY queue": a
 *	  role able to LISTEN could stop every grant of the cluster;
 *	- PREPARE TRANSACTION refuses a transaction that notified, so two-phase
 *	  commit of a grant failed unless lockable.notify was off.
 *
 * So the lock functions do not call Async_Notify themselves.  NotifyHint
 * keeps the payload in this transaction's list, with the subtransaction
 * level it was made at (a subtransaction that rolls back takes its hints
 * with it, as NOTIFY would); at XACT_EVENT_PRE_COMMIT, which runs before
 * PostgreSQL writes its queue, the hints are handed to Async_Notify, unless
 * the queue is fuller than lockable.notify_queue_limit (default one half:
 * PostgreSQL itself warns from there), in which case they are dropped with
 * a WARNING.  At PREPARE they are dropped too (a prepared transaction
 * cannot notify), with a WARNING that says so.  Either way the transaction
 * commits or prepares.  Dropped hints are counted: in shared memory when
 * the library is preloaded (the whole server, since its start), in this
 * backend otherwise; lockable.notification_stats shows the count.
 *
 * The queue can still fill between the check and PostgreSQL's write, by
 * another transaction's notifications; the margin the limit leaves (half of
 * the queue by default) makes that window a matter of microseconds and
 * gigabytes.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/notify.c
 *
 *-------------------------------------------------------------------------
 */
#include "notify.h"

#include "access/xact.h"
#include "commands/async.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* The setting lockable.notify_queue_limit (lockable.c). */
double		lockable_notify_queue_limit = 0.5;

/* One hint waiting for the commit. */
typedef struct Hint
{
	int			level;			/* subtransaction nesting level */
	char		payload[FLEXIBLE_ARRAY_MEMBER];
} Hint;

/* This transaction's hints, in TopTransactionContext. */
static List *hints = NIL;
static bool callbacks_registered = false;

/* The count of dropped hints: the server's when preloaded. */
typedef struct NotifyShared
{
	pg_atomic_uint64 dropped;
	TimestampTz since;
} NotifyShared;

static NotifyShared *shared = NULL;
static uint64 backend_dropped = 0;
static TimestampTz backend_since = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PG_FUNCTION_INFO_V1(notification_counts);

/*---- Start-up ----*/

static void
NotifyShmemRequestHook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(NotifyShared));
}

static void
NotifyShmemStartupHook(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("lockable notification counts",
							 sizeof(NotifyShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&shared->dropped, 0);
		shared->since = GetCurrentTimestamp();
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * NotifyShmemRequest
 *		From _PG_init, when the postmaster is loading the library.
 */
void
NotifyShmemRequest(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = NotifyShmemRequestHook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = NotifyShmemStartupHook;
}

/*---- Dropping ----*/

static void
CountDropped(int n)
{
	if (shared != NULL)
		pg_atomic_fetch_add_u64(&shared->dropped, n);
	if (backend_since == 0)
		backend_since = GetCurrentTimestamp();
	backend_dropped += n;
}

/* The NOTIFY queue's fill, 0 to 1, as pg_notification_queue_usage() says. */
static double
QueueUsage(void)
{
	/* cppcheck-suppress unusedStructMember */
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return DatumGetFloat8(pg_notification_queue_usage(fcinfo));
}

static void
SendOrDrop(bool preparing)
{
	int			n = list_length(hints);
	double		usage;
	ListCell   *lc;

	if (n == 0)
		return;
	if (preparing)
	{
		CountDropped(n);
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%d lockable notification(s) of this transaction not sent", n),
				 errdetail("A prepared transaction cannot notify; the lock changes stand, and listeners learn of them by looking."),
				 errhint("Set lockable.notify to off in transactions that you prepare.")));
		return;
	}
	usage = QueueUsage();
	if (usage >= lockable_notify_queue_limit)
	{
		CountDropped(n);
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%d lockable notification(s) of this transaction not sent", n),
				 errdetail("The NOTIFY queue is %.0f%% full, and lockable.notify_queue_limit is %.0f%%; the lock changes stand.",
						   usage * 100, lockable_notify_queue_limit * 100),
				 errhint("A listening session that stays idle in a transaction holds the queue back: see pg_notification_queue_usage() and pg_stat_activity.")));
		return;
	}
	foreach(lc, hints)
		Async_Notify(LOCKABLE_CHANNEL, ((Hint *) lfirst(lc))->payload);
}

/*---- Transaction callbacks ----*/

static void
NotifyXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			SendOrDrop(false);
			hints = NIL;
			break;
		case XACT_EVENT_PRE_PREPARE:
			SendOrDrop(true);
			hints = NIL;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* TopTransactionContext, and the list with it, is gone */
			hints = NIL;
			break;
		default:
			break;
	}
}

static void
NotifySubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (hints == NIL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, hints)
		{
			if (((Hint *) lfirst(lc))->level >= level)
				hints = foreach_delete_current(hints, lc);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, hints)
		{
			Hint	   *hint = (Hint *) lfirst(lc);

			if (hint->level >= level)
				hint->level = level - 1;
		}
	}
}

/*
 * NotifyHint
 *		Announce payload on the lockable channel when this transaction
 *		commits (see the file header); nothing if it rolls back.
 */
void
NotifyHint(const char *payload)
{
	MemoryContext oldcontext;
	Hint	   *hint;
	size_t		len = strlen(payload);

	if (!callbacks_registered)
	{
		RegisterXactCallback(NotifyXactCallback, NULL);
		RegisterSubXactCallback(NotifySubXactCallback, NULL);
		callbacks_registered = true;
	}
	oldcontext = MemoryContextSwitchTo(TopTransactionContext);
	hint = palloc(offsetof(Hint, payload) + len + 1);
	hint->level = GetCurrentTransactionNestLevel();
	memcpy(hint->payload, payload, len + 1);
	hints = lappend(hints, hint);
	MemoryContextSwitchTo(oldcontext);
}

/*
 * notification_counts() RETURNS TABLE (dropped bigint, since timestamptz,
 *		server_wide boolean, queue_usage double precision)
 *		The notifications not sent because the NOTIFY queue was too full or
 *		the transaction was prepared: since the server started, when the
 *		library is preloaded (server_wide), else by this backend since its
 *		first drop; and the queue's fill now.
 */
Datum
notification_counts(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (shared != NULL)
	{
		values[0] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->dropped));
		values[1] = TimestampTzGetDatum(shared->since);
	}
	else
	{
		values[0] = Int64GetDatum((int64) backend_dropped);
		values[1] = TimestampTzGetDatum(backend_since);
		nulls[1] = (backend_since == 0);
	}
	values[2] = BoolGetDatum(shared != NULL);
	values[3] = Float8GetDatum(QueueUsage());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
