/*-------------------------------------------------------------------------
 *
 * trigger_setup.c
 *	  The helpers that put the version_check and enforce_lock triggers on a
 *	  table and take them off again: enable_versioning, disable_versioning,
 *	  enable_lock_enforcement and disable_lock_enforcement.
 *
 * Each helper checks its arguments, that the caller owns the table (42501
 * otherwise: these are schema changes, for the table's owner to make), and
 * then runs the DDL through SPI as the caller, with every name quoted by
 * quote_identifier and qualified with its schema, so the caller's
 * search_path plays no part.  The triggers have fixed names,
 * lockable_version_check and lockable_enforce_lock; enabling drops the
 * trigger of that name first and creates it anew, so calling a helper again
 * is harmless and takes the new arguments.  Trigger names sort
 * "lockable_enforce_lock" before "lockable_version_check": on a table with
 * both, a write is checked against its lock before its version.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/trigger_setup.c
 *
 *-------------------------------------------------------------------------
 */
#include "lockable.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#define VERSION_TRIGGER_NAME "lockable_version_check"
#define ENFORCE_TRIGGER_NAME "lockable_enforce_lock"
#define SAVE_TRIGGER_NAME "lockable_announce_save"

PG_FUNCTION_INFO_V1(enable_versioning);
PG_FUNCTION_INFO_V1(disable_versioning);
PG_FUNCTION_INFO_V1(enable_lock_enforcement);
PG_FUNCTION_INFO_V1(enable_save_announcements);
PG_FUNCTION_INFO_V1(disable_save_announcements);
PG_FUNCTION_INFO_V1(disable_lock_enforcement);

/*
 * CheckArgumentNotNull
 *		The helpers are not STRICT: a NULL argument is an error, not a call
 *		that silently does nothing.  message is the whole error message.
 */
static void
CheckArgumentNotNull(FunctionCallInfo fcinfo, int argno, const char *message)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s", _(message))));
}

/*
 * OpenOwnTable
 *		Check that relid is a table the caller owns, lock it against
 *		concurrent use while its triggers change, and return its name,
 *		quoted and schema-qualified for use in SQL.
 */
static char *
OpenOwnTable(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	char	   *relname = get_rel_name(relid);
	char	   *nspname;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errdetail("Only tables and partitioned tables can have lockable's triggers.")));

	if (!RelationOwnedBy(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);

	/*
	 * Adding a column and dropping a trigger both need this lock; taking it
	 * first avoids upgrading a weaker one half way.
	 */
	LockRelationOid(relid, AccessExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" was dropped concurrently", relname)));

	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}

/*
 * RunDdl
 *		Execute one utility statement as the caller.
 */
static void
RunDdl(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute failed for \"%s\": %s",
			 sql, SPI_result_code_string(rc));
}

/*
 * DropLockableTrigger
 *		Drop trigger "name" of relid if it exists (without the NOTICE that
 *		DROP TRIGGER IF EXISTS would send).
 */
static void
DropLockableTrigger(Oid relid, const char *qualified, const char *name)
{
	StringInfoData sql;

	if (!OidIsValid(get_trigger_oid(relid, name, true)))
		return;

	initStringInfo(&sql);
	appendStringInfo(&sql, "DROP TRIGGER %s ON %s",
					 quote_identifier(name), qualified);
	RunDdl(sql.data);
	pfree(sql.data);
}

static void CreateLockableTriggerWhen(const char *qualified, const char *name,
									  const char *when, const char *events,
									  const char *function, const char **args,
									  int nargs, const char *helper);

/*
 * CreateLockableTrigger
 *		Create trigger "name" on the table, BEFORE "events" FOR EACH ROW,
 *		calling lockable."function" with the given string arguments, and
 *		say in its comment which helper made it.
 */
static void
CreateLockableTrigger(const char *qualified, const char *name,
					  const char *events, const char *function,
					  const char **args, int nargs, const char *helper)
{
	CreateLockableTriggerWhen(qualified, name, "BEFORE", events, function,
							  args, nargs, helper);
}

/*
 * CreateLockableTriggerWhen
 *		As CreateLockableTrigger, firing "when" (BEFORE or AFTER).
 */
