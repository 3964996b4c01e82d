/*-------------------------------------------------------------------------
 *
 * lockable.c
 *	  Module start-up and configuration of the lockable extension.
 *
 * This file owns the GUCs, all under the reserved prefix "lockable.":
 *
 *	lockable.max_ttl	the longest lease lock_acquire grants (an interval;
 *						superuser-settable, so an ordinary role cannot lift
 *						the cap its DBA chose).
 *	lockable.notify		whether grants, releases and breaks are announced
 *						on the "lockable" NOTIFY channel.
 *	lockable.notify_queue_limit
 *						how full the NOTIFY queue may be (0 to 1) for the
 *						notifications of a commit to be sent rather than
 *						dropped (notify.c).
 *	lockable.sweep_interval, lockable.sweep_databases,
 *	lockable.sweep_older_than
 *						the background sweeper's round, databases and
 *						lock_sweep argument (sweeper.c; preloaded only).
 *	lockable.history, lockable.history_retention
 *						whether changes of holders and lines are logged in
 *						lockable.history, and how long lock_sweep keeps the
 *						rows (history.c; superuser settings, so that a role
 *						cannot hide its own take-overs).
 *	lockable.owner		the acting lock owner that the enforce_lock trigger
 *						checks writes against (empty: no owner).
 *	lockable.token		the fencing token the acting owner writes with
 *						(empty: none); must be an integer.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/lockable.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "history.h"
#include "notify.h"
#include "sweeper.h"
#include "wait.h"

PG_MODULE_MAGIC;

/*---- GUC variables ----*/

bool		lockable_notify = true;
char	   *lockable_max_ttl_string = NULL;
char	   *lockable_owner = NULL;
char	   *lockable_token_string = NULL;

/*
 * The value of lockable.max_ttl as an Interval, kept by the check hook in
 * the GUC's "extra" and installed by the assign hook.  guc.c owns and frees
 * "extra", so it must come from GucExtraAlloc (pg_compat.h).
 */
static Interval *max_ttl = NULL;

/*
 * The value of lockable.token, or NULL when it is empty; kept like max_ttl.
 */
static int64 *token = NULL;

/* A lease longer than this cannot be configured at all: 100 years. */
#define LOCKABLE_MAX_TTL_CEILING_DAYS (100 * 365)

void		_PG_init(void);

/*
 * Parse a lockable.max_ttl setting.  Errors from interval_in are turned into
 * GUC check failures, so a bad postgresql.conf line is reported, not fatal.
 */
