"""Abstract models: rows with a lease lock, rows with a version; and the
extension's own views, for the admin.

``LockableModel`` names each row's lock and locks it for users.
``VersionedModel`` carries the ``version`` column that the extension's
``version_check`` trigger guards (install it with
``django_lockable.operations.EnableVersioning``), and turns a stale save
into ``StaleVersion``.  Both work alone or together.

``Lock`` and ``LockHistory`` are read-only, unmanaged models of the views
``lockable.active_locks`` and ``lockable.lock_history`` (no table of their
own; migrations create none): they give the admin its pages, and Django its
permissions, among them ``django_lockable.take_over_lock``.  Nothing writes
through them; the lock functions do.  Their rows are read through the
manager ``rows``: the default and base managers, ``objects``, have none, so
that ``dumpdata`` (which would dump live locks, and fail on the history
without ``lockable_admin``) and other generic code leave the views alone.
"""
from typing import Any, Iterable, Optional, Tuple, Union

from asgiref.sync import sync_to_async
from django.db import OperationalError, models, router, transaction

from . import _core, _db
from ._conf import Seconds, lockable_settings
from ._core import LockStatus, ResourceLocked, StaleVersion


class LockableModel(models.Model):
    """A model whose rows users lock, one user at a time.

    The lock of a row is ``lock_uid``, ``"<app_label>.<model_name>:<pk>"``
    of the concrete model (a proxy's rows share their table's locks), which
    is also what ``EnableLockEnforcement`` makes the ``enforce_lock``
    trigger check.  The calls run on the database that the router picks for
    writing the row.
    """

    class Meta:
        abstract = True

    @property
    def lock_uid(self) -> str:
        """The uid of this row's lock.  Raises ``ValueError`` for an unsaved row."""
        if self.pk is None:
            raise ValueError(f"an unsaved {self._meta.label} has no lock uid")
        concrete_model = self._meta.concrete_model
        assert concrete_model is not None  # None only for an abstract model, which has no rows
        concrete = concrete_model._meta
        return _core.model_uid_prefix(concrete.app_label, str(concrete.model_name)) + str(self.pk)

    def _lock_database(self) -> str:
        return router.db_for_write(type(self), instance=self)

    def lock(self, user: Any, ttl: Optional[Seconds] = None, queue: bool = False) -> LockStatus:
        """Lock (or renew the lock of) this row for user; return the status.

        ``ttl`` None is ``LOCKABLE_TTL``.  With ``queue`` (lockable 1.2) a
        refused user takes a place in line.  Raises ``ResourceLocked`` when
        another user holds the lock or is ahead in line, and what
        ``django_lockable.acquire`` and ``owner_for`` raise.
        """
        status = _core.acquire(
            self.lock_uid,
            _core.owner_for(user),
            ttl=lockable_settings.TTL if ttl is None else ttl,
            queue=queue,
            using=self._lock_database(),
        )
        if not status.granted:
            raise ResourceLocked(status)
        return status

    def unlock(self, user: Any) -> bool:
        """Release user's lock on this row (and place in line); True if there was one."""
        return _core.release(self.lock_uid, _core.owner_for(user), using=self._lock_database())

    async def alock(self, user: Any, ttl: Optional[Seconds] = None, queue: bool = False) -> LockStatus:
        """``lock``, for async code."""
        return await sync_to_async(self.lock)(user, ttl, queue)

    async def aunlock(self, user: Any) -> bool:
        """``unlock``, for async code."""
        return await sync_to_async(self.unlock)(user)

    async def alock_status(self) -> Optional[LockStatus]:
        """``lock_status``, for async code."""
        return await sync_to_async(self.lock_status)()

    def lock_status(self) -> Optional[LockStatus]:
        """Return the live lock on this row (``granted`` true: granted to
        ``owner``; ``waiters`` with the waiting line), or None if nobody holds it."""
        return _core.peek(self.lock_uid, using=self._lock_database())

    @property
    def locked_by(self) -> Any:
        """The user id of the live holder, or None (free, or an owner not of the
        form ``user:<pk>``).  Reads the database on every access."""
        return _core.parse_user_id(_core.owner_of(self.lock_uid, using=self._lock_database()))