static void
CreateLockableTriggerWhen(const char *qualified, const char *name,
						  const char *when, const char *events,
						  const char *function, const char **args, int nargs,
						  const char *helper)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TRIGGER %s %s %s ON %s FOR EACH ROW"
					 " EXECUTE FUNCTION lockable.%s(",
					 quote_identifier(name), when, events, qualified,
					 quote_identifier(function));
	for (int i = 0; i < nargs; i++)
		appendStringInfo(&sql, "%s%s", i > 0 ? ", " : "",
						 quote_literal_cstr(args[i]));
	appendStringInfoChar(&sql, ')');
	RunDdl(sql.data);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "COMMENT ON TRIGGER %s ON %s IS %s",
					 quote_identifier(name), qualified,
					 quote_literal_cstr(psprintf("created by lockable.%s()",
												 helper)));
	RunDdl(sql.data);
	pfree(sql.data);
}

/*
 * enable_versioning(tbl regclass, version_column name DEFAULT 'version')
 *		RETURNS void
 *
 * Adds the version column (bigint NOT NULL DEFAULT 1) if the table lacks
 * it, and (re)creates trigger lockable_version_check on INSERT OR UPDATE.
 * An existing column must be of type smallint, integer or bigint.
 */
Datum
enable_versioning(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *colname;
	char	   *qualified;
	AttrNumber	attnum;

	CheckArgumentNotNull(fcinfo, 0, gettext_noop("table cannot be null"));
	CheckArgumentNotNull(fcinfo, 1, gettext_noop("version column cannot be null"));
	relid = PG_GETARG_OID(0);
	colname = NameStr(*PG_GETARG_NAME(1));

	qualified = OpenOwnTable(relid);
	attnum = get_attnum(relid, colname);
	if (attnum != InvalidAttrNumber)
	{
		Oid			typid = get_atttype(relid, attnum);

		if (typid != INT2OID && typid != INT4OID && typid != INT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("version column \"%s\" of relation \"%s\" must be of type smallint, integer or bigint",
							colname, get_rel_name(relid)),
					 errdetail("The column is of type %s.", format_type_be(typid))));
		if (get_attgenerated(relid, attnum) != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("version column \"%s\" of relation \"%s\" cannot be a generated column",
							colname, get_rel_name(relid))));
	}

	SPI_connect();
	if (attnum == InvalidAttrNumber)
	{
		StringInfoData sql;

		initStringInfo(&sql);
		appendStringInfo(&sql,
						 "ALTER TABLE %s ADD COLUMN %s pg_catalog.int8 NOT NULL DEFAULT 1",
						 qualified, quote_identifier(colname));
		RunDdl(sql.data);
		pfree(sql.data);
	}
	DropLockableTrigger(relid, qualified, VERSION_TRIGGER_NAME);
	{
		const char *args[1] = {colname};

		CreateLockableTrigger(qualified, VERSION_TRIGGER_NAME,
							  "INSERT OR UPDATE", "version_check", args, 1,
							  "enable_versioning");
	}
	SPI_finish();

	PG_RETURN_VOID();
}

/*
 * DisableTrigger
 *		The body of the disable_* helpers: drop trigger "name" from the table
 *		in the first argument, which the caller must own, if it is there.
 */
static void
DisableTrigger(FunctionCallInfo fcinfo, const char *name)
{
	Oid			relid;
	char	   *qualified;

	CheckArgumentNotNull(fcinfo, 0, gettext_noop("table cannot be null"));
	relid = PG_GETARG_OID(0);
	qualified = OpenOwnTable(relid);

	SPI_connect();
	DropLockableTrigger(relid, qualified, name);
	SPI_finish();
}

/*
 * disable_versioning(tbl regclass) RETURNS void
 *		Drops trigger lockable_version_check, if there is one.  The column
 *		and its values stay.
 */
Datum
disable_versioning(PG_FUNCTION_ARGS)
{
	DisableTrigger(fcinfo, VERSION_TRIGGER_NAME);
	PG_RETURN_VOID();
}

/*
 * enable_lock_enforcement(tbl regclass, uid_column name,
 *						   uid_prefix text DEFAULT '',
 *						   required boolean DEFAULT false) RETURNS void
 *
 * (Re)creates trigger lockable_enforce_lock on UPDATE OR DELETE: a row's
 * lock is uid_prefix || uid_column::text, and with required the writer must
 * hold it.
 */
