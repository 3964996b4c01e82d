"""Who may take a lock over, how people are named, and a take over made
for a request: the decisions the REST views and the admin share.

- ``may_take_over(request, uid, holder)``: a user may always take over from
  their own other tab or session (``is_same_user``); anyone else is judged
  by ``LOCKABLE_TAKE_OVER_PERMISSION`` (default: ``default_take_over_permission``,
  staff users and users with the permission
  ``django_lockable.take_over_lock``).
- ``display_name(user)``: how a user is named to others,
  ``LOCKABLE_DISPLAY_NAME`` (default: the full name, else the user name).
- ``take_over_for(request, uid, ...)``: the take over of uid for the
  request's user, judged by ``may_take_over`` against the holder it really
  displaces.  The reason the database records and announces is made here,
  from the taker's display name and the reason given: never from anything
  else the client claims.

The reason of a take over made through the package is a JSON object,
``{"by": <the taker's display name>, "reason": <the reason given, or
null>}``, so that the history, the ``taken_over`` notification and the
refusal of the displaced user's next save can all say who took over;
``parse_take_over_reason`` reads it back (a take over made in SQL has a
reason of its own, which it leaves alone).

Nothing here imports DRF.
"""
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import transaction

from . import _core, _transfer
from ._conf import Seconds, lockable_settings
from ._transfer import MAX_MESSAGE_BYTES, HistoryEvent, TakeOverStatus

TAKE_OVER_PERMISSION = "django_lockable.take_over_lock"
"""The model permission that lets a user take any lock over, by default."""

MAX_DISPLAY_NAME = 150
"""The longest display name a take-over reason carries, in characters."""


class TakeOverDenied(PermissionDenied):
    """``LOCKABLE_TAKE_OVER_PERMISSION`` refused a take over (403 through DRF).

    Carries ``uid`` and ``holder``, the owner the take over would have
    displaced (None when nobody held the lock).  Nothing was changed.
    """

    message = "You may not take this lock over."

    def __init__(self, uid: str, holder: Optional[str]):
        super().__init__(self.message)
        self.uid = uid
        self.holder = holder


def display_name(user: Any) -> str:
    """Return how user is named to others: ``LOCKABLE_DISPLAY_NAME(user)``,
    or by default the full name, else the user name; at most 150 characters.

    Raises ``ImproperlyConfigured`` if ``LOCKABLE_DISPLAY_NAME`` returns
    anything but a non-empty string.
    """
    name_user = lockable_settings.DISPLAY_NAME
    if name_user is not None:
        name = name_user(user)
        if not isinstance(name, str) or not name.strip():
            raise ImproperlyConfigured(
                f"LOCKABLE_DISPLAY_NAME returned {name!r} for user {getattr(user, 'pk', None)!r}: "
                "a display name is a non-empty string")
    else:
        full = user.get_full_name() if hasattr(user, "get_full_name") else ""
        name = (full or "").strip() or (user.get_username() if hasattr(user, "get_username") else str(user))
    return name.strip()[:MAX_DISPLAY_NAME]


def is_same_user(user: Any, holder: Optional[str]) -> bool:
    """Return True if ``holder`` (an owner) is user's, from another tab or
    session: it is ``owner_for(user)`` or a tab of it (``<owner>#<tab>``,
    see ``_core.tab_owner``), or of the form ``user:<pk>`` (or
    ``user:<pk>#<tab>``) with user's pk.  False for None and for an
    anonymous user."""
    if holder is None or user is None or not getattr(user, "is_authenticated", False):
        return False
    if _core.base_owner(holder) == _core.owner_for(user):
        return True
    user_id = _core.parse_user_id(holder)
    return user_id is not None and user_id == user.pk


def default_take_over_permission(request: Any, uid: str, holder: Optional[str]) -> bool:
    """The default of ``LOCKABLE_TAKE_OVER_PERMISSION``: active staff users,
    and users with the permission ``django_lockable.take_over_lock``
    (superusers have it)."""
    user = request.user
    if not getattr(user, "is_active", False):
        return False
    return bool(getattr(user, "is_staff", False) or user.has_perm(TAKE_OVER_PERMISSION))


def may_take_over(request: Any, uid: str, holder: Optional[str]) -> bool:
    """May this request take uid over from ``holder`` (an owner; None when
    nobody holds it live)?

    Anonymous requests may not.  A user may always take over from their own
    other tab or session (``is_same_user``).  Otherwise
    ``LOCKABLE_TAKE_OVER_PERMISSION(request, uid, holder)`` decides, by
    default ``default_take_over_permission``.
    """
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if is_same_user(user, holder):
        return True
    decide = lockable_settings.TAKE_OVER_PERMISSION or default_take_over_permission
    return bool(decide(request, uid, holder))


