/*-------------------------------------------------------------------------
 *
 * enforce_lock.c
 *	  The enforce_lock trigger: the database refuses a write to a row whose
 *	  lease lock is held by someone other than the writer.
 *
 * Each row names its lock: uid = prefix || column::text, exactly as the cast
 * makes it: the column's type output function, and for char(n) without its
 * trailing blanks (the cast to text strips them, bpcharout keeps them).  Only types
 * whose text form no setting can change may name a lock (smallint, integer,
 * bigint, text, varchar, char, uuid, and domains over them): with a
 * timestamp, float or bytea column, a writer who changed DateStyle,
 * TimeZone, extra_float_digits or bytea_output would name another lock and
 * walk past the real one.  The writer is
 * whoever the setting lockable.owner names in the writing transaction, and
 * lockable.token optionally carries the fencing token of its grant.  Before
 * a row is updated or deleted the trigger looks up the row's lock in
 * lockable.locks and decides, judging expiry by GetCurrentTimestamp():
 *
 *	- live lock held by another owner (or no owner set): refused, 55P03;
 *	- mode "required": the acting owner must hold the live lock, else 55P03;
 *	- lockable.token set: the acting owner must hold the live lock with
 *	  exactly that token, else 55P03 ("stale lock token");
 *	- otherwise (no lock, released or expired): allowed.  An expired lock
 *	  protects nothing.
 *
 * An UPDATE that changes the lock column is checked against the old and the
 * new uid: a row cannot be moved out of, or into, a lock someone else holds.
 *
 * Row locks on lockable.locks.  A write allowed because the writer holds the
 * lock relies on that grant until the writer commits.  So the check that
 * finds the writer's own live grant reads it with FOR SHARE, which is kept
 * until the writing transaction ends: a takeover after expiry, a release or
 * a break (all UPDATEs of the lock row) waits for the write to commit or
 * roll back, and then sees the lease as it is then.  Either the fenced write
 * commits before the new grant exists, or the writer's check sees the new
 * grant and is refused; a writer can never commit under a token that was
 * already superseded.  FOR SHARE, not FOR KEY SHARE: the grant changes only
 * non-key columns, which FOR KEY SHARE would let through.  Shared row locks
 * do not conflict, so writers under the same grant do not wait for each
 * other.  Every other outcome (refused, or allowed because nobody holds the
 * lock) is decided from a plain read that takes no row lock at all.
 *
 * Reading the lock.  The trigger reads lockable.locks through its storage
 * layer (lock_table.c): an index read of the uid's row with the latest
 * snapshot, and, where the acting owner holds the lock, a FOR SHARE lock of
 * exactly that row version (table_tuple_lock, as SELECT ... FOR SHARE
 * takes it).  No SQL runs per row.  The trigger runs as the user who writes
 * the table, who cannot read lockable.locks with SQL; the storage layer
 * reads the extension's own, verified table directly, as the foreign-key
 * checks read theirs, and the column's output function and everything else
 * run as the writer.
 *
 * Who may.  The trigger acts on lock rows (reads them, share-locks the
 * acting owner's) only for a table whose owner may use lockable
 * (RoleMayUseLockable, trust.c: EXECUTE on lockable.lock_acquire, which 1.4
 * grants to lockable_user); for any other table it refuses the write
 * (42501) before touching lockable.locks.  Otherwise any role could put the
 * trigger on a table of its own (a TEMP table will do), set lockable.owner
 * to a holder's name and write: its open transaction would hold that
 * holder's lock row FOR SHARE, and freeze the holder's renewals, release
 * and hand-off.  The owner's right is checked once per transaction.
 *
 * Citus.  A table that Citus distributes is refused (0A000) when the
 * trigger is installed and when it fires: its rows are written on the
 * workers that hold their shards, and the trigger there would look the
 * lock up in a lockable.locks that does not hold the coordinator's locks,
 * letting every write through.  version_check needs no lock and works on
 * distributed and reference tables.
 *
 * Caching.  The column number, output function, prefix and mode are worked
 * out once per trigger (trigger_cache.c); the verification of lockable.locks
 * is cached by trust.c until the table changes.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/enforce_lock.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "citus.h"
#include "lock_table.h"

/* What enforce_lock knows about one trigger (see trigger_cache.c). */
typedef struct EnforceTrigger
{
	TriggerCacheEntry header;
	AttrNumber	attnum;			/* the column that names the row's lock */
	bool		typbyval;		/* its type's storage, to compare values */
	int16		typlen;
	FmgrInfo	typoutput;		/* its type's output function */
	bool		trim_blanks;	/* char(n): strip trailing blanks, as ::text */
	bool		required;		/* mode "required" rather than "if_locked" */
	LocalTransactionId owner_checked;	/* the transaction in which the
										 * table owner's right was checked */
	int			prefixlen;
	/* uid = prefix || value::text; kept in the entry, so a refill allocates
	 * nothing and a caller further up the stack never sees freed memory */
	char		prefix[LOCKABLE_MAX_NAME_BYTES + 1];
} EnforceTrigger;

