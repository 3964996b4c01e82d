/*-------------------------------------------------------------------------
 *
 * history.c
 *	  The storage of lockable.history: one row per change of a lock's holder
 *	  or line, written in the transaction that makes the change.
 *
 * Events (the "event" column):
 *
 *	grant			a fresh grant, or the hand-off of a lock that ended
 *					(reason "hand-off", previous_owner the one who ended it)
 *	release			the holder released it
 *	expiry_hand_off	a call handed an expired lock to the head of its line
 *					(previous_owner the holder whose lease ran out)
 *	sweep			lock_sweep did that
 *	break			an administrator broke it
 *	take_over		lock_take_over (previous_owner, reason)
 *	hand_over		lock_hand_over (previous_owner the giver)
 *	place_taken, place_left, place_lapsed
 *					a place in line was taken, given up, or removed after it
 *					lapsed
 *	request, decline
 *					lock_request and lock_decline (owner the one who asked,
 *					previous_owner the holder)
 *
 * Renewals are not logged.  Each row carries the time (the database clock),
 * the uid, the owner, the token where there is one, the previous owner, the
 * reason, and the database role that made the call (the caller of the
 * SECURITY DEFINER function, GetOuterUserId).
 *
 * Invariant: a history row exists if and only if its change committed.  The
 * row is inserted by the call that makes the change, in its transaction
 * (and subtransaction: a waiting acquire's try that is rolled back takes
 * its rows with it), through table_write.c, so every index of the table is
 * kept.  The table is opened and closed around each row, so that no
 * relation reference outlives the resource owner that took it.
 *
 * lockable.history (a superuser's setting, so per database or role with
 * ALTER DATABASE / ALTER ROLE ... SET) turns the log off; off, a call costs
 * one test of a boolean.  Nothing is logged on a distributed install, nor
 * with the catalog of 1.3 or older (there is no table).
 * lockable.history_retention bounds it: lock_sweep deletes older rows.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/history.c
 *
 *-------------------------------------------------------------------------
 */
#include "history.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "table_write.h"

bool		lockable_history = true;
int			lockable_history_retention = 30 * 24 * 3600;

typedef enum HistoryColumn
{
	HISTORY_ID,
	HISTORY_AT,
	HISTORY_EVENT,
	HISTORY_UID,
	HISTORY_OWNER,
	HISTORY_TOKEN,
	HISTORY_PREVIOUS_OWNER,
	HISTORY_REASON,
	HISTORY_ROLE,
	NUM_HISTORY_COLUMNS
} HistoryColumn;

static const ExpectedColumn history_columns[NUM_HISTORY_COLUMNS] = {
	[HISTORY_ID] = {"id", INT8OID, false},
	[HISTORY_AT] = {"at", TIMESTAMPTZOID, false},
	[HISTORY_EVENT] = {"event", TEXTOID, false},
	[HISTORY_UID] = {"uid", TEXTOID, false},
	[HISTORY_OWNER] = {"owner", TEXTOID, false},
	[HISTORY_TOKEN] = {"token", INT8OID, false},
	[HISTORY_PREVIOUS_OWNER] = {"previous_owner", TEXTOID, false},
	[HISTORY_REASON] = {"reason", TEXTOID, false},
	[HISTORY_ROLE] = {"role", NAMEOID, false},
};

/*
 * HistoryRecord
 *		Log one event of a call on locks (which says whether the install is
 *		distributed); owner, previous and reason may be NULL, token < 0
 *		means none.
 */
void
HistoryRecord(const LockTable *locks, const char *event, text *uid,
			  text *owner, int64 token, text *previous, const char *reason)
{
	Oid			relid;
	Oid			seq;
	Relation	rel;
	AttrNumber	attnum[NUM_HISTORY_COLUMNS];
	TupleDesc	tupdesc;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	tuple;
	WriteTable	writer;
	NameData	role;

	if (!lockable_history || (locks != NULL && locks->distributed))
		return;
	relid = LockableRelid("history", true);
	if (!OidIsValid(relid))
		return;					/* the catalog of 1.3 or older */
	rel = table_open(relid, RowExclusiveLock);
	if (TrustExtensionTable(rel, history_columns, NUM_HISTORY_COLUMNS, attnum))
	{
		/* distributed by hand: lockable does not log on Citus */
		table_close(rel, NoLock);
		return;
	}
	seq = LockableRelid("history_seq", false);
	TrustExtensionSequence(seq);

	tupdesc = RelationGetDescr(rel);
	values = palloc0(sizeof(Datum) * tupdesc->natts);
	nulls = palloc(sizeof(bool) * tupdesc->natts);
	memset(nulls, true, sizeof(bool) * tupdesc->natts);
#define SET(col, datum) \
	do { values[attnum[col] - 1] = (datum); nulls[attnum[col] - 1] = false; } while (0)
	SET(HISTORY_ID, Int64GetDatum(nextval_internal(seq, true)));
	SET(HISTORY_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	SET(HISTORY_EVENT, CStringGetTextDatum(event));
	SET(HISTORY_UID, PointerGetDatum(uid));
	if (owner != NULL)
		SET(HISTORY_OWNER, PointerGetDatum(owner));
	if (token >= 0)
		SET(HISTORY_TOKEN, Int64GetDatum(token));
	if (previous != NULL)
		SET(HISTORY_PREVIOUS_OWNER, PointerGetDatum(previous));
	if (reason != NULL)
		SET(HISTORY_REASON, CStringGetTextDatum(reason));
	namestrcpy(&role, GetUserNameFromId(GetOuterUserId(), false));
	SET(HISTORY_ROLE, NameGetDatum(&role));
#undef SET

	tuple = heap_form_tuple(tupdesc, values, nulls);
	WriteTableBegin(&writer, rel);
	WriteTableInsert(&writer, tuple);
	WriteTableEnd(&writer);
	heap_freetuple(tuple);
	pfree(values);
	pfree(nulls);
	table_close(rel, NoLock);
}

/*
 * HistorySweep
 *		Delete the rows older than lockable.history_retention (0 keeps them
 *		all); returns how many.  For lock_sweep.
 */
uint64
HistorySweep(void)
{
	Oid			relid = LockableRelid("history", true);
	Relation	rel;
	AttrNumber	attnum[NUM_HISTORY_COLUMNS];
	uint64		deleted;
	Datum		cutoff;
	Oid			argtypes[1] = {TIMESTAMPTZOID};

	if (!OidIsValid(relid) || lockable_history_retention <= 0)
		return 0;
	/* verify it before SQL touches it */
	rel = table_open(relid, RowExclusiveLock);
	if (TrustExtensionTable(rel, history_columns, NUM_HISTORY_COLUMNS, attnum))
	{
		table_close(rel, NoLock);
		return 0;
	}
	table_close(rel, NoLock);

	cutoff = TimestampTzGetDatum(TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															 -(int64) lockable_history_retention * 1000));
	SPI_connect();
	if (SPI_execute_with_args("DELETE FROM lockable.history"
							  " WHERE at OPERATOR(pg_catalog.<) $1",
							  1, argtypes, &cutoff, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete old rows of lockable.history");
	deleted = SPI_processed;
	SPI_finish();
	return deleted;
}
