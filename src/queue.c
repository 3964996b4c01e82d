/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The waiting line of a uid: the storage of lockable.places and the
 *	  hand-off rule (see queue.h for the terms, the invariant and the
 *	  protocol).
 *
 * A line is read whole, in seq order, through the (uid, seq) index, with
 * the snapshot of the peek that read its uid's lock row: lines are short
 * (the people waiting for one record), and reading them with the same
 * snapshot makes the pair consistent.  A uid whose lock row counts no
 * places is never looked up here, so the line costs nothing when unused:
 * lockable.places is not even opened.
 *
 * Every write that changes a place writes the uid's lock row first, by
 * compare-and-set; a renewal of a place, which changes neither the lock nor
 * the count, writes the lock row unchanged (a HOT update that makes a new
 * version), so that even it invalidates what a concurrent call read.  Hence
 * a place row is never changed under a transaction that holds the lock row,
 * and a place write that finds its row changed is a can't-happen error.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "queue.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "citus.h"
#include "history.h"

/* The columns of lockable.places, as lockable--1.1--1.2.sql created them. */
static const ExpectedColumn places_columns[NUM_PLACE_COLUMNS] = {
	[PLACE_UID] = {"uid", TEXTOID, false},
	[PLACE_OWNER] = {"owner", TEXTOID, false},
	[PLACE_SEQ] = {"seq", INT8OID, false},
	[PLACE_TTL] = {"ttl", INTERVALOID, false},
	[PLACE_QUEUED_AT] = {"queued_at", TIMESTAMPTZOID, false},
	[PLACE_EXPIRES_AT] = {"expires_at", TIMESTAMPTZOID, false},
};

static SPIPlanPtr uids_of_plan = NULL;

/*---- Opening the table ----*/

/*
 * IndexIsOn
 *		Whether index is a btree on exactly the two given columns of line.
 */
static bool
IndexIsOn(LineTable *line, Relation index, PlaceColumn first,
		  PlaceColumn second)
{
	Form_pg_index form = index->rd_index;

	return index->rd_rel->relam == BTREE_AM_OID &&
		form->indnatts == 2 && form->indnkeyatts == 2 &&
		form->indkey.values[0] == line->attnum[first] &&
		form->indkey.values[1] == line->attnum[second] &&
		form->indisunique && form->indisvalid;
}

/*
 * LineTableOpen
 *		Open and verify lockable.places and its two unique indexes, for
 *		reading or writing (locks held until the end of the transaction).
 *		On Citus, the caller sets line->shard to the uid's shard of it
 *		(LockTable.places_shard), which is opened instead (without one,
 *		the table is only verified: its shell has no rows).
 */
void
LineTableOpen(LineTable *line, bool write)
{
	LOCKMODE	lockmode = write ? RowExclusiveLock : AccessShareLock;
	Oid			namespace = get_namespace_oid("lockable", false);
	Oid			relid = get_relname_relid("places", namespace);
	List	   *indexes;
	ListCell   *lc;

	Oid			shard = line->shard;
	bool		distributed;

	memset(line, 0, sizeof(LineTable));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"lockable.places\" does not exist"),
				 errhint("The extension's objects are missing; reinstall it with DROP EXTENSION and CREATE EXTENSION.")));
	line->heap = table_open(relid, lockmode);
	distributed = TrustExtensionTable(line->heap, places_columns,
									  NUM_PLACE_COLUMNS, line->attnum);
	if (distributed && OidIsValid(shard))
	{
		Relation	shell = line->heap;

		line->heap = table_open(shard, lockmode);
		TrustCitusShard(line->heap, shell, places_columns, NUM_PLACE_COLUMNS,
						line->attnum);
		table_close(shell, NoLock);
		line->shard = shard;
	}

	indexes = RelationGetIndexList(line->heap);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), lockmode);

		if (line->pkey == NULL && index->rd_index->indisprimary &&
			IndexIsOn(line, index, PLACE_UID, PLACE_OWNER))
			line->pkey = index;
		else if (line->order_index == NULL &&
				 IndexIsOn(line, index, PLACE_UID, PLACE_SEQ))
			line->order_index = index;
		else
			index_close(index, lockmode);
	}
	list_free(indexes);
	if (line->pkey == NULL || line->order_index == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"lockable.places\" lacks its primary key on (uid, owner) or its unique index on (uid, seq)")));

	line->writing = write;
	if (write)
		WriteTableBegin(&line->writer, line->heap);
}

