/*-------------------------------------------------------------------------
 *
 * presence.h
 *	  Presence leases (lockable.presence_leases): who has a uid open, and
 *	  whether they are idle, shared by every application server.
 *
 * See presence.c for the rules.
 *
 * Copyright (c) 2026, lockable developers
 *
 * IDENTIFICATION
 *	  src/presence.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_H
#define PRESENCE_H

#include "postgres.h"

#include "utils/timestamp.h"

extern uint64 PresenceSweep(TimestampTz now);
extern uint64 PresenceLeaveAll(text *owner, TimestampTz now);

#endif							/* PRESENCE_H */
