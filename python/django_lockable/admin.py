"""The admin: who holds each row's lock and a way to break it
(``LockableAdmin``), and the pages of all live locks (``LockAdmin``) and of
the history (``LockHistoryAdmin``), registered on ``admin.site``.

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

"Live locks" (``LockAdmin``, on ``lockable.active_locks``) lists every live
lock: its holder, since and until when, how many wait and who, in line
order; staff with ``django_lockable.break_lock`` may release the selected
locks (``lock_break``: each goes to the next in line), and staff with
``django_lockable.take_over_lock`` may take them over, with a reason, for
themselves, each as ``LOCKABLE_TAKE_OVER_PERMISSION`` allows.  "Lock
history" (``LockHistoryAdmin``, on ``lockable.lock_history``) is read-only,
newest first, filterable by uid, owner (as owner or previous owner) and
event, and searchable.  Both need lockable 1.4, the history and both
actions ``lockable_admin`` for the site's database role; without it a page
says so and changes nothing.  A site of its own registers them with
``site.register(Lock, LockAdmin)`` and ``site.register(LockHistory,
LockHistoryAdmin)``.
"""
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models import Q
from django.utils.html import format_html, format_html_join

from . import _core, _db, _transfer, policy
from ._conf import lockable_settings
from ._core import LockStatus
from ._transfer import LockAdminRequired
from .models import Lock, LockHistory

BUSY = "The locks could not be broken now (an open transaction holds a lock row): try again."
NO_BREAK_PRIVILEGE = (
    "You cannot break locks: the database role of this site lacks EXECUTE on "
    "lockable.lock_break(text). A database administrator can grant it with "
    "GRANT lockable_admin TO <role> (lockable 1.4), or with "
    "GRANT EXECUTE ON FUNCTION lockable.lock_break(text) TO <role>."
)

NO_LOCKABLE_ADMIN = (
    "The database role of this site may not do that: it needs lockable_admin. A database "
    "administrator can grant it with GRANT lockable_admin TO <role>."
)
NEEDS_1_4 = "This page needs lockable 1.4 in the database: ALTER EXTENSION lockable UPDATE."

_STATUS = "_lockable_status"
_HOLDER = "_lockable_holder"
_UNAVAILABLE = "_lockable_unavailable"
_LINE = "_lockable_line"
_LINE_SQL = (
    "SELECT q.uid, q.owner FROM lockable.lock_queue AS q WHERE q.uid = ANY (%s) ORDER BY q.uid, q.position"
)


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


def _names(owners: Sequence[Optional[str]]) -> Dict[str, str]:
    """The users' names (``str(user)``) of owners of the form ``user:<pk>``,
    in one query; other owners are named by themselves."""
    ids = {_core.parse_user_id(owner) for owner in owners if owner}
    ids.discard(None)
    users = get_user_model()._default_manager.in_bulk(list(ids)) if ids else {}
    found = {}
    for owner in owners:
        if owner:
            user = users.get(_core.parse_user_id(owner))
            found[owner] = str(user) if user is not None else owner
    return found


class _ReadOnlyAdmin(_AdminBase):
    """Pages of the extension's views: nothing to add, change or delete, and
    a message instead of an error where the database cannot show them."""

    list_display_links = None
    title = ""
    """The page's title."""

    def unavailable(self, request: Any) -> Optional[str]:
        """Why the database cannot show the page (a message), or None."""
        raise NotImplementedError

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        # Rows are listed, never opened: their keys are not theirs alone.
        return obj is None and super().has_view_permission(request, obj)

    def get_urls(self) -> List[Any]:
        """The change list only: no page to add, change, delete or open a row."""
        changelist = f"{self.model._meta.app_label}_{self.model._meta.model_name}_changelist"
        return [pattern for pattern in super().get_urls() if getattr(pattern, "name", None) == changelist]

    def get_queryset(self, request: Any) -> Any:
        found = self.model.rows.using(lockable_settings.DATABASE).all()  # objects has no rows
        ordering = self.get_ordering(request)
        if ordering:
            found = found.order_by(*ordering)
        return found.none() if getattr(request, _UNAVAILABLE, False) else found

    def changelist_view(self, request: Any, extra_context: Optional[Dict[str, Any]] = None) -> Any:
        problem = self.unavailable(request)
        if problem is not None:
            setattr(request, _UNAVAILABLE, True)
            if request.method == "GET":
                self.message_user(request, problem, messages.ERROR)
        return super().changelist_view(request, {"title": self.title, **(extra_context or {})})