void
LineTableClose(LineTable *line)
{
	if (line->heap == NULL)
		return;
	if (line->writing)
		WriteTableEnd(&line->writer);
	index_close(line->order_index, NoLock);
	index_close(line->pkey, NoLock);
	table_close(line->heap, NoLock);
	line->heap = NULL;
}

/* As LockTableFinishWrites and LockTableForgetWrites. */
void
LineTableFinishWrites(LineTable *line)
{
	if (line->heap != NULL && line->writing)
		WriteTableEnd(&line->writer);
}

void
LineTableForgetWrites(LineTable *line)
{
	if (line->heap != NULL && line->writing)
		WriteTableForget(&line->writer);
}

/*
 * LineTableEnsureOpen
 *		Open lockable.places on first need; the caller initialized *line
 *		with zeroes and says whether it will write.  The relations are
 *		pinned by the resource owner current at the first call, so a caller
 *		that may need them inside a subtransaction it releases or rolls
 *		back (a waiting acquire's try) opens them before it.
 */
void
LineTableEnsureOpen(LineTable *line, bool write)
{
	if (line->heap == NULL)
		LineTableOpen(line, write);
}

/*---- Reading ----*/

static void
DeformPlace(LineTable *line, HeapTuple tuple, Place *place)
{
	TupleDesc	tupdesc = RelationGetDescr(line->heap);
	Datum	   *values = palloc(sizeof(Datum) * tupdesc->natts);
	bool	   *nulls = palloc(sizeof(bool) * tupdesc->natts);

#define COLUMN(c) (line->attnum[c] - 1)
	memset(place, 0, sizeof(Place));
	place->tuple = tuple;
	heap_deform_tuple(tuple, tupdesc, values, nulls);
	/*
	 * A copy, not a pointer into the tuple: a hand-off names the head's
	 * owner in the lock row and in its notification after the place's
	 * tuple was deleted and freed.  UidRelease frees it.
	 */
	place->owner = (text *) datumCopy(values[COLUMN(PLACE_OWNER)], false, -1);
	place->seq = DatumGetInt64(values[COLUMN(PLACE_SEQ)]);
	place->ttl = *DatumGetIntervalP(values[COLUMN(PLACE_TTL)]);
	place->queued_at = DatumGetTimestampTz(values[COLUMN(PLACE_QUEUED_AT)]);
	place->expires_at = DatumGetTimestampTz(values[COLUMN(PLACE_EXPIRES_AT)]);
#undef COLUMN
	pfree(values);
	pfree(nulls);
}

/*
 * ReadLine
 *		Read the places of state->uid in seq order, with the snapshot of the
 *		peek that read its lock row.
 */
static void
ReadLine(LineTable *line, UidState *state)
{
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			allocated = 4;

	Assert(state->lock.snapshot != NULL);
	state->places = palloc(sizeof(Place) * allocated);
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   line->order_index->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(state->uid));
	scan = index_beginscan_compat(line->heap, line->order_index,
						   state->lock.snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(line->heap, NULL);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		if (state->nplaces == allocated)
		{
			allocated *= 2;
			state->places = repalloc(state->places, sizeof(Place) * allocated);
		}
		DeformPlace(line, ExecCopySlotHeapTuple(slot),
					&state->places[state->nplaces++]);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
}

/*
 * UidRead
 *		Read uid's lock row and, if it counts any places, its line.  Frees
 *		what an earlier read into the same state kept.  With a 1.0 or 1.1
 *		table (no line), line may be NULL.
 */
void
UidRead(LockTable *locks, LineTable *line, text *uid, UidState *state)
{
	UidRelease(state);
	state->uid = uid;
	LockTablePeek(locks, uid, &state->lock);
	if (locks->has_line && state->lock.found && state->lock.v.places > 0)
	{
		LineTableEnsureOpen(line, locks->writing);
		ReadLine(line, state);
	}
}

