/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  Sleeping between the tries of a waiting lock_acquire: on condition
 *	  variables in shared memory when the library is preloaded, by polling
 *	  otherwise; and the commit-time signals that wake the sleepers (see
 *	  wait.h for the protocol).
 *
 * The shared memory is a fixed array of LOCKABLE_WAIT_SLOTS condition
 * variables, requested at start-up (shmem_request_hook) and set up by the shmem_startup_hook.  It exists only
 * when the postmaster loaded the library; a backend that loaded it later
 * (CREATE EXTENSION, or the first call of a function) finds no array and
 * polls.
 *
 * Signals are collected per transaction in a small set of slot numbers and
 * broadcast by a transaction callback at XACT_EVENT_COMMIT, which runs after
 * the commit is visible to other backends: a woken waiter that looks sees
 * what the committing transaction did.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/wait.c
 *
 *-------------------------------------------------------------------------
 */
#include "wait.h"

#include "access/hash.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

/* The shared array, or NULL when the library was not preloaded. */
typedef struct WaitSlots
{
	ConditionVariableMinimallyPadded cv[LOCKABLE_WAIT_SLOTS];
} WaitSlots;

static WaitSlots *wait_slots = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* The variable a waiter of this backend sleeps on, if any. */
static ConditionVariable *sleeping_on = NULL;

/* Slots to broadcast when the current transaction commits. */
static int	pending[32];
static int	npending = 0;
static bool pending_all = false;	/* more than fit: broadcast every slot */
static bool callback_registered = false;

/*---- Start-up ----*/

static void
RequestSlots(void)
{
	RequestAddinShmemSpace(sizeof(WaitSlots));
}

static void
WaitShmemRequestHook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestSlots();
}

static void
WaitShmemStartupHook(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wait_slots = ShmemInitStruct("lockable wait slots", sizeof(WaitSlots),
								 &found);
	if (!found)
		for (int i = 0; i < LOCKABLE_WAIT_SLOTS; i++)
			ConditionVariableInit(&wait_slots->cv[i].cv);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * WaitShmemRequest
 *		From _PG_init, when the postmaster is loading the library: ask for the
 *		shared array and arrange for it to be set up.
 */
void
WaitShmemRequest(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = WaitShmemRequestHook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = WaitShmemStartupHook;
}

/*
 * WaitPreloaded
 *		Whether waiters sleep on condition variables (the library was
 *		preloaded) rather than poll.
 */
bool
WaitPreloaded(void)
{
	return wait_slots != NULL;
}

/*---- Signals ----*/

static void
BroadcastPending(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		if (pending_all)
			for (int i = 0; i < LOCKABLE_WAIT_SLOTS; i++)
				ConditionVariableBroadcast(&wait_slots->cv[i].cv);
		else
			for (int i = 0; i < npending; i++)
				ConditionVariableBroadcast(&wait_slots->cv[pending[i]].cv);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
	{
		npending = 0;
		pending_all = false;
		/* The transaction's end took this backend off any variable. */
		sleeping_on = NULL;
	}
}

/*
 * WaitInit
 *		Once per backend, from _PG_init: the transaction callback that
 *		broadcasts at commit.
 */
void
WaitInit(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(BroadcastPending, NULL);
		callback_registered = true;
	}
}

static int
SlotOf(text *uid)
{
	uint32		hash = DatumGetUInt32(hash_any((unsigned char *) VARDATA_ANY(uid),
											  VARSIZE_ANY_EXHDR(uid)));

	return hash % LOCKABLE_WAIT_SLOTS;
}

/*
 * WaitSignalAtCommit
 *		Wake the waiters of uid when the current transaction commits.
 */
void
WaitSignalAtCommit(text *uid)
{
	int			slot;

	if (wait_slots == NULL || pending_all)
		return;
	slot = SlotOf(uid);
	for (int i = 0; i < npending; i++)
		if (pending[i] == slot)
			return;
	if (npending == lengthof(pending))
		pending_all = true;
	else
		pending[npending++] = slot;
}

/*---- Waiting ----*/

/*
 * WaitBegin
 *		Before the first look at uid's lock: when preloaded, get on uid's
 *		condition variable's list, so that a commit between the look and
 *		the sleep is not missed.
 */
void
WaitBegin(text *uid)
{
	if (wait_slots == NULL)
		return;
	sleeping_on = &wait_slots->cv[SlotOf(uid)].cv;
	ConditionVariablePrepareToSleep(sleeping_on);
}

/*
 * WaitSleep
 *		Sleep until the next look: until "until" (the holder's expiry or the
 *		caller's deadline, whichever the caller passed) at the latest, and
 *		no longer than LOCKABLE_WAIT_SAFETY_MS preloaded or
 *		LOCKABLE_WAIT_POLL_MS polling.  Query cancel, statement_timeout and
 *		postmaster death end the sleep.
 */
void
WaitSleep(TimestampTz now, TimestampTz until)
{
	int64		max_us = (sleeping_on != NULL ?
						  LOCKABLE_WAIT_SAFETY_MS : LOCKABLE_WAIT_POLL_MS) * (int64) 1000;
	int64		sleep_us = until - now;
	long		sleep_ms;

	if (sleep_us > max_us)
		sleep_us = max_us;
	if (sleep_us < 1000)
		sleep_us = 1000;
	sleep_ms = (long) ((sleep_us + 999) / 1000);

	if (sleeping_on != NULL)
		(void) ConditionVariableTimedSleep(sleeping_on, sleep_ms,
										   PG_WAIT_EXTENSION);
	else
	{
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	CHECK_FOR_INTERRUPTS();
}

/*
 * WaitEnd
 *		After the last look.  (An error on the way is fine too: the
 *		transaction's abort takes this backend off any condition variable.)
 */
void
WaitEnd(void)
{
	if (sleeping_on != NULL)
		ConditionVariableCancelSleep();
	sleeping_on = NULL;
}