static HTAB *enforce_triggers = NULL;

/*---- Reading lockable.locks ----*/

/* A lock row as the check saw it. */
typedef struct SeenLock
{
	bool		found;			/* is there a row for the uid? */
	char	   *owner;			/* NULL if released */
	int64		token;
	TimestampTz expires_at;
} SeenLock;

/*
 * LookUpLock
 *		Read the lock of uid through the storage of lockable.locks (an index
 *		read with the latest snapshot, as the foreign-key checks read).
 *		Returns true if the acting owner holds it live, and then the lock
 *		row stays share-locked until the transaction ends; *seen describes
 *		the lock either way, with its strings in the caller's memory
 *		context.
 */
static bool
LookUpLock(text *uid, const char *owner, SeenLock *seen)
{
	LockTable	table;
	LockRow		row = {0};
	bool		held = false;

	memset(seen, 0, sizeof(SeenLock));
	LockTableOpenToShare(&table, uid, "enforce_lock");
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();

		LockTablePeek(&table, uid, &row);
		if (owner != NULL && LockRowIsLive(&row, now) &&
			strcmp(text_to_cstring(row.v.owner), owner) == 0)
		{
			/*
			 * The acting owner's own live grant: lock it FOR SHARE, so that
			 * a takeover, release or break waits for this write.  If it
			 * changed meanwhile, look again.
			 */
			if (LockTableShareRow(&table, &row) != LOCK_WRITE_OK)
				continue;

			/*
			 * Waiting for the row lock may have taken a while; the grant
			 * counts only if it is still live now.  (If it is not, the share
			 * lock on an expired row is harmless: no one can take it over
			 * before we end, and we end soon.)
			 */
			held = row.v.expires_at > GetCurrentTimestamp();
		}
		break;
	}

	if (row.found)
	{
		seen->found = true;
		seen->owner = row.v.owner == NULL ? NULL : text_to_cstring(row.v.owner);
		seen->token = row.v.token;
		seen->expires_at = row.v.expires_at;
	}
	LockRowRelease(&row);
	LockTableClose(&table);
	return held;
}

/*---- What may name a lock ----*/

/*
 * CheckLockColumnType
 *		Refuse (42804) a lock column whose text form depends on settings (see
 *		the file header).  Used when the trigger is installed and when it
 *		fires, so a trigger created by hand is held to the same rule.
 */
void
CheckLockColumnType(Oid typid, const char *colname, const char *relname)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case UUIDOID:
			return;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation \"%s\" cannot name a row's lock",
							colname, relname),
					 errdetail("The column is of type %s, whose text form can depend on session settings, so a writer could name another lock.",
							   format_type_be(typid)),
					 errhint("Use a column of type smallint, integer, bigint, text, varchar, char or uuid.")));
	}
}

/*
 * CheckLockPrefix
 *		Refuse (22023) a uid prefix that leaves no room for a value.
 */
