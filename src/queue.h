/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  The waiting line of a uid: its storage (lockable.places) and the
 *	  hand-off rule.
 *
 * Terms:
 *
 *	place	a row of lockable.places: owner is in uid's line, at order
 *			number seq, until expires_at.  A waiter renews its place by
 *			calling lock_acquire(..., queue => true) again, exactly as a
 *			holder renews its lock; a renewal keeps seq.
 *	live	a place whose expires_at is later than now.  A place that is not
 *			renewed lapses; a lapsed place is skipped, and removed by the
 *			next write that finds it.
 *	line	the places of a uid in seq order; a waiter's position is 1 plus
 *			the number of live places ahead of it.
 *	head	the first live place.
 *
 * Invariant (the hand-off rule): at no committed moment is a lock free
 * while its line has a live place, except between the lock's expiry and
 * the next call that writes on its uid.  Every call that ends a live lock
 * (release, release_all, break) grants it, in the same transaction, to the
 * head; every call that writes on a uid whose lock has expired first hands
 * it to the head.  The hand-off is a grant: a new token, acquired_at now,
 * expires_at now plus the ttl the waiter last asked for, and the head's
 * place removed.
 *
 * Protocol.  The lock row of the uid is the one point where changes to the
 * uid serialize (lock_table.h): every write here that adds or removes a
 * place first writes the lock row (its "places" count and "last_place"), by
 * compare-and-set; only then are the place rows changed.  So a line read
 * together with the lock row version it belongs to is exact for as long as
 * that version is the latest, and two joins, or a join and the release that
 * should serve it, can never both decide on the same state.  The only
 * writes of a place that do not go through the lock row are renewals by the
 * place's owner, which change nothing but its expiry; a removal that meets
 * one (TM_Updated) removes the renewed version, or, under REPEATABLE READ or
 * SERIALIZABLE, fails with 40001.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef QUEUE_H
#define QUEUE_H

#include "lock_table.h"

/* The columns of lockable.places. */
typedef enum PlaceColumn
{
	PLACE_UID,
	PLACE_OWNER,
	PLACE_SEQ,
	PLACE_TTL,
	PLACE_QUEUED_AT,
	PLACE_EXPIRES_AT,
	NUM_PLACE_COLUMNS
} PlaceColumn;

/* lockable.places and its indexes, for one call (only with the 1.2 table). */
typedef struct LineTable
{
	Relation	heap;
	Relation	pkey;			/* (uid, owner) */
	Relation	order_index;	/* (uid, seq) */
	AttrNumber	attnum[NUM_PLACE_COLUMNS];
	bool		writing;
	WriteTable	writer;
	Oid			shard;			/* on Citus: the uid's shard, set before
								 * opening (LockTable.places_shard) */
} LineTable;

/* One place, as read. */
typedef struct Place
{
	HeapTuple	tuple;			/* a copy of the version read */
	text	   *owner;			/* a copy of its own, freed by UidRelease */
	int64		seq;
	Interval	ttl;			/* the lease the waiter last asked for */
	TimestampTz queued_at;
	TimestampTz expires_at;
	bool		removed;		/* removed by this call */
	bool		lapsed;			/* removed because it lapsed */
} Place;

/* A uid's lock row and line, read together. */
typedef struct UidState
{
	text	   *uid;
	LockRow		lock;
	int			nplaces;		/* places read, in seq order */
	Place	   *places;
} UidState;

/* What a hand-off, or its absence, did, for the caller's notifications. */
typedef struct HandOff
{
	bool		handed;			/* granted to the head */
	text	   *holder;			/* the new holder */
	int64		token;			/* its token */
	bool		ended;			/* no live place: the lease was ended */
} HandOff;

extern void LineTableOpen(LineTable *line, bool write);
extern void LineTableEnsureOpen(LineTable *line, bool write);
extern void LineTableClose(LineTable *line);
extern void LineTableFinishWrites(LineTable *line);
extern void LineTableForgetWrites(LineTable *line);

extern void UidRead(LockTable *locks, LineTable *line, text *uid,
					UidState *state);
extern void UidRelease(UidState *state);

extern bool PlaceIsLive(const Place *place, TimestampTz now);
extern int	LineFind(const UidState *state, const text *owner);
extern int	LineHead(const UidState *state, TimestampTz now);
extern int	LinePosition(const UidState *state, int index, TimestampTz now);
extern int	LineWaiters(const UidState *state, TimestampTz now);

extern LockWriteResult LineGrant(LockTable *locks, LineTable *line,
								 UidState *state, text *owner, int64 token,
								 TimestampTz now, TimestampTz expires);
extern LockWriteResult LineHandOff(LockTable *locks, LineTable *line,
								   UidState *state, TimestampTz now,
								   bool end_lease, const text *leaving,
								   HandOff *result);
extern LockWriteResult LineTakeOver(LockTable *locks, LineTable *line,
									UidState *state, text *owner, int64 token,
									TimestampTz now, TimestampTz expires,
									const text *requeue, Interval *requeue_ttl);
extern LockWriteResult LineJoin(LockTable *locks, LineTable *line,
								UidState *state, text *owner, Interval *ttl,
								TimestampTz now, int *position);
extern LockWriteResult LineRenewPlace(LockTable *locks, LineTable *line,
									  UidState *state, int index,
									  Interval *ttl, TimestampTz now);
extern LockWriteResult LineTidy(LockTable *locks, LineTable *line,
								UidState *state, TimestampTz now);
extern LockWriteResult LineLeave(LockTable *locks, LineTable *line,
								 UidState *state, int index);

extern int	LineUidsOf(text *owner, Snapshot snapshot, text ***uids);

#endif							/* QUEUE_H */
