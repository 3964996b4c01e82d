/*-------------------------------------------------------------------------
 *
 * version_check.c
 *	  The version_check trigger: optimistic concurrency control enforced by
 *	  the database, so that no writer can silently overwrite a change it
 *	  has not seen.
 *
 * A versioned table has an integer column (by default "version") that
 * counts the updates of each row.  A writer reads a row with its version v
 * and writes it back carrying the same v (or not mentioning the column at
 * all).  The trigger keeps these invariants:
 *
 *	- an inserted row has a version: NULL becomes 1, an explicit value stays;
 *	- every update of a row raises its version by exactly one, whatever the
 *	  statement (plain, bulk, UPDATE ... FROM, INSERT ... ON CONFLICT DO
 *	  UPDATE), because the trigger fires once per row updated;
 *	- an update whose new row carries a version other than the old row's was
 *	  based on a version that is no longer current, and is refused with
 *	  SQLSTATE 40001 (serialization_failure), which clients already retry.
 *
 * Comparing NEW with OLD is what makes the check hold under concurrency.
 * When two READ COMMITTED writers both read version 6 and both run
 * "UPDATE ... SET ..., version = 6", the second one waits for the first,
 * then re-evaluates its update against the row the first one committed:
 * that row is its OLD (version 7) while its NEW still carries 6, so it is
 * refused.  A writer that leaves the version out of its SET list gets
 * OLD's version in NEW and is never refused: it asked for no check.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/version_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* The column used when the trigger is created without an argument. */
#define DEFAULT_VERSION_COLUMN "version"

/* What version_check knows about one trigger (see trigger_cache.c). */
typedef struct VersionTrigger
{
	TriggerCacheEntry header;
	AttrNumber	attnum;			/* the version column */
	Oid			typid;			/* INT2OID, INT4OID or INT8OID */
} VersionTrigger;

static HTAB *version_triggers = NULL;

PG_FUNCTION_INFO_V1(version_check);

/*
 * CheckVersionTriggerCall
 *		Refuse any use other than BEFORE INSERT or UPDATE ... FOR EACH ROW
 *		with at most one argument.
 */
static void
CheckVersionTriggerCall(FunctionCallInfo fcinfo)
{
	TriggerData *trigdata;

	CheckRowTriggerCall(fcinfo, "version_check",
						TRIGGER_EVENT_INSERT, TRIGGER_EVENT_UPDATE,
						gettext_noop("%s: must be called on insert or update"));
	trigdata = (TriggerData *) fcinfo->context;
	if (trigdata->tg_trigger->tgnargs > 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("version_check: must not be called with more than one argument")));
}

/*
 * FindVersionColumn
 *		Fill in the cache entry: find the trigger's column in its table and
 *		check that it can hold a version.
 */
static void
FindVersionColumn(TriggerCacheEntry *header, TriggerData *trigdata)
{
	VersionTrigger *entry = (VersionTrigger *) header;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *colname = DEFAULT_VERSION_COLUMN;
	Form_pg_attribute attr = NULL;
	int			attnum;

	if (trigdata->tg_trigger->tgnargs == 1)
		colname = trigdata->tg_trigger->tgargs[0];

	attnum = SPI_fnumber(tupdesc, colname);
	if (attnum > 0)
		attr = TupleDescAttr(tupdesc, attnum - 1);

	if (attr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel)),
				 errhint("Name the version column as the argument of the version_check trigger.")));
	if (attr->atttypid != INT2OID && attr->atttypid != INT4OID &&
		attr->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("version column \"%s\" of relation \"%s\" must be of type smallint, integer or bigint",
						colname, RelationGetRelationName(rel)),
				 errdetail("The column is of type %s.",
						   format_type_be(attr->atttypid))));
	if (attr->attgenerated != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("version column \"%s\" of relation \"%s\" cannot be a generated column",
						colname, RelationGetRelationName(rel))));

	entry->attnum = attr->attnum;
	entry->typid = attr->atttypid;
}

static char *
ColumnName(Relation rel, AttrNumber attnum)
{
	return NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname);
}

static int64
VersionValue(Datum value, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return DatumGetInt16(value);
		case INT4OID:
			return DatumGetInt32(value);
		default:
			return DatumGetInt64(value);
	}
}

