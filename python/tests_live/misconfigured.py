"""A deliberately broken ``LOCKABLE_OWNER``, for the test of close code 4500:
a server started with ``EXAMPLE_LOCKABLE_OWNER=tests_live.misconfigured.empty_owner``
names no owner for anyone."""
from typing import Any


def empty_owner(user: Any) -> str:
    """An owner of 0 bytes: ``owner_for`` raises ImproperlyConfigured."""
    return ""
