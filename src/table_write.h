/*-------------------------------------------------------------------------
 *
 * table_write.h
 *	  Writing rows of lockable's own tables the way the executor writes
 *	  them, without planning a statement.
 *
 * The lock functions find the row they change themselves (an index read,
 * see lock_table.c and queue.c) and then write exactly the row version
 * they read: a compare-and-set.  This module does the write, and does
 * everything an UPDATE, INSERT or DELETE of that row would do besides the
 * heap change, as the logical-replication apply worker does it
 * (execReplication.c): check the table's constraints, insert entries into
 * every index of the table (all of them, including one that CREATE INDEX
 * CONCURRENTLY or REINDEX CONCURRENTLY is still building, and none for a
 * HOT update), check replica identity for publications, and fire the
 * AFTER ROW triggers a DBA added (an audit trigger, pg_repack's capture
 * trigger).  BEFORE ROW triggers are refused when the table is opened
 * (WriteTableCheckTriggers): they could change what the compare-and-set
 * decided.
 *
 * Protocol: WriteTableBegin on a relation the caller opened with
 * RowExclusiveLock; any number of writes; WriteTableEnd.  The executor
 * state pins resources (the tuple descriptor, the indexes) with the
 * resource owner current at the first write, so writes made inside a
 * subtransaction must be ended inside it: WriteTableEnd before the
 * subtransaction is released, or WriteTableForget after it was rolled back
 * (its resource owner has then released them already).  A write that
 * finds the row changed by a transaction that committed since the caller
 * read it writes nothing and returns TM_Updated or TM_Deleted; the caller
 * reads again.  With wait, a write waits (as UPDATE does) for a concurrent
 * writer of the row to finish; without it, it returns TM_BeingModified.
 * Under REPEATABLE READ and SERIALIZABLE the caller passes the transaction
 * snapshot as crosscheck, so a row changed after the snapshot is TM_Updated
 * or TM_Deleted, which the caller turns into a serialization failure.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/table_write.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TABLE_WRITE_H
#define TABLE_WRITE_H

#include "postgres.h"

#include "pg_compat.h"

#include "access/tableam.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

/* One table's write state for one call. */
typedef struct WriteTable
{
	Relation	rel;
	EState	   *estate;			/* NULL until the first write */
	ResultRelInfo *rri;
	bool		indexes_open;	/* ExecOpenIndices done */
	TupleTableSlot *slot;		/* the row being written */
} WriteTable;

extern void WriteTableCheckTriggers(Relation rel);
extern void WriteTableBegin(WriteTable *wt, Relation rel);
extern void WriteTableEnd(WriteTable *wt);
extern void WriteTableForget(WriteTable *wt);

extern TM_Result WriteTableUpdate(WriteTable *wt, ItemPointer otid,
								  HeapTuple newtuple,
								  int ncols, const int *cols,
								  bool wait, Snapshot crosscheck);
extern TM_Result WriteTableDelete(WriteTable *wt, ItemPointer tid,
								  bool wait, Snapshot crosscheck);
extern void WriteTableInsert(WriteTable *wt, HeapTuple tuple);

pg_noreturn extern void WriteTableSerializationFailure(TM_Result result);

#endif							/* TABLE_WRITE_H */
