/*-------------------------------------------------------------------------
 *
 * notify.h
 *	  Notifications of lock changes as hints: sent at commit when the NOTIFY
 *	  queue has room, dropped (and counted) otherwise and at PREPARE, never
 *	  failing the change they announce (see notify.c).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/notify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include "lockable.h"

extern double lockable_notify_queue_limit;

extern void NotifyShmemRequest(void);
extern void NotifyHint(const char *payload);

#endif							/* NOTIFY_H */