static bool
check_max_ttl(char **newval, void **extra, GucSource source)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	Interval   *parsed = NULL;
	Interval   *copy;

	PG_TRY();
	{
		parsed = DatumGetIntervalP(DirectFunctionCall3(interval_in,
													   CStringGetDatum(*newval),
													   ObjectIdGetDatum(InvalidOid),
													   Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		FreeErrorData(edata);
		GUC_check_errdetail("lockable.max_ttl must be an interval, such as \"1 day\" or \"36 hours\".");
		return false;
	}
	PG_END_TRY();

	if (parsed->month < 0 || parsed->day < 0 || parsed->time < 0 ||
		(parsed->month == 0 && parsed->day == 0 && parsed->time == 0))
	{
		GUC_check_errdetail("lockable.max_ttl must be a positive interval.");
		return false;
	}
	if ((int64) parsed->month * DAYS_PER_MONTH + parsed->day +
		parsed->time / USECS_PER_DAY > LOCKABLE_MAX_TTL_CEILING_DAYS)
	{
		GUC_check_errdetail("lockable.max_ttl cannot exceed 100 years.");
		return false;
	}

	copy = (Interval *) GucExtraAlloc(sizeof(Interval));
	if (copy == NULL)
		return false;
	*copy = *parsed;
	*extra = copy;
	return true;
}

static void
assign_max_ttl(const char *newval, void *extra)
{
	max_ttl = (Interval *) extra;
}

/*
 * LockableMaxTtl
 *		The cap on lease lengths currently in force.
 */
Interval *
LockableMaxTtl(void)
{
	Assert(max_ttl != NULL);
	return max_ttl;
}

/*
 * Parse a lockable.token setting: empty (no token) or a decimal integer.
 */
static bool
check_token(char **newval, void **extra, GucSource source)
{
	const char *start = *newval;
	char	   *end;
	int64		parsed;
	int64	   *copy;

	if (start == NULL || *start == '\0')
	{
		*extra = NULL;
		return true;
	}

	errno = 0;
	parsed = strtoi64(start, &end, 10);
	if (errno != 0 || end == start || *end != '\0')
	{
		GUC_check_errdetail("lockable.token must be empty or an integer, the fencing token that lock_acquire returned.");
		return false;
	}

	copy = (int64 *) GucExtraAlloc(sizeof(int64));
	if (copy == NULL)
		return false;
	*copy = parsed;
	*extra = copy;
	return true;
}

static void
assign_token(const char *newval, void *extra)
{
	token = (int64 *) extra;
}

/*
 * LockableToken
 *		The fencing token the session writes with, if lockable.token is set.
 */
bool
LockableToken(int64 *value)
{
	if (token == NULL)
		return false;
	*value = *token;
	return true;
}

/*
 * Module load callback
 */
void
_PG_init(void)
{
	DefineCustomStringVariable("lockable.max_ttl",
							   gettext_noop("The longest lease lock_acquire grants."),
							   gettext_noop("A larger ttl is refused with SQLSTATE 22023."),
							   &lockable_max_ttl_string,
							   "1 day",
							   PGC_SUSET,
							   0,
							   check_max_ttl,
							   assign_max_ttl,
							   NULL);

	DefineCustomRealVariable("lockable.notify_queue_limit",
							 gettext_noop("How full the NOTIFY queue may be for lockable's notifications to be sent."),
							 gettext_noop("When pg_notification_queue_usage() is at least this at commit, the transaction's lockable notifications are dropped with a WARNING, and the lock changes commit."),
							 &lockable_notify_queue_limit,
							 0.5, 0.0, 1.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("lockable.history",
							 gettext_noop("Whether every change of a lock's holder or line is logged in lockable.history."),
							 gettext_noop("Set per database or role with ALTER DATABASE or ALTER ROLE ... SET."),
							 &lockable_history,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("lockable.history_retention",
							gettext_noop("lock_sweep deletes rows of lockable.history older than this; 0 keeps them all."),
							NULL,
							&lockable_history_retention,
							30 * 24 * 3600, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.sweep_interval",
							gettext_noop("Seconds between the background sweeper's rounds; 0 turns it off."),
							gettext_noop("Needs shared_preload_libraries = 'lockable'."),
							&lockable_sweep_interval,
							0, 0, INT_MAX / 1000,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomStringVariable("lockable.sweep_databases",
							   gettext_noop("The databases the background sweeper runs lock_sweep in, comma-separated."),
							   NULL,
							   &lockable_sweep_databases,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("lockable.sweep_older_than",
							gettext_noop("The background sweeper deletes the rows of locks that ended at least this long ago."),
							NULL,
							&lockable_sweep_older_than,
							3600, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("lockable.notify",
							 gettext_noop("Announces grants, releases and breaks on the \"lockable\" channel."),
							 NULL,
							 &lockable_notify,
							 true,
							 PGC_USERSET,
							 0,
							 NULL,
							 NULL,
							 NULL);

	DefineCustomStringVariable("lockable.owner",
							   gettext_noop("The lock owner this session writes as, for the enforce_lock trigger."),
							   gettext_noop("Empty means no owner: rows under a live lock cannot be written."),
							   &lockable_owner,
							   "",
							   PGC_USERSET,
							   0,
							   NULL,
							   NULL,
							   NULL);

	DefineCustomStringVariable("lockable.token",
							   gettext_noop("The fencing token this session writes with, for the enforce_lock trigger."),
							   gettext_noop("Empty means none; otherwise the acting owner must hold the row's live lock with exactly this token."),
							   &lockable_token_string,
							   "",
							   PGC_USERSET,
							   0,
							   check_token,
							   assign_token,
							   NULL);

	MarkGUCPrefixReserved("lockable");

	/*
	 * Preloaded, the postmaster sets up the condition variables that
	 * waiters sleep on; every backend broadcasts its commits' signals.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		WaitShmemRequest();
		NotifyShmemRequest();
		SweeperRegister();
	}
	WaitInit();
}