static Datum
VersionDatum(int64 version, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return Int16GetDatum((int16) version);
		case INT4OID:
			return Int32GetDatum((int32) version);
		default:
			return Int64GetDatum(version);
	}
}

/*
 * NextVersion
 *		The version after "version" in a column of type typid, or an error
 *		if the type cannot hold it.
 */
static int64
NextVersion(int64 version, Oid typid, Relation rel, AttrNumber attnum)
{
	int64		max;

	switch (typid)
	{
		case INT2OID:
			max = PG_INT16_MAX;
			break;
		case INT4OID:
			max = PG_INT32_MAX;
			break;
		default:
			max = PG_INT64_MAX;
			break;
	}

	if (version >= max)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("version of a row of table \"%s\" is out of range for type %s",
						RelationGetRelationName(rel), format_type_be(typid)),
				 errdetail("The row is at version " INT64_FORMAT ", the largest value the column \"%s\" can hold.",
						   version, ColumnName(rel, attnum)),
				 errtablecol(rel, attnum)));
	return version + 1;
}

/*
 * ReportStaleVersion
 *		Refuse an update whose new row carries a version other than the old
 *		row's.
 */
static void
ReportStaleVersion(Relation rel, AttrNumber attnum, Oid typid,
				   Datum oldvalue, bool oldnull, Datum newvalue, bool newnull)
{
	char		oldtext[MAXINT8LEN + 1] = "NULL";
	char		newtext[MAXINT8LEN + 1] = "NULL";

	if (!oldnull)
		pg_lltoa(VersionValue(oldvalue, typid), oldtext);
	if (!newnull)
		pg_lltoa(VersionValue(newvalue, typid), newtext);

	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("update of table \"%s\" was based on a stale version of the row",
					RelationGetRelationName(rel)),
			 errdetail("The row is at version %s; the update was based on version %s.",
					   oldtext, newtext),
			 errhint("Read the row again and reapply the change, or leave column \"%s\" out of the update to overwrite unconditionally.",
					 ColumnName(rel, attnum)),
			 errtablecol(rel, attnum)));
}

/*
 * version_check() RETURNS trigger
 *		BEFORE INSERT OR UPDATE ... FOR EACH ROW; optional argument: the
 *		name of the version column (default "version"), which must be of
 *		type smallint, integer or bigint.
 *
 * On INSERT, a NULL version becomes 1.  On UPDATE, refuses the row with
 * SQLSTATE 40001 if its new version differs from its old one, and otherwise
 * stores the old version plus one.
 */
Datum
version_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	VersionTrigger *entry;
	HeapTuple	newtuple;
	bool		newnull;
	int64		version;
	int			attnums[1];
	Datum		values[1];
	bool		nulls[1] = {false};

	CheckVersionTriggerCall(fcinfo);
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);

	entry = (VersionTrigger *)
		LookupTriggerCache(&version_triggers, "lockable version_check triggers",
						   sizeof(VersionTrigger), trigdata,
						   FindVersionColumn);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		newtuple = trigdata->tg_trigtuple;
		(void) heap_getattr(newtuple, entry->attnum, tupdesc, &newnull);
		if (!newnull)
			return PointerGetDatum(newtuple);
		version = 1;
	}
	else
	{
		HeapTuple	oldtuple = trigdata->tg_trigtuple;
		Datum		oldvalue;
		Datum		newvalue;
		bool		oldnull;

		newtuple = trigdata->tg_newtuple;
		oldvalue = heap_getattr(oldtuple, entry->attnum, tupdesc, &oldnull);
		newvalue = heap_getattr(newtuple, entry->attnum, tupdesc, &newnull);

		if (oldnull != newnull ||
			(!oldnull && VersionValue(oldvalue, entry->typid) !=
			 VersionValue(newvalue, entry->typid)))
			ReportStaleVersion(rel, entry->attnum, entry->typid,
							   oldvalue, oldnull, newvalue, newnull);

		/* A row that never had a version is at version 0. */
		version = oldnull ? 0 : VersionValue(oldvalue, entry->typid);
		version = NextVersion(version, entry->typid, rel, entry->attnum);
	}

	attnums[0] = entry->attnum;
	values[0] = VersionDatum(version, entry->typid);
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, tupdesc, 1,
													 attnums, values, nulls));
}