/*
 * UidRelease
 *		Free the lock row and the places a read kept (the state stays
 *		usable: UidRead fills it again).
 */
void
UidRelease(UidState *state)
{
	for (int i = 0; i < state->nplaces; i++)
	{
		if (state->places[i].tuple != NULL)
			heap_freetuple(state->places[i].tuple);
		pfree(state->places[i].owner);
	}
	if (state->places != NULL)
		pfree(state->places);
	state->places = NULL;
	state->nplaces = 0;
	LockRowRelease(&state->lock);
}

static bool
TextEqual(const text *a, const text *b)
{
	int			len = VARSIZE_ANY_EXHDR(a);

	return len == (int) VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), len) == 0;
}

bool
PlaceIsLive(const Place *place, TimestampTz now)
{
	return !place->removed && place->expires_at > now;
}

/*
 * LineFind
 *		The index of owner's place (live or lapsed, not removed), or -1.
 */
int
LineFind(const UidState *state, const text *owner)
{
	for (int i = 0; i < state->nplaces; i++)
		if (!state->places[i].removed &&
			TextEqual(state->places[i].owner, owner))
			return i;
	return -1;
}

/*
 * LineHead
 *		The index of the first live place, or -1.
 */
int
LineHead(const UidState *state, TimestampTz now)
{
	for (int i = 0; i < state->nplaces; i++)
		if (PlaceIsLive(&state->places[i], now))
			return i;
	return -1;
}

/*
 * LinePosition
 *		The position of place "index": 1 plus the live places ahead of it.
 */
int
LinePosition(const UidState *state, int index, TimestampTz now)
{
	int			position = 1;

	for (int i = 0; i < index; i++)
		if (PlaceIsLive(&state->places[i], now))
			position++;
	return position;
}

/*
 * LineWaiters
 *		The number of live places.
 */
int
LineWaiters(const UidState *state, TimestampTz now)
{
	int			waiters = 0;

	for (int i = 0; i < state->nplaces; i++)
		if (PlaceIsLive(&state->places[i], now))
			waiters++;
	return waiters;
}

/*---- Writing places ----*/

static TimestampTz
TimestampPlusIntervalQueue(TimestampTz start, Interval *span)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(start),
												   IntervalPGetDatum(span)));
}

static Snapshot
Crosscheck(void)
{
	return IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : InvalidSnapshot;
}

/*
 * CheckPlaceWrite
 *		A place write made while this transaction holds the uid's lock row
 *		cannot meet a concurrent change, except one that committed after a
 *		REPEATABLE READ or SERIALIZABLE transaction's snapshot.
 */
static void
CheckPlaceWrite(TM_Result result, const UidState *state)
{
	if (result == TM_Ok)
		return;
	if (IsolationUsesXactSnapshot())
		WriteTableSerializationFailure(result);
	elog(ERROR, "place in the line of lock \"%s\" was changed by another transaction",
		 text_to_cstring(state->uid));
}

/*
 * RemoveMarkedPlaces
 *		Delete the places marked removed by the caller, whose write of the
 *		lock row has succeeded.
 */
static void
RemoveMarkedPlaces(LockTable *locks, LineTable *line, UidState *state)
{
	for (int i = 0; i < state->nplaces; i++)
	{
		Place	   *place = &state->places[i];

		if (place->removed && place->tuple != NULL)
		{
			if (place->lapsed)
				HistoryRecord(locks, "place_lapsed", state->uid, place->owner,
							  -1, NULL, NULL);
			CheckPlaceWrite(WriteTableDelete(&line->writer,
											 &place->tuple->t_self, true,
											 Crosscheck()),
							state);
			heap_freetuple(place->tuple);
			place->tuple = NULL;
		}
	}
	CommandCounterIncrement();
}

static int
CountRemoved(const UidState *state)
{
	int			removed = 0;

	for (int i = 0; i < state->nplaces; i++)
		if (state->places[i].removed)
			removed++;
	return removed;
}

/*
 * MarkLapsed
 *		Mark every lapsed place for removal.
 */
