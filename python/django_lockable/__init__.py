"""django-lockable: lease locks, waiting lines and lost-update protection
for Django, on the lockable PostgreSQL extension.

The low-level API (this module) calls the extension's functions; see
``django_lockable.models``, ``.operations``, ``.drf``, ``.urls`` and
``.admin`` for the rest, and ``.channels`` (with ``.live`` and
``.notifications``) for live editing over websockets.  Importing this module imports no models, so it
is safe in settings and app configs.
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

__version__ = "0.1.0"

__all__ = [
    "LockStatus",
    "LockTimeout",
    "Mutex",
    "QueueNotSupported",
    "ResourceLocked",
    "StaleVersion",
    "aacquire",
    "acquire",
    "aowner_of",
    "arelease",
    "arelease_all",
    "averify",
    "owner_for",
    "owner_of",
    "release",
    "release_all",
    "verify",
    "writing_as",
]
