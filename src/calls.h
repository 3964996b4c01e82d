/*-------------------------------------------------------------------------
 *
 * calls.h
 *	  What the SQL-callable lock functions (locks.c, transfer.c) share:
 *	  argument checks, the lease arithmetic, the tables of one call, and the
 *	  notifications.
 *
 * Every name argument (uid, owner, holder, to_owner) is 1 to
 * LOCKABLE_MAX_NAME_BYTES bytes, never NULL (22004, 22023); every interval
 * argument is not NULL and finite; a ttl is positive and at most
 * lockable.max_ttl (LeaseEnd).  Notifications are hints, sent at commit
 * (notify.c); the events that may let a waiter in also wake the uid's
 * waiters at commit (wait.c).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/calls.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CALLS_H
#define CALLS_H

#include "lockable.h"

#include "fmgr.h"

#include "lock_table.h"
#include "queue.h"

/*
 * The arguments that are checked by one helper each.  Every message is a
 * whole sentence, so that it can be translated.
 */
typedef enum NameArgument
{
	ARG_UID,
	ARG_OWNER,
	ARG_HOLDER,
	ARG_TO_OWNER
} NameArgument;

typedef enum IntervalArgument
{
	ARG_TTL,
	ARG_WAIT,
	ARG_OLDER_THAN
} IntervalArgument;

/* The tables of one call. */
typedef struct Tables
{
	LockTable	locks;
	LineTable	line;			/* opened on first need */
} Tables;

/* A notification: see AnnounceEvent for the payload. */
typedef struct LockEvent
{
	const char *event;
	text	   *uid;
	text	   *owner;			/* NULL: null */
	int64		token;			/* < 0: left out */
	int			position;		/* <= 0: left out */
	int			waiters;		/* < 0: left out */
	bool		with_previous;	/* "previous": {"owner", "token"} */
	text	   *previous_owner;
	int64		previous_token;
	bool		with_holder;
	text	   *holder;
	bool		with_reason;
	const char *reason;
	bool		with_message;
	const char *message;
	bool		with_version;
	bool		version_known;
	int64		version;
} LockEvent;

extern text *GetNameArg(FunctionCallInfo fcinfo, int argno, NameArgument which);
extern Interval *GetIntervalArg(FunctionCallInfo fcinfo, int argno,
								IntervalArgument which);
extern bool IntervalHasNegativeField(const Interval *span);
extern bool IntervalIsZero(const Interval *span);
extern char *IntervalText(Interval *span);
extern int64 IntervalMicroseconds(const Interval *span);
extern TimestampTz TimestampPlusInterval(TimestampTz start, Interval *span);
extern TimestampTz LeaseEnd(Interval *ttl, TimestampTz now);
extern bool TextEqual(const text *a, const text *b);

extern void AnnounceEvent(const LockEvent *e);
extern void Announce(const char *event, text *uid, text *owner, int64 token,
					 int position, int waiters);
extern void AnnounceHandOff(LockTable *locks, UidState *state, text *lost,
							int64 lost_token, const HandOff *handoff,
							TimestampTz now, const char *history_event);

extern void TablesOpen(Tables *tables, text *uid, const char *caller,
					   bool write);
extern void TablesClose(Tables *tables);

#endif							/* CALLS_H */
