/*-------------------------------------------------------------------------
 *
 * wait.h
 *	  How a waiting lock_acquire sleeps between its tries, and how the
 *	  calls that may free a lock wake it.
 *
 * Two ways, one interface:
 *
 *	- preloaded (shared_preload_libraries = 'lockable'): a fixed array of
 *	  condition variables in shared memory, one chosen by a hash of the uid.
 *	  A waiter sleeps on its uid's variable; every call that may free a lock
 *	  or let the line move (a release, a break, a hand-off, a place given
 *	  up, a sweep that hands on) marks the uid's variable, and the marks are
 *	  broadcast when the transaction commits.  A waiter therefore sleeps
 *	  until a commit that concerns its uid (or another uid that hashes to
 *	  the same variable: a spurious wake-up, which only costs a look), the
 *	  holder's expiry, its own deadline, or at most LOCKABLE_WAIT_SAFETY_MS
 *	  as a safety net (a change it is not told of: a release committed by
 *	  COMMIT PREPARED, which runs no commit callback, or a row changed by
 *	  hand);
 *	- not preloaded: it polls, waking every LOCKABLE_WAIT_POLL_MS.
 *
 * Protocol for the waiter: WaitBegin(uid) before the first look at the
 * lock, so that a commit between the look and the sleep still wakes it;
 * then any number of [look, WaitSleep]; WaitEnd() on every way out (errors
 * included: the transaction's abort ends it too).  Both ways honour query
 * cancel, statement_timeout and postmaster death.
 *
 * Marks made in a subtransaction that rolls back are kept, and broadcast at
 * the top-level commit: a waiter woken for nothing looks again and sleeps
 * again, so signalling anyway is harmless.  A transaction that rolls back
 * broadcasts nothing.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/wait.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WAIT_H
#define WAIT_H

#include "lockable.h"

/* Longest sleep between two tries of a waiting acquire, when polling. */
#define LOCKABLE_WAIT_POLL_MS 10

/*
 * Longest sleep on a condition variable, when preloaded.  Every wake of a
 * waiter costs a wake-up and a look at the lock, and waiters that began
 * together wake together, so this bounds the idle cost: 100 waiters on one
 * uid measured 0.03 cores with a safety net of 1 s, 0.006 with 5 s.
 */
#define LOCKABLE_WAIT_SAFETY_MS 5000

/* Condition variables in shared memory, when preloaded. */
#define LOCKABLE_WAIT_SLOTS 1024

extern void WaitShmemRequest(void);
extern void WaitInit(void);
extern bool WaitPreloaded(void);

extern void WaitBegin(text *uid);
extern void WaitSleep(TimestampTz now, TimestampTz until);
extern void WaitEnd(void);

extern void WaitSignalAtCommit(text *uid);

#endif							/* WAIT_H */