class TakeOverActionForm(ActionForm):
    """The action bar of the live locks, with the reason of a take over."""

    reason = forms.CharField(required=False, max_length=500, label="Reason (for a take over):")


class LockAdmin(_ReadOnlyAdmin, admin.ModelAdmin):
    """The page of all live locks and their lines, with the actions "Release"
    and "Take over" (see the module)."""

    title = "Live locks"
    list_display = ["uid", "holder", "since", "until", "waiters", "line"]
    search_fields = ["uid", "owner"]
    actions = ["release_locks", "take_over_locks"]
    action_form = TakeOverActionForm

    def unavailable(self, request: Any) -> Optional[str]:
        features = _db.features(lockable_settings.DATABASE)
        return None if features.queue and features.transfer else NEEDS_1_4

    def get_changelist_instance(self, request: Any) -> Any:
        changelist = super().get_changelist_instance(request)
        locks = list(changelist.result_list)
        lines: Dict[str, List[str]] = {}
        if locks:
            with _db.cursor(lockable_settings.DATABASE) as cur:
                cur.execute(_LINE_SQL, [[lock.uid for lock in locks]])
                for uid, owner in cur.fetchall():
                    lines.setdefault(uid, []).append(owner)
        names = _names([lock.owner for lock in locks] + [o for line in lines.values() for o in line])
        for lock in locks:
            setattr(lock, _HOLDER, names.get(lock.owner, lock.owner))
            setattr(lock, _LINE, [names.get(owner, owner) for owner in lines.get(lock.uid, [])])
        return changelist

    @admin.display(description="holder", ordering="owner")
    def holder(self, obj: Lock) -> str:
        """The holder: the user, else the owner."""
        return getattr(obj, _HOLDER, obj.owner)

    @admin.display(description="since", ordering="acquired_at")
    def since(self, obj: Lock) -> Any:
        """When the grant was made."""
        return obj.acquired_at

    @admin.display(description="until", ordering="expires_at")
    def until(self, obj: Lock) -> Any:
        """When the lease runs out, unless renewed."""
        return obj.expires_at

    @admin.display(description="line")
    def line(self, obj: Lock) -> str:
        """Who waits, in line order (1 = next), or "-"."""
        names = getattr(obj, _LINE, [])
        if not names:
            return "-"
        return format_html_join(", ", "{}. {}", ((n, name) for n, name in enumerate(names, 1)))

    def has_break_permission(self, request: Any) -> bool:
        """May release anyone's lock: ``django_lockable.break_lock``."""
        return bool(request.user.has_perm("django_lockable.break_lock"))

    def has_take_over_permission(self, request: Any) -> bool:
        """May take locks over here: ``django_lockable.take_over_lock`` (and,
        lock by lock, ``LOCKABLE_TAKE_OVER_PERMISSION``)."""
        return bool(request.user.has_perm(policy.TAKE_OVER_PERMISSION))

    @admin.action(description="Release the selected locks", permissions=["break"])
    def release_locks(self, request: Any, queryset: Any) -> None:
        """Break the selected live locks (each goes to the next in line)."""
        using = lockable_settings.DATABASE
        if not _core.can_break_locks(using=using):
            self.message_user(request, NO_LOCKABLE_ADMIN, messages.ERROR)
            return
        uids = [lock.uid for lock in queryset]
        released = sum(_core.break_lock(uid, using=using) for uid in uids)
        self.message_user(request, f"Released {released} of the {len(uids)} selected lock(s); "
                                   f"{len(uids) - released} had ended already.", messages.SUCCESS)

    @admin.action(description="Take the selected locks over", permissions=["take_over"])
    def take_over_locks(self, request: Any, queryset: Any) -> None:
        """Take the selected locks over for the admin's user, with the reason
        of the action bar, each as ``LOCKABLE_TAKE_OVER_PERMISSION`` allows."""
        using = lockable_settings.DATABASE
        reason = (request.POST.get("reason") or "").strip()[:500] or None
        try:
            policy.take_over_reason(request.user, reason)
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        taken, refused = 0, 0
        for lock in queryset:
            try:
                policy.take_over_for(request, lock.uid, reason=reason, using=using)
            except policy.TakeOverDenied:
                refused += 1
            except LockAdminRequired:
                self.message_user(request, NO_LOCKABLE_ADMIN, messages.ERROR)
                return
            else:
                taken += 1
        level = messages.SUCCESS if refused == 0 else messages.WARNING
        self.message_user(request, f"Took {taken} lock(s) over; {refused} refused.", level)