static void
MarkLapsed(UidState *state, TimestampTz now)
{
	for (int i = 0; i < state->nplaces; i++)
		if (state->places[i].expires_at <= now)
			state->places[i].removed = state->places[i].lapsed = true;
}

/*
 * WriteLockAndLine
 *		Write the lock row as *values says, with the place count following
 *		the marks (the line as read, less the places marked removed, plus
 *		"added"), then remove the marked places.  On LOCK_WRITE_CHANGED the
 *		marks are cleared and nothing was written.
 */
static LockWriteResult
WriteLockAndLine(LockTable *locks, LineTable *line, UidState *state,
				 LockValues *values, int added)
{
	LockWriteResult result;

	values->places = state->nplaces - CountRemoved(state) + added;
	result = LockTableWrite(locks, &state->lock, values, true);
	if (result != LOCK_WRITE_OK)
	{
		for (int i = 0; i < state->nplaces; i++)
			state->places[i].removed = state->places[i].lapsed = false;
		return result;
	}
	if (CountRemoved(state) > 0)
	{
		LineTableEnsureOpen(line, true);
		RemoveMarkedPlaces(locks, line, state);
	}
	return LOCK_WRITE_OK;
}

/*---- The writes: each a compare-and-set that starts at the lock row ----*/

/*
 * LineGrant
 *		Grant the lock state->lock describes (free, released, or expired) to
 *		owner with token until expires, removing owner's own place, if it
 *		has one, and every lapsed place.  The caller checked that no live
 *		place is ahead of owner.
 */
LockWriteResult
LineGrant(LockTable *locks, LineTable *line, UidState *state, text *owner,
		  int64 token, TimestampTz now, TimestampTz expires)
{
	LockValues	values = state->lock.v;
	int			mine = LineFind(state, owner);

	MarkLapsed(state, now);
	if (mine >= 0)
		state->places[mine].removed = true;
	values.owner = owner;
	values.token = token;
	values.acquired_at = now;
	values.expires_at = expires;
	return WriteLockAndLine(locks, line, state, &values, 0);
}

/*
 * LineHandOff
 *		Hand the lock state->lock describes to the head of the line: a grant
 *		with a new token, until now plus the ttl the waiter last asked for
 *		(at most lockable.max_ttl as it is now), and its place removed;
 *		lapsed places are removed too.  "leaving", if not NULL, is an owner
 *		giving up its place, which is removed and never served.  Without a
 *		live place the lock is not handed on: with end_lease (a release or a
 *		break of the live lock) the lease ends now; without it (an expired
 *		lock), only lapsed places (and the leaver's) are removed.  Writes
 *		nothing, and returns LOCK_WRITE_OK, when there is nothing to do.
 */
LockWriteResult
LineHandOff(LockTable *locks, LineTable *line, UidState *state,
			TimestampTz now, bool end_lease, const text *leaving,
			HandOff *result)
{
	LockValues	values = state->lock.v;
	LockWriteResult written;
	int			leaver = leaving != NULL ? LineFind(state, leaving) : -1;
	int			head;

	memset(result, 0, sizeof(HandOff));
	MarkLapsed(state, now);
	if (leaver >= 0)
		state->places[leaver].removed = true;
	head = LineHead(state, now);

	if (head >= 0)
	{
		Place	   *place = &state->places[head];
		Interval   *ttl = &place->ttl;
		Interval   *max_ttl = LockableMaxTtl();

		/* lockable.max_ttl may have been lowered since the place was taken */
		if (DatumGetInt32(DirectFunctionCall2(interval_cmp,
											  IntervalPGetDatum(ttl),
											  IntervalPGetDatum(max_ttl))) > 0)
			ttl = max_ttl;
		place->removed = true;
		values.owner = place->owner;
		values.token = LockTableNewToken(locks, state->lock.v.token);
		values.acquired_at = now;
		values.expires_at = DatumGetTimestampTz(
			DirectFunctionCall2(timestamptz_pl_interval,
								TimestampTzGetDatum(now),
								IntervalPGetDatum(ttl)));
		result->handed = true;
		result->holder = place->owner;
		result->token = values.token;
	}
	else if (end_lease)
	{
		values.owner = NULL;
		values.expires_at = now;
		result->ended = true;
	}
	else if (CountRemoved(state) == 0)
		return LOCK_WRITE_OK;

	written = WriteLockAndLine(locks, line, state, &values, 0);
	if (written != LOCK_WRITE_OK)
		memset(result, 0, sizeof(HandOff));
	return written;
}

