/*-------------------------------------------------------------------------
 *
 * lock_table.h
 *	  The storage of lockable.locks: open and verify, peek, compare-and-set
 *	  write, insert, and the set-oriented statements.
 *
 * lock_table.c is the only code that reads or writes lockable.locks.  One
 * row per uid; a released lock keeps its row (owner NULL, expires_at the
 * moment of release), so that the next grant is a HOT update.  From 1.2
 * the row also counts the uid's places in line (queue.c): "places" is the
 * number of rows the uid has in lockable.places, live or lapsed, and
 * "last_place" the order number of the last place taken.  Every change to
 * the set of places of a uid writes its lock row first, so the lock row is
 * the one point where everything that happens to a uid is serialized.
 *
 * Protocol (every per-uid write is a compare-and-set):
 *
 *	1. LockTablePeek reads the uid's row through the primary key with the
 *	   latest snapshot, after CommandCounterIncrement, so it sees the
 *	   latest committed state and this transaction's own changes.  It takes
 *	   no row lock: a caller that decides to refuse has blocked nobody.  The
 *	   snapshot stays registered in the LockRow until the row is written or
 *	   read again, so the version seen cannot be pruned away meanwhile.
 *	2. The caller decides from what it saw.
 *	3. LockTableWrite writes a new version of exactly the version seen.  If
 *	   a concurrent transaction changed it and committed, nothing is
 *	   written and LOCK_WRITE_CHANGED tells the caller to peek again (READ
 *	   COMMITTED); under REPEATABLE READ or SERIALIZABLE a row changed after
 *	   the transaction snapshot is a serialization failure (40001) instead,
 *	   so no decision is ever made on data the snapshot did not show.  With
 *	   wait, a write that finds an open transaction changing or locking the
 *	   row waits for it as UPDATE does, locks the row (FOR NO KEY UPDATE)
 *	   and writes nothing: LOCK_WRITE_CHANGED, so that the caller decides
 *	   again, with the clock read after the wait (a lease granted after a
 *	   wait starts when it is granted), and then writes without waiting;
 *	   without wait, LOCK_WRITE_BUSY says one is at work.
 *	   LockTableShareRow instead takes a FOR SHARE lock on exactly the
 *	   version seen (for enforce_lock: the writes of a holder keep its
 *	   grant from changing until they commit), with the same results.
 *	4. A uid with no row gets one from LockTableInsert (INSERT ... ON
 *	   CONFLICT DO NOTHING) as a free lock, and the caller peeks again and
 *	   grants it like any free lock; so every token, a first grant's too,
 *	   is drawn after the row it goes into was read.
 *
 * Invariants: at most one row per uid (the primary key, kept by every
 * write through table_write.c, REINDEX CONCURRENTLY included); every token
 * comes from lockable.token_seq (on Citus, from the sequence of the node
 * that draws it); writes are made only to the extension's
 * own, verified table (trust.c).
 *
 * On Citus, after lockable.distribute(), lockable.locks and lockable.places
 * are hash-distributed on uid and colocated: the node's own copy of each
 * is an empty shell, and a uid's rows are in shards.  A per-uid call opens
 * the shards of its uid (heap is the shard of lockable.locks, places_shard
 * that of lockable.places), on the node Citus delegated it to, under
 * Citus's shard metadata lock (citus.c); the set-oriented statements run
 * on every shard placed on the node.  Tokens are then drawn as described
 * at LockTableNewToken: unique across the cluster, and strictly increasing
 * per uid across shard moves.
 *
 * The table of 1.0 and 1.1 has no line columns.  The library serves it as
 * it is until ALTER EXTENSION lockable UPDATE runs (has_line is false, and
 * every uid's line is empty).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/lock_table.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCK_TABLE_H
#define LOCK_TABLE_H

#include "lockable.h"

#include "storage/lockdefs.h"
#include "table_write.h"

/* The columns of lockable.locks (their positions are looked up). */
typedef enum LockColumn
{
	LOCK_UID,
	LOCK_OWNER,
	LOCK_TOKEN,
	LOCK_ACQUIRED_AT,
	LOCK_EXPIRES_AT,
	LOCK_PLACES,				/* 1.2 */
	LOCK_LAST_PLACE,			/* 1.2 */
	NUM_LOCK_COLUMNS
} LockColumn;

/* lockable.locks, its primary key and the token sequence, for one call. */
typedef struct LockTable
{
	Relation	heap;
	Relation	pkey;			/* the primary key, on uid */
	Oid			token_seq;		/* lockable.token_seq */
	AttrNumber	attnum[NUM_LOCK_COLUMNS];
	bool		has_line;		/* the 1.2 table, with the line columns */
	bool		writing;		/* opened for writes */
	bool		distributed;	/* by lockable.distribute(): see above */
	Oid			places_shard;	/* the uid's shard of lockable.places */
	ItemPointerData waited_for;	/* the row version this call locked after
								 * waiting for its writer (LockTableWrite) */
	uint64		writes;			/* lock rows this call has written */
	WriteTable	writer;
} LockTable;

/* What a lock row says. */
typedef struct LockValues
{
	text	   *owner;			/* NULL if released */
	int64		token;
	TimestampTz acquired_at;
	TimestampTz expires_at;
	int32		places;			/* rows in lockable.places for the uid */
	int64		last_place;		/* order number of the last place taken */
} LockValues;

/* The row of one uid as a peek saw it. */
typedef struct LockRow
{
	bool		found;			/* is there a row for the uid? */
	HeapTuple	tuple;			/* a copy of the version seen */
	Snapshot	snapshot;		/* the peek's, registered until released */
	LockValues	v;
} LockRow;

typedef enum LockWriteResult
{
	LOCK_WRITE_OK,				/* written */
	LOCK_WRITE_CHANGED,			/* changed by a committed transaction: peek
								 * again */
	LOCK_WRITE_BUSY				/* being changed now (only without wait) */
} LockWriteResult;

extern bool LockTableExists(void);
extern void LockTableOpen(LockTable *table, text *uid, const char *caller,
						  bool write);
extern void LockTableOpenToShare(LockTable *table, text *uid,
								 const char *caller);
extern void LockTableClose(LockTable *table);
extern void LockTableFinishWrites(LockTable *table);
extern void LockTableForgetWrites(LockTable *table);

extern void LockTablePeek(LockTable *table, text *uid, LockRow *row);
extern void LockRowRelease(LockRow *row);
extern void LockRowForgetSnapshot(LockRow *row, bool unregister);
extern bool LockRowIsLive(const LockRow *row, TimestampTz now);

extern LockWriteResult LockTableWrite(LockTable *table, LockRow *row,
									  const LockValues *values, bool wait);
extern LockWriteResult LockTableShareRow(LockTable *table, LockRow *row);
extern bool LockTableInsert(LockTable *table, text *uid, TimestampTz now);
extern int64 LockTableNewToken(LockTable *table, int64 floor);

/* The set-oriented statements (SPI), each returning uids. */
extern uint64 AppendSpiUids(text ***uids, uint64 total, MemoryContext cxt);
extern int	LockTableUidsHeldBy(text *owner, TimestampTz now, Snapshot snapshot,
								text ***uids);
extern int	LockTableUidsWithLines(TimestampTz now, text ***uids);
extern uint64 LockTableSweep(TimestampTz cutoff);
extern bool LockTableDistributed(void);

#endif							/* LOCK_TABLE_H */