Datum
enable_lock_enforcement(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *colname;
	char	   *prefix;
	bool		required;
	char	   *qualified;
	AttrNumber	attnum;

	CheckArgumentNotNull(fcinfo, 0, gettext_noop("table cannot be null"));
	CheckArgumentNotNull(fcinfo, 1, gettext_noop("uid column cannot be null"));
	CheckArgumentNotNull(fcinfo, 2, gettext_noop("uid prefix cannot be null"));
	CheckArgumentNotNull(fcinfo, 3, gettext_noop("required cannot be null"));
	relid = PG_GETARG_OID(0);
	colname = NameStr(*PG_GETARG_NAME(1));
	prefix = text_to_cstring(PG_GETARG_TEXT_PP(2));
	required = PG_GETARG_BOOL(3);

	qualified = OpenOwnTable(relid);
	attnum = get_attnum(relid, colname);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, get_rel_name(relid))));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("system column \"%s\" cannot name a row's lock",
						colname)));
	CheckLockColumnType(get_atttype(relid, attnum), colname,
						get_rel_name(relid));
	CheckLockPrefix(prefix);
	{
		Relation	rel = relation_open(relid, NoLock);	/* locked above */

		CheckNotCitusTable(rel);
		CheckTableOwnerMayUseLockable(rel);
		relation_close(rel, NoLock);
	}

	SPI_connect();
	DropLockableTrigger(relid, qualified, ENFORCE_TRIGGER_NAME);
	{
		const char *args[3] = {colname, prefix,
		required ? "required" : "if_locked"};

		CreateLockableTrigger(qualified, ENFORCE_TRIGGER_NAME,
							  "UPDATE OR DELETE", "enforce_lock", args, 3,
							  "enable_lock_enforcement");
	}
	SPI_finish();

	PG_RETURN_VOID();
}

/*
 * disable_lock_enforcement(tbl regclass) RETURNS void
 *		Drops trigger lockable_enforce_lock, if there is one.
 */
Datum
disable_lock_enforcement(PG_FUNCTION_ARGS)
{
	DisableTrigger(fcinfo, ENFORCE_TRIGGER_NAME);
	PG_RETURN_VOID();
}

/*
 * enable_save_announcements(tbl regclass, uid_column name,
 *							 uid_prefix text DEFAULT '',
 *							 version_column name DEFAULT NULL) RETURNS void
 *
 * (Re)creates trigger lockable_announce_save on the table, AFTER UPDATE FOR
 * EACH ROW: a "saved" notification naming the row's lock (uid_prefix ||
 * uid_column::text), the acting owner and the version, at commit.  The
 * caller must own the table; the column's type is checked as for
 * enable_lock_enforcement.
 */
Datum
enable_save_announcements(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *colname;
	char	   *prefix;
	char	   *version = "";
	char	   *qualified;
	AttrNumber	attnum;

	CheckArgumentNotNull(fcinfo, 0, gettext_noop("table cannot be null"));
	CheckArgumentNotNull(fcinfo, 1, gettext_noop("uid column cannot be null"));
	CheckArgumentNotNull(fcinfo, 2, gettext_noop("uid prefix cannot be null"));
	relid = PG_GETARG_OID(0);
	colname = NameStr(*PG_GETARG_NAME(1));
	prefix = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!PG_ARGISNULL(3))
		version = NameStr(*PG_GETARG_NAME(3));

	qualified = OpenOwnTable(relid);
	attnum = get_attnum(relid, colname);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, get_rel_name(relid))));
	CheckLockColumnType(get_atttype(relid, attnum), colname, get_rel_name(relid));
	CheckLockPrefix(prefix);
	if (version[0] != '\0')
	{
		AttrNumber	vattnum = get_attnum(relid, version);
		Oid			vtype;

		if (vattnum == InvalidAttrNumber || vattnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							version, get_rel_name(relid))));
		vtype = getBaseType(get_atttype(relid, vattnum));
		if (vtype != INT2OID && vtype != INT4OID && vtype != INT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("version column \"%s\" of relation \"%s\" must be smallint, integer or bigint",
							version, get_rel_name(relid))));
	}

	SPI_connect();
	DropLockableTrigger(relid, qualified, SAVE_TRIGGER_NAME);
	{
		const char *args[3] = {colname, prefix, version};

		CreateLockableTriggerWhen(qualified, SAVE_TRIGGER_NAME, "AFTER",
								  "UPDATE", "announce_save", args, 3,
								  "enable_save_announcements");
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * disable_save_announcements(tbl regclass) RETURNS void
 *		Drops trigger lockable_announce_save.
 */
Datum
disable_save_announcements(PG_FUNCTION_ARGS)
{
	DisableTrigger(fcinfo, SAVE_TRIGGER_NAME);
	PG_RETURN_VOID();
}