/*
 * InsertPlace
 *		Insert the place row of owner in state->uid's line at order number
 *		seq; the caller has written the lock row.
 */
static void
InsertPlace(LineTable *line, UidState *state, const text *owner, int64 seq,
			Interval *ttl, TimestampTz now, TimestampTz expires)
{
	TupleDesc	tupdesc;
	Datum	   *row;
	bool	   *rownulls;
	HeapTuple	tuple;

	LineTableEnsureOpen(line, true);
	tupdesc = RelationGetDescr(line->heap);
	row = palloc0(sizeof(Datum) * tupdesc->natts);
	rownulls = palloc(sizeof(bool) * tupdesc->natts);
	/* Dropped columns, if any, stay NULL. */
	memset(rownulls, true, sizeof(bool) * tupdesc->natts);
#define SET(col, datum) \
	do { row[line->attnum[col] - 1] = (datum); rownulls[line->attnum[col] - 1] = false; } while (0)
	SET(PLACE_UID, PointerGetDatum(state->uid));
	SET(PLACE_OWNER, PointerGetDatum(owner));
	SET(PLACE_SEQ, Int64GetDatum(seq));
	SET(PLACE_TTL, IntervalPGetDatum(ttl));
	SET(PLACE_QUEUED_AT, TimestampTzGetDatum(now));
	SET(PLACE_EXPIRES_AT, TimestampTzGetDatum(expires));
#undef SET
	tuple = heap_form_tuple(tupdesc, row, rownulls);
	WriteTableInsert(&line->writer, tuple);
	heap_freetuple(tuple);
	pfree(row);
	pfree(rownulls);
	CommandCounterIncrement();
}

/*
 * LineTakeOver
 *		Grant the lock state->lock describes, whatever its state, to owner
 *		with token until expires, as LineGrant does (owner's own place and
 *		lapsed places removed, the rest of the line in its order); with
 *		requeue not NULL, that owner (the displaced holder) gets a place
 *		first in line, until now plus requeue_ttl.
 */
LockWriteResult
LineTakeOver(LockTable *locks, LineTable *line, UidState *state, text *owner,
			 int64 token, TimestampTz now, TimestampTz expires,
			 const text *requeue, Interval *requeue_ttl)
{
	LockValues	values = state->lock.v;
	int			mine = LineFind(state, owner);
	int64		seq = 0;
	LockWriteResult result;

	MarkLapsed(state, now);
	if (mine >= 0)
		state->places[mine].removed = true;
	values.owner = owner;
	values.token = token;
	values.acquired_at = now;
	values.expires_at = expires;
	if (requeue != NULL)
	{
		/* before the first place that stays, or the first one ever */
		int			first = -1;

		for (int i = 0; i < state->nplaces && first < 0; i++)
			if (!state->places[i].removed)
				first = i;
		if (first >= 0)
			seq = state->places[first].seq - 1;
		else
		{
			values.last_place = values.last_place + 1;
			seq = values.last_place;
		}
	}
	result = WriteLockAndLine(locks, line, state, &values,
							  requeue != NULL ? 1 : 0);
	if (result != LOCK_WRITE_OK || requeue == NULL)
		return result;
	InsertPlace(line, state, requeue, seq, requeue_ttl, now,
				TimestampPlusIntervalQueue(now, requeue_ttl));
	return LOCK_WRITE_OK;
}

/*
 * LineJoin
 *		Take a place for owner at the end of the line, until now + ttl; or,
 *		if owner's place there has lapsed, take it again at the end.  Sets
 *		*position.  The new place is added to state, so LineWaiters counts
 *		it.
 */