class VersionedModel(models.Model):
    """A model whose saves cannot overwrite each other unnoticed.

    ``version`` counts the updates of the row.  With the ``version_check``
    trigger installed (``EnableVersioning``), ``save()`` sends the version
    the instance was read at; the database refuses it if the row has moved
    on, and ``save()`` raises ``StaleVersion``.  After a successful save the
    instance holds the version the trigger stored.  ``save(update_fields=...)``
    always includes ``version``, so it is checked too.

    Bulk ``QuerySet.update()`` is bumped but not checked (it sends no
    version); ``delete()`` is not version-checked.
    """

    version: "models.BigIntegerField[int, int]" = models.BigIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *, force_insert: Union[bool, Tuple[Any, ...]] = False, force_update: bool = False,
             using: Optional[str] = None, update_fields: Optional[Iterable[str]] = None) -> None:
        """Save, checked against the version read; read back the new version.

        Raises ``StaleVersion`` if the row was saved by someone else since
        this instance's version was read; nothing is written then.
        """
        using = using or router.db_for_write(type(self), instance=self)
        if update_fields is not None:
            update_fields = list(update_fields)
            if update_fields and "version" not in update_fields:
                update_fields.append("version")
        try:
            with transaction.atomic(using=using):
                super().save(force_insert=force_insert, force_update=force_update, using=using,
                             update_fields=update_fields)
                self.refresh_from_db(using=using, fields=["version"])
        except OperationalError as exc:
            if not self._is_stale_version(exc):
                raise
            current = (type(self)._base_manager.using(using).filter(pk=self.pk)
                       .values_list("version", flat=True).first())
            raise StaleVersion(
                f"{self._meta.label} {self.pk!r} was saved by someone else: it is at version "
                f"{current}, and this save was based on version {self.version}",
                pk=self.pk, version=self.version, current_version=current,
            ) from exc

    def _is_stale_version(self, exc: BaseException) -> bool:
        diag = _db.diagnostics(exc)
        return (
            _db.sqlstate(exc) == "40001"
            and getattr(diag, "table_name", None) == self._meta.db_table
            and getattr(diag, "column_name", None) == getattr(self._meta.get_field("version"), "column", None)
        )


class NoRows(models.Manager):
    """The default and base manager of the views' models: no rows, and no
    query.  Read the rows through ``Model.rows``."""

    def get_queryset(self) -> Any:
        return super().get_queryset().none()


class Lock(models.Model):
    """A live lock, as ``lockable.active_locks`` shows it (read-only).

    Its permissions are the package's: ``view_lock`` (the admin's page of
    live locks), ``take_over_lock`` (take a lock over from its holder: the
    default of ``LOCKABLE_TAKE_OVER_PERMISSION``, and the admin's action)
    and ``break_lock`` (release anyone's lock: the admin's action).  The
    rows: ``Lock.rows``.
    """

    uid: "models.TextField[str, str]" = models.TextField(primary_key=True)
    owner: "models.TextField[str, str]" = models.TextField()
    token: "models.BigIntegerField[int, int]" = models.BigIntegerField()
    acquired_at: "models.DateTimeField[Any, Any]" = models.DateTimeField()
    expires_at: "models.DateTimeField[Any, Any]" = models.DateTimeField()
    waiters: "models.IntegerField[int, int]" = models.IntegerField()

    objects = NoRows()
    rows: "models.Manager[Lock]" = models.Manager()
    """The live locks."""

    class Meta:
        app_label = "django_lockable"
        managed = False
        db_table = '"lockable"."active_locks"'
        base_manager_name = "objects"
        ordering = ("uid",)
        verbose_name = "live lock"
        verbose_name_plural = "live locks"
        default_permissions = ("view",)
        permissions = (
            ("take_over_lock", "Can take a lock over from its holder"),
            ("break_lock", "Can release anyone's lock"),
        )

    def __str__(self) -> str:
        return self.uid


class LockHistory(models.Model):
    """One event of ``lockable.lock_history`` (read-only; see
    ``django_lockable.HistoryEvent`` for the columns).

    The view has no key: ``at`` stands in as the model's primary key, for
    listing only, and is not unique.  Reading the view (``LockHistory.rows``)
    needs ``lockable_admin`` for the database role.
    """

    at: "models.DateTimeField[Any, Any]" = models.DateTimeField(primary_key=True)
    event: "models.TextField[str, str]" = models.TextField()
    uid: "models.TextField[str, str]" = models.TextField()
    owner: "models.TextField[Optional[str], Optional[str]]" = models.TextField(null=True)
    token: "models.BigIntegerField[Optional[int], Optional[int]]" = models.BigIntegerField(null=True)
    previous_owner: "models.TextField[Optional[str], Optional[str]]" = models.TextField(null=True)
    reason: "models.TextField[Optional[str], Optional[str]]" = models.TextField(null=True)
    role: "models.TextField[str, str]" = models.TextField()

    objects = NoRows()
    rows: "models.Manager[LockHistory]" = models.Manager()
    """The events of the history (the database role needs ``lockable_admin``)."""

    class Meta:
        app_label = "django_lockable"
        managed = False
        db_table = '"lockable"."lock_history"'
        base_manager_name = "objects"
        ordering = ("-at", "uid", "event", "owner", "token", "previous_owner", "reason", "role")
        verbose_name = "lock history event"
        verbose_name_plural = "lock history"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.event} of {self.uid} at {self.at}"
