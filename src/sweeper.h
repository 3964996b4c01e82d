/*-------------------------------------------------------------------------
 *
 * sweeper.h
 *	  The background sweeper, when the library is preloaded: lock_sweep
 *	  every lockable.sweep_interval in lockable.sweep_databases (see
 *	  sweeper.c).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/sweeper.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SWEEPER_H
#define SWEEPER_H

#include "lockable.h"

extern int	lockable_sweep_interval;
extern char *lockable_sweep_databases;
extern int	lockable_sweep_older_than;

extern void SweeperRegister(void);

#endif							/* SWEEPER_H */