LockWriteResult
LineJoin(LockTable *locks, LineTable *line, UidState *state, text *owner,
		 Interval *ttl, TimestampTz now, int *position)
{
	LockValues	values = state->lock.v;
	int			mine = LineFind(state, owner);
	TimestampTz expires;
	Datum		datums[NUM_PLACE_COLUMNS];
	int			attnums[NUM_PLACE_COLUMNS];
	TupleDesc	tupdesc;
	LockWriteResult result;

	Assert(mine < 0 || !PlaceIsLive(&state->places[mine], now));
	expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													  TimestampTzGetDatum(now),
													  IntervalPGetDatum(ttl)));
	values.last_place = values.last_place + 1;
	result = WriteLockAndLine(locks, line, state, &values, mine < 0 ? 1 : 0);
	if (result != LOCK_WRITE_OK)
		return result;

	LineTableEnsureOpen(line, true);
	tupdesc = RelationGetDescr(line->heap);
	for (int c = 0; c < NUM_PLACE_COLUMNS; c++)
		attnums[c] = line->attnum[c];
	datums[PLACE_UID] = PointerGetDatum(state->uid);
	datums[PLACE_OWNER] = PointerGetDatum(owner);
	datums[PLACE_SEQ] = Int64GetDatum(values.last_place);
	datums[PLACE_TTL] = IntervalPGetDatum(ttl);
	datums[PLACE_QUEUED_AT] = TimestampTzGetDatum(now);
	datums[PLACE_EXPIRES_AT] = TimestampTzGetDatum(expires);

	if (mine >= 0)
	{
		/* The lapsed place, taken again at the end: uid and owner stay. */
		Place	   *place = &state->places[mine];
		bool		nulls[NUM_PLACE_COLUMNS] = {false};
		HeapTuple	newtuple;

		newtuple = heap_modify_tuple_by_cols(place->tuple, tupdesc,
											 NUM_PLACE_COLUMNS - 2,
											 attnums + 2, datums + 2,
											 nulls + 2);
		CheckPlaceWrite(WriteTableUpdate(&line->writer, &place->tuple->t_self,
										 newtuple, NUM_PLACE_COLUMNS - 2,
										 attnums + 2, true, Crosscheck()),
						state);
		heap_freetuple(newtuple);
		place->removed = true;	/* superseded by the one added below */
	}
	else
		InsertPlace(line, state, owner, values.last_place, ttl, now, expires);
	CommandCounterIncrement();

	/* The new place, at the end of the line as this call knows it. */
	state->places = state->places == NULL ?
		palloc(sizeof(Place)) :
		repalloc(state->places, sizeof(Place) * (state->nplaces + 1));
	memset(&state->places[state->nplaces], 0, sizeof(Place));
	state->places[state->nplaces].owner =
		(text *) datumCopy(PointerGetDatum(owner), false, -1);
	state->places[state->nplaces].seq = values.last_place;
	state->places[state->nplaces].ttl = *ttl;
	state->places[state->nplaces].queued_at = now;
	state->places[state->nplaces].expires_at = expires;
	state->nplaces++;
	*position = LinePosition(state, state->nplaces - 1, now);
	return LOCK_WRITE_OK;
}

/*
 * LineRenewPlace
 *		Renew the live place "index" until now + ttl; its position stays.
 *		The lock row is written unchanged first, so that a concurrent call
 *		that read the line before the renewal cannot decide on it.
 */
LockWriteResult
LineRenewPlace(LockTable *locks, LineTable *line, UidState *state, int index,
			   Interval *ttl, TimestampTz now)
{
	LockValues	values = state->lock.v;
	Place	   *place = &state->places[index];
	int			attnums[2] = {line->attnum[PLACE_TTL],
							  line->attnum[PLACE_EXPIRES_AT]};
	Datum		datums[2];
	bool		nulls[2] = {false, false};
	HeapTuple	newtuple;
	LockWriteResult result;

	Assert(PlaceIsLive(place, now));
	result = WriteLockAndLine(locks, line, state, &values, 0);
	if (result != LOCK_WRITE_OK)
		return result;

	place->expires_at = DatumGetTimestampTz(
		DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(now),
							IntervalPGetDatum(ttl)));
	place->ttl = *ttl;
	datums[0] = IntervalPGetDatum(ttl);
	datums[1] = TimestampTzGetDatum(place->expires_at);
	LineTableEnsureOpen(line, true);
	newtuple = heap_modify_tuple_by_cols(place->tuple,
										 RelationGetDescr(line->heap),
										 2, attnums, datums, nulls);
	CheckPlaceWrite(WriteTableUpdate(&line->writer, &place->tuple->t_self,
									 newtuple, 2, attnums, true, Crosscheck()),
					state);
	heap_freetuple(newtuple);
	CommandCounterIncrement();
	return LOCK_WRITE_OK;
}

