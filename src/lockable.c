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
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

/*---- GUC variables ----*/

bool		lockable_notify = true;
char	   *lockable_max_ttl_string = NULL;

/*
 * The value of lockable.max_ttl as an Interval, kept by the check hook in
 * the GUC's "extra" (malloc'd, as guc.c requires) and installed by the
 * assign hook.
 */
static Interval *max_ttl = NULL;

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

	copy = (Interval *) malloc(sizeof(Interval));
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

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("lockable");
#else
	EmitWarningsOnPlaceholders("lockable");
#endif
}