void
CheckLockPrefix(const char *prefix)
{
	int			len = strlen(prefix);

	if (len >= LOCKABLE_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("uid prefix is too long"),
				 errdetail("The prefix is %d bytes long; a uid, prefix included, is at most %d bytes.",
						   len, LOCKABLE_MAX_NAME_BYTES)));
}

/*
 * CheckNotCitusTable
 *		Refuse (0A000) a table that Citus distributes, or a shard of one;
 *		and any table once lockable.distribute() has distributed the locks.
 *		The trigger fires where the shard is, on a worker, and would look
 *		the row's lock up in that node's own lockable.locks, which does not
 *		hold the locks taken on the coordinator: every write would pass.
 *		Used when the trigger is installed and when its cache entry is
 *		filled (once per relcache generation of the table).
 */
void
CheckNotCitusTable(Relation rel)
{
	Oid			citustable = CitusTableOf(rel);

	if (OidIsValid(citustable))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("enforce_lock cannot protect table \"%s\", which is distributed by Citus",
						get_rel_name(citustable)),
				 errdetail("Its rows are written on the nodes that hold their shards, where the locks taken on the coordinator cannot be seen."),
				 errhint("Use lockable.version_check() on distributed tables, or keep the table local on the coordinator.")));
	if (LockTableExists() && LockTableDistributed())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("enforce_lock cannot be used once lockable's tables are distributed by Citus"),
				 errdetail("The trigger reads a row's lock on the node the write runs on; after lockable.distribute() each lock is in a shard on the worker Citus placed it on."),
				 errhint("Use lockable.version_check() for lost-update protection on a distributed install.")));
}

/*---- The checks ----*/

/*
 * CheckEnforceTriggerCall
 *		Refuse any use other than BEFORE UPDATE or DELETE ... FOR EACH ROW
 *		with one to three arguments.
 */
static void
CheckEnforceTriggerCall(FunctionCallInfo fcinfo)
{
	TriggerData *trigdata;

	CheckRowTriggerCall(fcinfo, "enforce_lock",
						TRIGGER_EVENT_UPDATE, TRIGGER_EVENT_DELETE,
						gettext_noop("%s: must be called on update or delete"));
	trigdata = (TriggerData *) fcinfo->context;
	if (trigdata->tg_trigger->tgnargs < 1 || trigdata->tg_trigger->tgnargs > 3)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("enforce_lock: must be called with one to three arguments"),
				 errhint("The arguments are the column that names the row's lock, a uid prefix, and the mode \"if_locked\" or \"required\".")));
}

/*
 * ReadEnforceArguments
 *		Fill in the cache entry from the trigger's arguments and table.
 */
static void
ReadEnforceArguments(TriggerCacheEntry *header, TriggerData *trigdata)
{
	EnforceTrigger *entry = (EnforceTrigger *) header;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Trigger    *trigger = trigdata->tg_trigger;
	const char *colname = trigger->tgargs[0];
	const char *prefix = trigger->tgnargs >= 2 ? trigger->tgargs[1] : "";
	const char *mode = trigger->tgnargs >= 3 ? trigger->tgargs[2] : "if_locked";
	Form_pg_attribute attr = NULL;
	int			attnum;
	Oid			typoutput;
	bool		typisvarlena;

	attnum = SPI_fnumber(tupdesc, colname);
	if (attnum > 0)
		attr = TupleDescAttr(tupdesc, attnum - 1);
	if (attr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel)),
				 errhint("The first argument of the enforce_lock trigger names the column whose value names the row's lock.")));

	CheckLockColumnType(attr->atttypid, colname, RelationGetRelationName(rel));
	CheckNotCitusTable(rel);

	if (strcmp(mode, "required") != 0 && strcmp(mode, "if_locked") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("enforce_lock: invalid mode \"%s\"", mode),
				 errhint("The mode is \"if_locked\" or \"required\".")));
	CheckLockPrefix(prefix);

	getTypeOutputInfo(attr->atttypid, &typoutput, &typisvarlena);
	fmgr_info_cxt(typoutput, &entry->typoutput, CacheMemoryContext);
	entry->attnum = attr->attnum;
	entry->typbyval = attr->attbyval;
	entry->typlen = attr->attlen;
	entry->trim_blanks = (getBaseType(attr->atttypid) == BPCHAROID);
	entry->owner_checked = InvalidLocalTransactionId;
	entry->prefixlen = strlen(prefix);
	memcpy(entry->prefix, prefix, entry->prefixlen + 1);
	entry->required = (strcmp(mode, "required") == 0);
}

