/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  What lockable knows of Citus: whether a relation is a Citus table, or
 *	  a shard of one.  See citus.c.
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

#endif							/* LOCKABLE_CITUS_H */
