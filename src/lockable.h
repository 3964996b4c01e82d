/*-------------------------------------------------------------------------
 *
 * lockable.h
 *	  Declarations shared by the files of the lockable extension.
 *
 * Terms used throughout:
 *
 *	uid		the name of a locked resource, chosen by the application
 *			("doc:42"); 1 to LOCKABLE_MAX_NAME_BYTES bytes.
 *	owner	who holds the lock (a user id, a session key); same limits.
 *	lease	a lock lasts until expires_at unless renewed; expiry is judged
 *			by the database clock only (GetCurrentTimestamp()).
 *	live	a lock with an owner whose expires_at is later than now.
 *	token	the fencing token of a grant: drawn from one sequence, so
 *			strictly increasing over every grant the database makes.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/lockable.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_H
#define LOCKABLE_H

#include "postgres.h"

#include "pg_compat.h"

#include "commands/trigger.h"
#include "datatype/timestamp.h"
#include "utils/hsearch.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

/* Longest uid or owner accepted, in bytes. */
#define LOCKABLE_MAX_NAME_BYTES 512

/* The NOTIFY channel that grants, releases and breaks are announced on. */
#define LOCKABLE_CHANNEL "lockable"

/* GUC variables (lockable.c) */
extern bool lockable_notify;
extern char *lockable_max_ttl_string;

extern char *lockable_owner;
extern char *lockable_token_string;

/* The parsed value of lockable.max_ttl (lockable.c). */
extern Interval *LockableMaxTtl(void);

/* The parsed value of lockable.token; false if it is not set (lockable.c). */
extern bool LockableToken(int64 *token);

/*
 * The header of an entry in a trigger function's cache (trigger_cache.c);
 * the function's own fields follow it.
 */
typedef struct TriggerCacheEntry
{
	Oid			tgoid;			/* hash key: the trigger's OID */
	Oid			relid;			/* the table the trigger is on */
	bool		valid;			/* false until filled in, and after the
								 * table changes */
} TriggerCacheEntry;

extern void CheckRowTriggerCall(FunctionCallInfo fcinfo, const char *name,
								TriggerEvent event1, TriggerEvent event2,
								const char *event_message);
/* Fills in a trigger function's own fields of a cache entry. */
typedef void (*FillTriggerCacheEntry) (TriggerCacheEntry *entry,
									   TriggerData *trigdata);

extern TriggerCacheEntry *LookupTriggerCache(HTAB **cache, const char *name,
											 Size entrysize,
											 TriggerData *trigdata,
											 FillTriggerCacheEntry fill);

/* What may name a row's lock (enforce_lock.c). */
extern void CheckLockColumnType(Oid typid, const char *colname,
								const char *relname);
extern void CheckLockPrefix(const char *prefix);
extern void CheckNotCitusTable(Relation rel);
extern void CheckTableOwnerMayUseLockable(Relation rel);
extern text *LockUidOfValue(FmgrInfo *typoutput, bool trim_blanks,
							const char *prefix, int prefixlen, Datum value);

/* A column of one of the extension's tables, as its scripts create it. */
typedef struct ExpectedColumn
{
	const char *name;
	Oid			typid;
	bool		optional;		/* added by a later version's update */
} ExpectedColumn;

/* Only the extension's own objects are used (trust.c). */
extern Oid	TrustExtensionSchema(void);
extern bool TrustExtensionTable(Relation rel, const ExpectedColumn *columns,
								int ncolumns, AttrNumber *attnums);
extern void TrustCitusShard(Relation shard, Relation table,
							const ExpectedColumn *columns, int ncolumns,
							AttrNumber *attnums);
extern void TrustExtensionSequence(Oid relid);
extern bool RoleMayUseLockable(Oid role);

/* lockable.relname, by name in the extension's schema (lock_table.c). */
extern Oid	LockableRelid(const char *relname, bool missing_ok);

#endif							/* LOCKABLE_H */