/*
 * CheckTableOwnerMayUseLockable
 *		Refuse (42501) a table whose owner may not use lockable, before the
 *		trigger touches a lock row (see "Who may" in the file header).
 */
void
CheckTableOwnerMayUseLockable(Relation rel)
{
	Oid			owner = rel->rd_rel->relowner;

	if (!RoleMayUseLockable(owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" is owned by role \"%s\", which may not use lockable",
						RelationGetRelationName(rel), GetUserNameFromId(owner, false)),
				 errdetail("enforce_lock reads and locks lock rows only for tables whose owner may call lockable.lock_acquire."),
				 errhint("GRANT lockable_user TO %s;", quote_identifier(GetUserNameFromId(owner, false))),
				 errtable(rel)));
}

static void
CheckOwnerOnce(Relation rel, EnforceTrigger *entry)
{
	if (entry->owner_checked == MyLocalTransactionId())
		return;
	CheckTableOwnerMayUseLockable(rel);
	entry->owner_checked = MyLocalTransactionId();
}

/*
 * RowLockUid
 *		The uid of the lock that the row's value names, or NULL if the value
 *		is NULL.
 */
static text *
RowLockUid(EnforceTrigger *entry, Datum value, bool isnull)
{
	if (isnull)
		return NULL;
	return LockUidOfValue(&entry->typoutput, entry->trim_blanks,
						  entry->prefix, entry->prefixlen, value);
}

/*
 * LockUidOfValue
 *		prefix || value::text, for a lock column's value: the text its type's
 *		output function makes, without trailing blanks for char(n)
 *		(trim_blanks), as the cast to text makes it.
 */
text *
LockUidOfValue(FmgrInfo *typoutput, bool trim_blanks, const char *prefix,
			   int prefixlen, Datum value)
{
	char	   *valuetext = OutputFunctionCall(typoutput, value);
	size_t		valuelen = strlen(valuetext);
	text	   *uid;

	if (trim_blanks)
		while (valuelen > 0 && valuetext[valuelen - 1] == ' ')
			valuelen--;
	uid = (text *) palloc(VARHDRSZ + prefixlen + valuelen);
	SET_VARSIZE(uid, VARHDRSZ + prefixlen + valuelen);
	memcpy(VARDATA(uid), prefix, prefixlen);
	memcpy(VARDATA(uid) + prefixlen, valuetext, valuelen);
	return uid;
}

static char *
ColumnName(Relation rel, AttrNumber attnum)
{
	return NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname);
}

/*
 * CheckRowLock
 *		Refuse the write of a row of rel under the lock uid (NULL: the row
 *		names no lock) unless the rules in the file header allow it.
 */