def take_over_reason(user: Any, reason: Optional[str]) -> str:
    """The reason the database records for a take over by user: the JSON
    object ``{"by": display_name(user), "reason": reason}``.

    Raises ``ValueError`` when it is longer than the database takes (1000
    bytes), and ``TypeError`` for a reason that is not a string or None.
    """
    if reason is not None and not isinstance(reason, str):
        raise TypeError(f"a reason is a string or None, not {reason!r}")
    text = json.dumps({"by": display_name(user), "reason": reason}, ensure_ascii=False)
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise ValueError(f"the reason is too long: with the taker's name it is {len(text.encode())} bytes, "
                         f"and the limit is {MAX_MESSAGE_BYTES}")
    return text


@dataclass(frozen=True)
class TakeOver:
    """Who took a lock over, when, and why, from a ``take_over`` event."""

    owner: Optional[str]
    """The owner who took over."""
    user_id: Any
    """Its user's pk (``user:<pk>``), else None."""
    name: Optional[str]
    """Its display name: as recorded by the package at the time, else the
    display name of the user now, else None."""
    at: datetime
    reason: Optional[str]
    """The reason given (the package's), or the recorded reason as it is
    (a take over made another way)."""


def parse_take_over_reason(text: Optional[str]) -> Optional[dict]:
    """Return ``{"by", "reason"}`` of a reason made by ``take_over_reason``,
    or None for any other text."""
    if not text or not text.startswith("{"):
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if (not isinstance(found, dict) or set(found) != {"by", "reason"} or not isinstance(found["by"], str)
            or not isinstance(found["reason"], (str, type(None)))):
        return None
    return found


def describe_take_over(event: HistoryEvent) -> TakeOver:
    """Who took over, when and why, from a ``take_over`` event of the history."""
    made = parse_take_over_reason(event.reason)
    if made is not None:
        return TakeOver(owner=event.owner, user_id=event.user_id, name=made["by"], at=event.at,
                        reason=made["reason"])
    name = None
    if event.user_id is not None:
        user = get_user_model()._default_manager.filter(pk=event.user_id).first()
        name = None if user is None else display_name(user)
    return TakeOver(owner=event.owner, user_id=event.user_id, name=name, at=event.at, reason=event.reason)


def take_over_for(request: Any, uid: str, reason: Optional[str] = None, ttl: Optional[Seconds] = None,
                  requeue: bool = False, using: Optional[str] = None,
                  owner: Optional[str] = None) -> TakeOverStatus:
    """Take uid over for the request's user, if ``may_take_over`` allows it.

    In one transaction of ``using`` (None: ``LOCKABLE_DATABASE``): the live
    holder is looked up and judged, the lock taken over with ``ttl`` (None:
    ``LOCKABLE_TTL``) and the reason ``take_over_reason(user, reason)``, and,
    should the holder have changed in between, the one really displaced
    judged again (a refusal then undoes the take over).  ``requeue`` puts the
    displaced holder first in line.  ``owner`` takes over as that owner
    rather than ``owner_for(user)``: one of the user's own (a browser tab's,
    ``_core.tab_owner``); ``ValueError`` for any other.

    Raises ``TakeOverDenied`` when refused, ``ValueError`` for a reason too
    long with the taker's name, what ``owner_for`` raises (an anonymous
    user), and what ``django_lockable.take_over`` raises:
    ``LockAdminRequired`` when the database role lacks ``lockable_admin``,
    ``TransferNotSupported`` before lockable 1.4, ``DataError``.
    """
    user = request.user
    if owner is None:
        owner = _core.owner_for(user)
    elif _core.base_owner(owner) != _core.owner_for(user):
        raise ValueError(f"{owner!r} is not an owner of this user")
    text = take_over_reason(user, reason)
    using = using or lockable_settings.DATABASE
    lease = lockable_settings.TTL if ttl is None else ttl
    with transaction.atomic(using=using):
        current = _core.peek(uid, using=using)
        holder = None if current is None else current.owner
        if not may_take_over(request, uid, holder):
            raise TakeOverDenied(uid, holder)
        status = _transfer.take_over(uid, owner, ttl=lease, reason=text, requeue=requeue, using=using)
        if status.previous_owner != holder and not may_take_over(request, uid, status.previous_owner):
            raise TakeOverDenied(uid, status.previous_owner)
    return status
