/*-------------------------------------------------------------------------
 *
 * owners.c
 *	  The owner lock: what makes lock_release_all atomic against the same
 *	  owner's other calls.
 *
 * lock_release_all(owner) must leave owner holding nothing when it
 * commits, whatever owner does meanwhile in other sessions (a second tab
 * that acquires while the first logs out).  Reading owner's locks and
 * places once and releasing that list is not enough: a grant, a place or a
 * hand-off to owner that commits after the read was made, but before
 * release_all commits, would survive it.  So every change that gives owner
 * something new, and release_all, lock one object per owner, a heavyweight
 * lock held until the end of the transaction:
 *
 *	- a fresh grant to owner, or a place taken by owner, takes it in
 *	  ShareLock, waiting if need be: it is serialized after a release_all of
 *	  owner in progress;
 *	- a hand-off to owner takes it in ShareLock only if it is free of
 *	  ExclusiveLock now: while owner is being released, the line skips
 *	  owner's place (release_all is about to remove it), so that a release
 *	  never waits for another owner's release_all, which may be waiting for
 *	  the releaser's row: no deadlock between concurrent release_all calls;
 *	- lock_release_all(owner) takes it in ExclusiveLock, so it waits for the
 *	  grants and places of owner in flight to commit, and only then reads
 *	  what owner holds.
 *
 * Renewals take nothing: they give owner nothing new, and a renewal that
 * meets a release_all of the same lock waits for its row like any write.
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
 * OwnerLockForHandOff
 *		Before a hand-off to owner: false, and nothing taken, if a
 *		lock_release_all of owner holds the lock now.
 */
bool
OwnerLockForHandOff(const text *owner)
{
	LOCKTAG		tag;

	SetOwnerTag(&tag, owner);
	return LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
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
