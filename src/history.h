/*-------------------------------------------------------------------------
 *
 * history.h
 *	  lockable.history, the log of every change of a lock's holder or line,
 *	  written in the transaction of the change (see history.c for the
 *	  events and the invariant).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/history.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef HISTORY_H
#define HISTORY_H

#include "lock_table.h"

extern bool lockable_history;
extern int	lockable_history_retention;

extern void HistoryRecord(const LockTable *locks, const char *event,
						  text *uid, text *owner, int64 token,
						  text *previous, const char *reason);
extern uint64 HistorySweep(void);

#endif							/* HISTORY_H */