/*
 * LineTidy
 *		Remove the lapsed places of a uid whose lock stays as it is (a live
 *		lock, or an expired one with no live place).  Writes nothing, and
 *		returns LOCK_WRITE_OK, when none has lapsed.
 */
LockWriteResult
LineTidy(LockTable *locks, LineTable *line, UidState *state, TimestampTz now)
{
	LockValues	values = state->lock.v;

	MarkLapsed(state, now);
	if (CountRemoved(state) == 0)
		return LOCK_WRITE_OK;
	return WriteLockAndLine(locks, line, state, &values, 0);
}

/*
 * LineLeave
 *		Give up place "index" (live or lapsed).
 */
LockWriteResult
LineLeave(LockTable *locks, LineTable *line, UidState *state, int index)
{
	LockValues	values = state->lock.v;

	state->places[index].removed = true;
	return WriteLockAndLine(locks, line, state, &values, 0);
}

/*
 * LineUidsOf
 *		The uids in whose lines owner has a place (live or lapsed); returns
 *		their number.
 */
int
LineUidsOf(text *owner, Snapshot snapshot, text ***uids)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Datum		values[1] = {PointerGetDatum(owner)};
	LineTable	line = {0};
	bool		distributed;
	Oid		   *shards = NULL;
	int			nshards = 1;
	uint64		total = 0;

	/* Verify the table (and on Citus each shard) before SQL touches it. */
	LineTableOpen(&line, false);
	distributed = TrustExtensionTable(line.heap, places_columns,
									  NUM_PLACE_COLUMNS, line.attnum);
	if (distributed)
		nshards = CitusLocalShards(RelationGetRelid(line.heap), &shards);
	for (int s = 0; distributed && s < nshards; s++)
	{
		Relation	shard = table_open(shards[s], AccessShareLock);
		AttrNumber	attnum[NUM_PLACE_COLUMNS];

		TrustCitusShard(shard, line.heap, places_columns, NUM_PLACE_COLUMNS,
						attnum);
		table_close(shard, NoLock);
	}
	LineTableClose(&line);

	*uids = MemoryContextAllocZero(callercxt, sizeof(text *));
	SPI_connect();
	for (int s = 0; s < nshards; s++)
	{
		SPIPlanPtr	plan;
		Oid			argtypes[1] = {TEXTOID};
		int			rc;

		if (distributed)
		{
			/* A shard on this node, by name: see lock_table.c. */
			plan = SPI_prepare(psprintf("SELECT uid FROM %s"
										" WHERE owner OPERATOR(pg_catalog.=) $1",
										quote_qualified_identifier(get_namespace_name(get_rel_namespace(shards[s])),
																   get_rel_name(shards[s]))),
							   1, argtypes);
			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s",
					 SPI_result_code_string(SPI_result));
		}
		else
		{
			if (uids_of_plan == NULL)
			{
				plan = SPI_prepare("SELECT uid FROM lockable.places"
								   " WHERE owner OPERATOR(pg_catalog.=) $1",
								   1, argtypes);
				if (plan == NULL)
					elog(ERROR, "SPI_prepare failed: %s",
						 SPI_result_code_string(SPI_result));
				SPI_keepplan(plan);
				uids_of_plan = plan;
			}
			plan = uids_of_plan;
		}
		/* The caller's snapshot (see lock_release_all) */
		rc = SPI_execute_snapshot(plan, values, NULL, snapshot,
								  InvalidSnapshot, true, false, 0);
		if (rc < 0)
			elog(ERROR, "SPI_execute_snapshot failed: %s",
				 SPI_result_code_string(rc));
		total = AppendSpiUids(uids, total, callercxt);
	}
	SPI_finish();
	return (int) total;
}