static void
CheckRowLock(Relation rel, EnforceTrigger *entry, text *uid)
{
	const char *owner = (lockable_owner != NULL && lockable_owner[0] != '\0') ?
		lockable_owner : NULL;
	int64		token = 0;
	bool		fenced = LockableToken(&token);
	bool		held;
	bool		live;
	char	   *uidtext;
	SeenLock	seen;

	if (uid == NULL)
	{
		if (entry->required || fenced)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("row of table \"%s\" can be written only under its lock",
							RelationGetRelationName(rel)),
					 errdetail("Column \"%s\" is null, so the row names no lock.",
							   ColumnName(rel, entry->attnum)),
					 errtablecol(rel, entry->attnum)));
		return;
	}

	held = LookUpLock(uid, owner, &seen);
	uidtext = text_to_cstring(uid);

	if (held)
	{
		if (fenced && seen.token != token)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("stale lock token for row of table \"%s\"",
							RelationGetRelationName(rel)),
					 errdetail("Lock \"%s\" is held by \"%s\" with token " INT64_FORMAT "; the write carries token " INT64_FORMAT ".",
							   uidtext, seen.owner, seen.token, token),
					 errhint("A token from an earlier grant fences off the writes made under it; use the token of the current grant."),
					 errtable(rel)));
		return;
	}

	live = seen.found && seen.owner != NULL &&
		seen.expires_at > GetCurrentTimestamp();

	if (fenced)
	{
		if (live)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("stale lock token for row of table \"%s\"",
							RelationGetRelationName(rel)),
					 errdetail("Lock \"%s\" is held by \"%s\" with token " INT64_FORMAT " until %s; the write carries token " INT64_FORMAT ".",
							   uidtext, seen.owner, seen.token,
							   timestamptz_to_str(seen.expires_at), token),
					 errtable(rel)));
		else
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("stale lock token for row of table \"%s\"",
							RelationGetRelationName(rel)),
					 errdetail("Lock \"%s\" is not held by anyone; the write carries token " INT64_FORMAT ".",
							   uidtext, token),
					 errhint("A lease that expired or was released fences off every write made under it; acquire the lock again."),
					 errtable(rel)));
	}

	if (live)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("row of table \"%s\" is locked by \"%s\"",
						RelationGetRelationName(rel), seen.owner),
				 errdetail("Lock \"%s\" is held until %s.",
						   uidtext, timestamptz_to_str(seen.expires_at)),
				 owner == NULL ?
				 errhint("The lock holder writes with lockable.owner set to its owner name.") : 0,
				 errtable(rel)));

	if (entry->required)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("row of table \"%s\" can be written only under its lock",
						RelationGetRelationName(rel)),
				 owner == NULL ?
				 errdetail("Lock \"%s\" is required and lockable.owner is not set.",
						   uidtext) :
				 errdetail("Lock \"%s\" is required and \"%s\" does not hold it.",
						   uidtext, owner),
				 errhint("Acquire the lock with lockable.lock_acquire() and set lockable.owner to its owner in the writing transaction."),
				 errtable(rel)));
}

PG_FUNCTION_INFO_V1(enforce_lock);

/*
 * enforce_lock() RETURNS trigger
 *		BEFORE UPDATE OR DELETE ... FOR EACH ROW; arguments: the column
 *		whose value names the row's lock, a uid prefix (default empty) and
 *		the mode, "if_locked" (default) or "required".
 *
 * Returns the row unchanged if the write is allowed; raises SQLSTATE 55P03
 * otherwise (see the rules in the file header).
 */
Datum
enforce_lock(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	EnforceTrigger *entry;
	Datum		oldvalue;
	bool		oldnull;

	CheckEnforceTriggerCall(fcinfo);
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);

	entry = (EnforceTrigger *)
		LookupTriggerCache(&enforce_triggers, "lockable enforce_lock triggers",
						   sizeof(EnforceTrigger), trigdata,
						   ReadEnforceArguments);

	CheckOwnerOnce(rel, entry);
	oldvalue = heap_getattr(trigdata->tg_trigtuple, entry->attnum, tupdesc,
							&oldnull);
	CheckRowLock(rel, entry, RowLockUid(entry, oldvalue, oldnull));

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_trigtuple);

	/* An update that moves the row to another lock needs that one too. */
	{
		Datum		newvalue;
		bool		newnull;

		newvalue = heap_getattr(trigdata->tg_newtuple, entry->attnum, tupdesc,
								&newnull);
		if (oldnull != newnull ||
			(!oldnull && !datumIsEqual(oldvalue, newvalue,
									   entry->typbyval, entry->typlen)))
			CheckRowLock(rel, entry, RowLockUid(entry, newvalue, newnull));
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}
