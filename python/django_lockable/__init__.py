"""django-lockable: lease locks, waiting lines and lost-update protection
for Django, on the lockable PostgreSQL extension.

The low-level API (this module) calls the extension's functions; see
``django_lockable.models``, ``.operations``, ``.drf``, ``.urls``,
``.admin`` and ``.policy`` (who may take a lock over) for the rest, and
``.channels`` (with ``.live`` and ``.notifications``) for live editing over
websockets.  Importing this module imports no models, so it is safe in
settings and app configs.
"""
from ._core import (
    LockStatus,
    LockTimeout,
    Mutex,
    QueueNotSupported,
    ResourceLocked,
    StaleVersion,
    aacquire,
    acquire,
    aowner_of,
    arelease,
    arelease_all,
    averify,
    owner_for,
    owner_of,
    release,
    release_all,
    verify,
    writing_as,
)
from ._transfer import (
    HistoryEvent,
    LockAdminRequired,
    TakeOverStatus,
    TransferNotSupported,
    adecline,
    adisplaced_by,
    ahand_over,
    ahistory,
    arequest,
    atake_over,
    decline,
    displaced_by,
    hand_over,
    history,
    request,
    take_over,
)

__version__ = "0.1.0"

__all__ = [
    "HistoryEvent",
    "LockAdminRequired",
    "LockStatus",
    "LockTimeout",
    "Mutex",
    "QueueNotSupported",
    "ResourceLocked",
    "StaleVersion",
    "TakeOverStatus",
    "TransferNotSupported",
    "aacquire",
    "acquire",
    "adecline",
    "adisplaced_by",
    "ahand_over",
    "ahistory",
    "aowner_of",
    "arelease",
    "arelease_all",
    "arequest",
    "atake_over",
    "averify",
    "decline",
    "displaced_by",
    "hand_over",
    "history",
    "owner_for",
    "owner_of",
    "release",
    "release_all",
    "request",
    "take_over",
    "verify",
    "writing_as",
]
