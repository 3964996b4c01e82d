/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  What lockable knows of Citus: whether a relation is a Citus table or
 *	  a shard of one; on a distributed install, the shards of a uid, the
 *	  shards on this node, and commands run on every worker.  See citus.c.
 *
 * Copyright (c) 2026, lockable developers
 *
 * IDENTIFICATION
 *	  src/citus.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_CITUS_H
#define LOCKABLE_CITUS_H

#include "utils/relcache.h"

extern Oid	CitusTableOf(Relation rel);

/* lockable's own tables, distributed by lockable.distribute() */
extern void CitusCheckDistributedByUid(Relation rel);
extern int32 CitusLocalGroupId(void);
extern void CitusUidShards(Oid locks, Oid places, text *uid,
						   const char *caller, Oid *locks_shard,
						   Oid *places_shard);
extern int	CitusLocalShards(Oid relid, Oid **shards);

/* What one worker returned to CitusRunOnWorkersEach. */
typedef struct CitusWorkerResult
{
	char	   *node;			/* host name */
	char	   *port;
	char	   *result;			/* NULL if it returned nothing */
} CitusWorkerResult;

extern CitusWorkerResult *CitusRunOnWorkersEach(const char *command,
												const char *caller,
												int *nworkers);
extern int64 CitusRunOnWorkers(const char *command, const char *caller);

#endif							/* LOCKABLE_CITUS_H */
