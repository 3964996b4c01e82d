/*-------------------------------------------------------------------------
 *
 * sweeper.c
 *	  The background sweeper: lock_sweep on a timer, in the databases the
 *	  DBA names, with nobody scheduling it (issue 20, item 18).
 *
 * lockable.locks keeps a row per uid ever locked, and lines keep lapsed
 * places, until lock_sweep removes them; a lock whose holder vanished while
 * others wait is handed on by the next call on its uid, or by lock_sweep.
 * Without a pg_cron job nothing calls it, and a user who locks 20,000
 * distinct uids leaves 20,000 rows behind.  When the library is preloaded,
 * a launcher process (a background worker connected to no database)
 * wakes every lockable.sweep_interval and, for each database in
 * lockable.sweep_databases in turn, starts a short-lived worker that
 * connects to it and, if the extension is installed there, runs
 *
 *		SELECT lockable.lock_sweep(lockable.sweep_older_than)
 *
 * in a transaction of its own, then exits.  One sweep per database runs at
 * a time: the worker takes the transaction-level advisory lock (19531, 1)
 * ("LK", 1) of its database first, and skips the round when another
 * session holds it (a second server attached to the same data cannot
 * exist, but a DBA's own sweep job may take the same lock to stay out of
 * the way).  A sweep that fails is logged and tried again next round.
 *
 * Settings (lockable.c defines them; all reloadable, SIGHUP):
 *	lockable.sweep_interval		seconds between rounds; 0 (the default)
 *								turns the sweeper off;
 *	lockable.sweep_databases	comma-separated database names;
 *	lockable.sweep_older_than	lock_sweep's argument, in seconds
 *								(default one hour).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/sweeper.c
 *
 *-------------------------------------------------------------------------
 */
#include "sweeper.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

int			lockable_sweep_interval = 0;
char	   *lockable_sweep_databases = NULL;
int			lockable_sweep_older_than = 3600;

PGDLLEXPORT void SweeperLauncherMain(Datum arg);
PGDLLEXPORT void SweeperWorkerMain(Datum arg);

/*
 * SweeperRegister
 *		From _PG_init, when the postmaster is loading the library: the
 *		launcher, restarted 10 s after it fails.
 */
void
SweeperRegister(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "lockable");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "SweeperLauncherMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "lockable sweeper launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "lockable sweeper launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * SweepDatabase
 *		Start the worker for one database and wait until it exits.
 */
static void
SweepDatabase(const char *dbname)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "lockable");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "SweeperWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "lockable sweeper for %s", dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "lockable sweeper");
	strlcpy(worker.bgw_extra, dbname, BGW_EXTRALEN);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errmsg("lockable sweeper: could not start a worker for database \"%s\"", dbname),
				 errhint("Raise max_worker_processes.")));
		return;
	}
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		return;
	(void) WaitForBackgroundWorkerShutdown(handle);
}

static void
SweepRound(void)
{
	char	   *names;
	List	   *databases;
	ListCell   *lc;

	if (lockable_sweep_databases == NULL || lockable_sweep_databases[0] == '\0')
		return;
	names = pstrdup(lockable_sweep_databases);
	if (!SplitIdentifierString(names, ',', &databases))
	{
		ereport(LOG,
				(errmsg("lockable sweeper: invalid lockable.sweep_databases \"%s\"",
						lockable_sweep_databases)));
		return;
	}
	foreach(lc, databases)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending || ShutdownRequestPending)
			break;
		SweepDatabase((const char *) lfirst(lc));
	}
	list_free(databases);
	pfree(names);
}

/*
 * SweeperLauncherMain
 *		Every lockable.sweep_interval, one round over the databases.
 */
void
SweeperLauncherMain(Datum arg)
{
	TimestampTz next = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	/* no database: only to show in pg_stat_activity, as other launchers do */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	while (!ShutdownRequestPending)
	{
		long		timeout_ms = 60 * 1000L;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			next = 0;
		}
		if (lockable_sweep_interval > 0)
		{
			TimestampTz now = GetCurrentTimestamp();

			if (next == 0)
				next = TimestampTzPlusMilliseconds(now, lockable_sweep_interval * 1000L);
			else if (now >= next)
			{
				SweepRound();
				next = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   lockable_sweep_interval * 1000L);
			}
			timeout_ms = Max(1, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next));
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}

/*
 * SweeperWorkerMain
 *		One sweep of the database named in bgw_extra, then exit.
 */
void
SweeperWorkerMain(Datum arg)
{
	char		dbname[BGW_EXTRALEN];
	int			rc;

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, sizeof(dbname));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(dbname, NULL, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "lockable sweep");

	rc = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension"
					 " WHERE extname OPERATOR(pg_catalog.=) 'lockable'", true, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;

		rc = SPI_execute("SELECT pg_catalog.pg_try_advisory_xact_lock(19531, 1)", false, 1);
		if (rc == SPI_OK_SELECT && SPI_processed == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull)))
		{
			char	   *sql = psprintf("SELECT lockable.lock_sweep(pg_catalog.make_interval(secs => %d))",
									   lockable_sweep_older_than);
			int64		deleted;

			rc = SPI_execute(sql, false, 1);
			if (rc != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "lockable sweeper: lock_sweep failed: %s",
					 SPI_result_code_string(rc));
			deleted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
			ereport(DEBUG1,
					(errmsg_internal("lockable sweeper: database \"%s\": " INT64_FORMAT " rows deleted",
									 dbname, deleted)));
		}
		else
			ereport(DEBUG1,
					(errmsg_internal("lockable sweeper: database \"%s\": another sweep holds the lock",
									 dbname)));
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
