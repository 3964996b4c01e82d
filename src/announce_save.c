/*-------------------------------------------------------------------------
 *
 * announce_save.c
 *	  The announce_save trigger: a "saved" notification when a protected row
 *	  is updated (1.4).
 *
 * An editor waiting for a record, or viewing it, wants to know that the
 * holder saved a new version, so that it reloads before it edits a stale
 * copy.  AFTER UPDATE ... FOR EACH ROW, the trigger sends, at commit (a
 * hint, notify.c):
 *
 *		{"event": "saved", "uid", "owner", "version"}
 *
 * uid = prefix || uid_column::text exactly as enforce_lock names the row's
 * lock (LockUidOfValue), owner the acting owner (lockable.owner, or null),
 * version the row's version column after the update (null without one).
 * It is opt-in per table: enable_save_announcements() installs it (as
 * trigger lockable_announce_save), and lockable.notify = off, per session
 * or role, silences it like every notification.  It changes nothing and
 * reads no lock.
 *
 * Arguments: the uid column, the uid prefix, and the version column ('' for
 * none).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/announce_save.c
 *
 *-------------------------------------------------------------------------
 */
#include "calls.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct SaveTrigger
{
	TriggerCacheEntry header;
	AttrNumber	uid_attnum;
	FmgrInfo	typoutput;
	bool		trim_blanks;
	AttrNumber	version_attnum;	/* 0: none */
	Oid			version_type;
	int			prefixlen;
	char		prefix[LOCKABLE_MAX_NAME_BYTES + 1];
} SaveTrigger;

static HTAB *save_triggers = NULL;

PG_FUNCTION_INFO_V1(announce_save);

static AttrNumber
ColumnOf(Relation rel, const char *colname)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), colname);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel))));
	return (AttrNumber) attnum;
}

static void
ReadSaveArguments(TriggerCacheEntry *header, TriggerData *trigdata)
{
	SaveTrigger *entry = (SaveTrigger *) header;
	Relation	rel = trigdata->tg_relation;
	Trigger    *trigger = trigdata->tg_trigger;
	const char *prefix = trigger->tgargs[1];
	const char *version = trigger->tgnargs >= 3 ? trigger->tgargs[2] : "";
	Form_pg_attribute attr;
	Oid			typoutput;
	bool		typisvarlena;

	entry->uid_attnum = ColumnOf(rel, trigger->tgargs[0]);
	attr = TupleDescAttr(RelationGetDescr(rel), entry->uid_attnum - 1);
	CheckLockColumnType(attr->atttypid, trigger->tgargs[0],
						RelationGetRelationName(rel));
	CheckLockPrefix(prefix);
	getTypeOutputInfo(attr->atttypid, &typoutput, &typisvarlena);
	fmgr_info_cxt(typoutput, &entry->typoutput, CacheMemoryContext);
	entry->trim_blanks = (getBaseType(attr->atttypid) == BPCHAROID);
	entry->prefixlen = strlen(prefix);
	memcpy(entry->prefix, prefix, entry->prefixlen + 1);
	entry->version_attnum = 0;
	if (version[0] != '\0')
	{
		entry->version_attnum = ColumnOf(rel, version);
		entry->version_type = getBaseType(TupleDescAttr(RelationGetDescr(rel),
														entry->version_attnum - 1)->atttypid);
		if (entry->version_type != INT2OID && entry->version_type != INT4OID &&
			entry->version_type != INT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("version column \"%s\" of relation \"%s\" must be smallint, integer or bigint",
							version, RelationGetRelationName(rel))));
	}
}

/*
 * announce_save() RETURNS trigger
 *		AFTER UPDATE ... FOR EACH ROW; arguments: the uid column, the uid
 *		prefix, the version column ('' for none).  Sends "saved" at commit.
 */
Datum
announce_save(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	SaveTrigger *entry;
	TupleDesc	tupdesc;
	Datum		value;
	bool		isnull;
	LockEvent	e = {0};

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("announce_save: must be called as trigger")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("announce_save: must be called after update, for each row")));
	if (trigdata->tg_trigger->tgnargs < 2 || trigdata->tg_trigger->tgnargs > 3)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("announce_save: must be called with two or three arguments"),
				 errhint("The arguments are the uid column, the uid prefix and the version column.")));

	if (!lockable_notify)
		return PointerGetDatum(NULL);
	entry = (SaveTrigger *)
		LookupTriggerCache(&save_triggers, "lockable announce_save triggers",
						   sizeof(SaveTrigger), trigdata, ReadSaveArguments);
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	value = heap_getattr(trigdata->tg_newtuple, entry->uid_attnum, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(NULL);	/* the row names no lock */

	e.event = "saved";
	e.uid = LockUidOfValue(&entry->typoutput, entry->trim_blanks,
						   entry->prefix, entry->prefixlen, value);
	e.owner = (lockable_owner != NULL && lockable_owner[0] != '\0') ?
		cstring_to_text(lockable_owner) : NULL;
	e.token = -1;
	e.waiters = -1;
	e.with_version = true;
	if (entry->version_attnum > 0)
	{
		value = heap_getattr(trigdata->tg_newtuple, entry->version_attnum,
							 tupdesc, &isnull);
		if (!isnull)
		{
			e.version_known = true;
			e.version = entry->version_type == INT2OID ? DatumGetInt16(value) :
				entry->version_type == INT4OID ? DatumGetInt32(value) :
				DatumGetInt64(value);
		}
	}
	AnnounceEvent(&e);
	return PointerGetDatum(NULL);
}
