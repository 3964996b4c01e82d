"""``LockableAdmin``: who holds each row's lock, in the admin, and a way to
break it.

::

    @admin.register(Document)
    class DocumentAdmin(LockableAdmin, admin.ModelAdmin):
        list_display = ["title"]

The change list gets two columns, "lock holder" and "locked until" (one
query per page for all rows), the change form shows them read-only, and
staff with the model's change permission get the action "Break the locks
of the selected rows".  Breaking needs EXECUTE on
``lockable.lock_break(text)`` for the database role, which PUBLIC does not
have (from lockable 1.4 the role ``lockable_admin`` has it); without it the
action changes nothing and says so.
"""
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.auth import get_user_model
from django.db import router, transaction

from . import _core
from ._core import LockStatus

BUSY = "The locks could not be broken now (an open transaction holds a lock row): try again."
NO_BREAK_PRIVILEGE = (
    "You cannot break locks: the database role of this site lacks EXECUTE on "
    "lockable.lock_break(text). A database administrator can grant it with "
    "GRANT lockable_admin TO <role> (lockable 1.4), or with "
    "GRANT EXECUTE ON FUNCTION lockable.lock_break(text) TO <role>."
)

_STATUS = "_lockable_status"
_HOLDER = "_lockable_holder"


if TYPE_CHECKING:
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


class LockableAdmin(_AdminBase):
    """A ModelAdmin mixin for a ``LockableModel``: lock holder and expiry in
    the change list and form, and the "break lock" action."""

    lock_fields = ("lock_holder", "lock_expires_at")

    def _lock_database(self) -> str:
        return router.db_for_write(self.model)

    def _attach(self, objs: Sequence[Any]) -> None:
        """Look up the locks of objs, and their holders, in two queries."""
        if not objs:
            return
        statuses = _core.peek_many([obj.lock_uid for obj in objs], using=self._lock_database())
        user_ids = {s.user_id for s in statuses.values() if s.user_id is not None}
        users = get_user_model()._default_manager.in_bulk(list(user_ids)) if user_ids else {}
        for obj in objs:
            status = statuses.get(obj.lock_uid)
            setattr(obj, _STATUS, status)
            user = None if status is None else users.get(status.user_id)
            setattr(obj, _HOLDER, None if status is None else str(user) if user else status.owner)

    def _status(self, obj: Any) -> Optional[LockStatus]:
        if not hasattr(obj, _STATUS):
            self._attach([obj])
        return getattr(obj, _STATUS)

    @admin.display(description="lock holder")
    def lock_holder(self, obj: Any) -> str:
        """The holder of obj's live lock (the user, else the owner), or "-"."""
        self._status(obj)
        return getattr(obj, _HOLDER) or "-"

    @admin.display(description="locked until")
    def lock_expires_at(self, obj: Any) -> Any:
        """When obj's live lock expires, or "-"."""
        status = self._status(obj)
        return "-" if status is None else status.expires_at

    def get_list_display(self, request: Any) -> Any:
        return [*super().get_list_display(request), *self.lock_fields]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> List[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if obj is None else [*fields, *self.lock_fields]

    def get_changelist_instance(self, request: Any) -> Any:
        changelist = super().get_changelist_instance(request)
        self._attach(list(changelist.result_list))
        return changelist

    def get_actions(self, request: Any, action_location: Any = None) -> Dict[str, Any]:
        """The ModelAdmin's actions, and "break_lock" for staff who may change
        rows.  ``action_location`` is Django 6.1's (``ActionLocation``; the
        change list or the change form), passed on; None before 6.1."""
        if action_location is None:
            actions = super().get_actions(request)
            found = self.get_action("break_lock")
        else:
            # Django 6.1's signatures (the stubs may know the older ones only).
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[call-arg,unused-ignore]
            found = self.get_action("break_lock", action_location)  # type: ignore[call-arg,unused-ignore]
        if (found is not None and self.actions is not None
                and IS_POPUP_VAR not in request.GET and self.has_change_permission(request)):
            actions["break_lock"] = found
        return dict(actions)

    @admin.action(description="Break the locks of the selected rows")
    def break_lock(self, request: Any, queryset: Any) -> None:
        """Force the release of the selected rows' live locks; report how many."""
        using = self._lock_database()
        if not _core.can_break_locks(using=using):
            self.message_user(request, NO_BREAK_PRIVILEGE, messages.ERROR)
            return
        objs = list(queryset)
        try:
            # One savepoint: a timeout breaks none of them, and leaves the
            # request's transaction (ATOMIC_REQUESTS) usable.
            with transaction.atomic(using=using):
                broken = sum(_core.break_lock(obj.lock_uid, using=using) for obj in objs)
        except _core.LockTimeout:
            self.message_user(request, BUSY, messages.ERROR)
            return
        self.message_user(
            request,
            f"Broke {broken} lock(s); {len(objs) - broken} of the {len(objs)} selected rows had none.",
            messages.SUCCESS,
        )