class _ExactFilter(admin.SimpleListFilter):
    """A filter set by the links of the page's cells (``?uid=...``): shown
    while it is in use, with "All" to leave it."""

    def lookups(self, request: Any, model_admin: Any) -> Any:
        value = self.value()
        return [] if value is None else [(value, value)]


class UidFilter(_ExactFilter):
    """The events of one uid."""

    title = "uid"
    parameter_name = "uid"

    def queryset(self, request: Any, queryset: Any) -> Any:
        value = self.value()
        return queryset if value is None else queryset.filter(uid=value)


class OwnerFilter(_ExactFilter):
    """The events of one owner: as the owner, or as the previous owner."""

    title = "owner"
    parameter_name = "owner"

    def queryset(self, request: Any, queryset: Any) -> Any:
        value = self.value()
        return queryset if value is None else queryset.filter(Q(owner=value) | Q(previous_owner=value))


class EventFilter(admin.SimpleListFilter):
    """The events of one kind."""

    title = "event"
    parameter_name = "event"

    def lookups(self, request: Any, model_admin: Any) -> Any:
        return [(event, event.replace("_", " ")) for event in _transfer.EVENTS]

    def queryset(self, request: Any, queryset: Any) -> Any:
        value = self.value()
        return queryset if value is None else queryset.filter(event=value)


def _filter_link(name: str, value: Optional[str]) -> str:
    if value is None:
        return "-"
    return format_html('<a href="?{}">{}</a>', urlencode({name: value}), value)


class LockHistoryAdmin(_ReadOnlyAdmin, admin.ModelAdmin):
    """The read-only page of the history, newest first (see the module)."""

    title = "Lock history"
    list_display = ["at", "event", "uid_link", "owner_link", "token", "previous_owner_link", "reason_text", "role"]
    list_filter = [UidFilter, OwnerFilter, EventFilter]
    search_fields = ["uid", "owner", "previous_owner", "reason"]
    actions = None
    show_full_result_count = False

    def unavailable(self, request: Any) -> Optional[str]:
        using = lockable_settings.DATABASE
        if not _db.features(using).transfer:
            return NEEDS_1_4
        return None if _transfer.can_read_history(using) else NO_LOCKABLE_ADMIN

    @admin.display(description="uid", ordering="uid")
    def uid_link(self, obj: LockHistory) -> str:
        """The uid, a link to its events."""
        return _filter_link("uid", obj.uid)

    @admin.display(description="owner", ordering="owner")
    def owner_link(self, obj: LockHistory) -> str:
        """The owner the event is about, a link to that owner's events."""
        return _filter_link("owner", obj.owner)

    @admin.display(description="previous owner", ordering="previous_owner")
    def previous_owner_link(self, obj: LockHistory) -> str:
        """The holder before the event, a link to that owner's events."""
        return _filter_link("owner", obj.previous_owner)

    @admin.display(description="reason")
    def reason_text(self, obj: LockHistory) -> str:
        """The reason; a take over made through the package as "name: reason"."""
        made = policy.parse_take_over_reason(obj.reason)
        if made is None:
            return obj.reason or "-"
        return f"{made['by']}: {made['reason']}" if made["reason"] else made["by"]


admin.site.register(Lock, LockAdmin)
admin.site.register(LockHistory, LockHistoryAdmin)
