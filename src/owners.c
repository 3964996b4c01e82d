/*-------------------------------------------------------------------------
 *
 * owners.c
 *	  The owner lock: what makes lock_release_all atomic against the same
 *	  owner's other calls.
 *
 * lock_release_all(owner) must leave owner holding nothing when it
 * commits, whatever owner does meanwhile in other sessions (a second tab
 * that acquires while the first logs out).  Reading owner's locks and
 * places once and releasing that list is not enough: a grant or a place
 * that owner gets on another uid, committed after the read but before
 * release_all commits, would survive it.  So what gives owner a new uid,
 * and release_all, lock one object per owner, a heavyweight lock held until
 * the end of the transaction:
 *
 *	- a fresh grant to owner by owner's own call, or a place taken by
 *	  owner, takes it in ShareLock, waiting if need be: it is serialized
 *	  after a release_all of owner in progress;
 *	- lock_release_all(owner) takes it in ExclusiveLock, so it waits for the
 *	  grants and places of owner in flight to commit, and only then reads
 *	  (with the latest snapshot) what owner holds and where it waits.
 *
 * A hand-off to owner needs nothing: it can only happen on a uid where
 * owner has a place, which release_all has read, and the two serialize on
 * that uid's lock row (whichever writes it second reads it again after the
 * first commits: release_all then releases what was handed to owner, or
 * the hand-off finds owner's place gone and serves the next in line).  So
 * the only lock release_all waits for while it holds rows is a row lock,
 * taken in one global order: concurrent calls never deadlock.  Renewals
 * take nothing either: they give owner nothing new.
 *
 * The object is an advisory lock tag of this database whose key is a
 * 64-bit hash of the owner and whose fourth field, 0x4C4B, no SQL-level
 * advisory lock uses (those use 1 and 2): it shows in pg_locks as an
 * advisory lock with objsubid 19531.  Two owners with the same hash merely
 * serialize with each other's release_all.
 *
 * Copyright (c) 2026, lockable developers
 * Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group
 *
 * IDENTIFICATION
 *	  src/owners.c
 *
 *-------------------------------------------------------------------------
 */
#include "owners.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/elog.h"

/* The fourth field of the lock tag: "LK". */
#define OWNER_LOCK_CLASS 0x4C4B

static void
SetOwnerTag(LOCKTAG *tag, const text *owner)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) VARDATA_ANY(owner),
										   VARSIZE_ANY_EXHDR(owner), 0);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (hash >> 32),
						 (uint32) hash, OWNER_LOCK_CLASS);
}

/*
 * OwnerLockForGrant
 *		Before a fresh grant to owner, or a place taken by owner: wait for a
 *		lock_release_all of owner in progress.  Returns true if it had to
 *		wait: the caller decided on what it read before, so it reads again.
 */
bool
OwnerLockForGrant(const text *owner)
{
	LOCKTAG		tag;

	SetOwnerTag(&tag, owner);
	if (LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return false;
	(void) LockAcquire(&tag, ShareLock, false, false);
	return true;
}

/*
 * OwnerLockForReleaseAll
 *		Before lock_release_all reads what owner holds.  Under REPEATABLE
 *		READ or SERIALIZABLE, a grant it had to wait for committed after the
 *		transaction's snapshot, so it could not be seen: a serialization
 *		failure.
 */
void
OwnerLockForReleaseAll(const text *owner)
{
	LOCKTAG		tag;

	SetOwnerTag(&tag, owner);
	if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return;
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update"),
				 errdetail("lock_release_all waited for a grant to the same owner that committed after this transaction's snapshot.")));
}
