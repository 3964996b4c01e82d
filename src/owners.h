/*-------------------------------------------------------------------------
 *
 * owners.h
 *	  The owner lock, which serializes what gives an owner a new uid (a
 *	  grant or a place) with lock_release_all of that owner
 *	  (see owners.c for the protocol).
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/owners.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OWNERS_H
#define OWNERS_H

#include "lockable.h"

extern bool OwnerLockForGrant(const text *owner);
extern void OwnerLockForReleaseAll(const text *owner);

#endif							/* OWNERS_H */
