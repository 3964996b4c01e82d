/*-------------------------------------------------------------------------
 *
 * trigger_cache.c
 *	  What the two row triggers share: the check of how they were fired,
 *	  and a backend-local cache of what a trigger function worked out from
 *	  its trigger's arguments and its table's columns.
 *
 * version_check and enforce_lock fire for every row an UPDATE touches.
 * Finding their column by name, checking its type and looking up its output
 * function is done once per trigger, not once per row: each trigger function
 * keeps a hash table keyed by trigger OID whose entries start with a
 * TriggerCacheEntry header followed by the function's own data.
 *
 * Invariant: an entry marked valid describes the trigger's table as it is
 * now.  Anything that can change a column's name, number or type (ALTER
 * TABLE, DROP COLUMN, DROP TRIGGER, ...) sends a relcache invalidation for
 * the table, and the callback registered here marks every entry of that
 * table invalid, so its next use rebuilds it.  Entries are marked, never
 * removed, in the callback: a trigger function may still be using its entry
 * when an invalidation arrives in the middle of its own SPI query.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/trigger_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* Every cache created here, so the callback can reach them all. */
#define MAX_TRIGGER_CACHES 4

static HTAB *trigger_caches[MAX_TRIGGER_CACHES];
static int	num_trigger_caches = 0;
static bool callback_registered = false;

/*
 * InvalidateTriggerCaches
 *		Relcache callback: mark the entries of relid (of every table when
 *		relid is InvalidOid) invalid.
 */
static void
InvalidateTriggerCaches(Datum arg, Oid relid)
{
	for (int i = 0; i < num_trigger_caches; i++)
	{
		HASH_SEQ_STATUS status;
		TriggerCacheEntry *entry;

		hash_seq_init(&status, trigger_caches[i]);
		while ((entry = (TriggerCacheEntry *) hash_seq_search(&status)) != NULL)
		{
			if (relid == InvalidOid || entry->relid == relid)
				entry->valid = false;
		}
	}
}

/*
 * CreateTriggerCache
 *		A new, empty cache whose entries are entrysize bytes long (a
 *		TriggerCacheEntry header first).
 */
static HTAB *
CreateTriggerCache(const char *name, Size entrysize)
{
	HASHCTL		ctl;
	HTAB	   *cache;

	Assert(entrysize >= sizeof(TriggerCacheEntry));
	if (num_trigger_caches >= MAX_TRIGGER_CACHES)
		elog(ERROR, "too many trigger caches");

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(InvalidateTriggerCaches, (Datum) 0);
		callback_registered = true;
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = entrysize;
	ctl.hcxt = CacheMemoryContext;
	cache = hash_create(name, 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	trigger_caches[num_trigger_caches++] = cache;
	return cache;
}

/*
 * LookupTriggerCache
 *		The entry of the trigger that fired, from *cache, which is created on
 *		first use (named "name", with entries of entrysize bytes).  An entry
 *		that is new, or invalid since its table changed, is filled in by
 *		"fill" first; if fill fails, the entry stays invalid.
 */
TriggerCacheEntry *
LookupTriggerCache(HTAB **cache, const char *name, Size entrysize,
				   TriggerData *trigdata, FillTriggerCacheEntry fill)
{
	Oid			tgoid = trigdata->tg_trigger->tgoid;
	Oid			relid = RelationGetRelid(trigdata->tg_relation);
	TriggerCacheEntry *entry;
	bool		found;

	if (*cache == NULL)
		*cache = CreateTriggerCache(name, entrysize);

	entry = (TriggerCacheEntry *) hash_search(*cache, &tgoid, HASH_ENTER,
											  &found);

	/* A trigger OID belongs to one table; checking costs nothing. */
	if (!found || !entry->valid || entry->relid != relid)
	{
		entry->relid = relid;
		entry->valid = false;
		fill(entry, trigdata);
		entry->valid = true;
	}
	return entry;
}

/*
 * CheckRowTriggerCall
 *		Refuse any use of trigger function "name" other than BEFORE ... FOR
 *		EACH ROW, fired by event1 or event2 (TRIGGER_EVENT_INSERT, _UPDATE or
 *		_DELETE); event_message is the whole message for a wrong event, with
 *		one %s for the name.  The checks run in contrib/tcn's order, and
 *		every misuse is 39P01; the caller checks its own number of arguments.
 */
void
CheckRowTriggerCall(FunctionCallInfo fcinfo, const char *name,
					TriggerEvent event1, TriggerEvent event2,
					const char *event_message)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called as trigger", name)));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called for each row", name)));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called before the change", name)));
	event = trigdata->tg_event & TRIGGER_EVENT_OPMASK;
	if (event != event1 && event != event2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg(event_message, name)));
}
