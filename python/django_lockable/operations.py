"""Migration operations: install the extension and its triggers.

Modelled on ``django.contrib.postgres.operations.CreateExtension``: they
change no model state, run their SQL through ``schema_editor.execute`` with
parameters (so ``sqlmigrate`` shows it), respect the router, and are
reversible::

    from django_lockable.operations import (
        CreateLockableExtension, EnableLockEnforcement, EnableVersioning)

    operations = [
        CreateLockableExtension(),
        migrations.CreateModel("Order", ...),
        EnableVersioning("Order"),
        EnableLockEnforcement("Order"),
    ]
"""
from typing import Any, Optional

from django.db import router
from django.db.migrations.operations.base import Operation

from . import _core, _db

_EXTENSION_EXISTS_SQL = (
    "SELECT pg_catalog.pg_has_role(e.extowner, 'USAGE')"
    "  FROM pg_catalog.pg_extension AS e WHERE e.extname = 'lockable'"
)
_CREATE_EXTENSION_SQL = "CREATE EXTENSION IF NOT EXISTS lockable"
_DROP_EXTENSION_SQL = "DROP EXTENSION IF EXISTS lockable"
_ENABLE_VERSIONING_SQL = "SELECT lockable.enable_versioning(%s::pg_catalog.regclass, %s::pg_catalog.name)"
_DISABLE_VERSIONING_SQL = "SELECT lockable.disable_versioning(%s::pg_catalog.regclass)"
_ENABLE_LOCK_ENFORCEMENT_SQL = (
    "SELECT lockable.enable_lock_enforcement(%s::pg_catalog.regclass, %s::pg_catalog.name,"
    " %s::pg_catalog.text, %s::pg_catalog.bool)"
)
_DISABLE_LOCK_ENFORCEMENT_SQL = "SELECT lockable.disable_lock_enforcement(%s::pg_catalog.regclass)"
_ENABLE_SAVE_ANNOUNCEMENTS_SQL = (
    "SELECT lockable.enable_save_announcements(%s::pg_catalog.regclass, %s::pg_catalog.name,"
    " %s::pg_catalog.text, %s::pg_catalog.name)"
)
_DISABLE_SAVE_ANNOUNCEMENTS_SQL = "SELECT lockable.disable_save_announcements(%s::pg_catalog.regclass)"


def _applies(schema_editor: Any, app_label: str, model: Any = None) -> bool:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return False
    if model is None:
        return router.allow_migrate(connection.alias, app_label)
    return router.allow_migrate_model(connection.alias, model)


class CreateLockableExtension(Operation):
    """Create the lockable extension, unless it exists; reversible.

    ``CREATE EXTENSION lockable`` needs a superuser.  An application that
    migrates as an ordinary role has a DBA create the extension first; the
    operation then does nothing.  Backwards, it drops the extension only if
    it exists and the migrating role owns it (so it could have created it):
    an extension a DBA installed stays, with its locks.  Dropping fails while
    triggers use its functions, so reverse ``EnableVersioning`` and
    ``EnableLockEnforcement`` first (Django does, in reverse order).

    Raises the database's ``ProgrammingError`` (42501, "permission denied
    to create extension") if the extension is missing and the role may not
    create it.
    """

    reversible = True

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _owned(self, schema_editor: Any) -> Optional[bool]:
        """None if the extension is missing, else whether the role owns it."""
        with schema_editor.connection.cursor() as cur:
            cur.execute(_EXTENSION_EXISTS_SQL)
            row = cur.fetchone()
        return None if row is None else bool(row[0])

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if not _applies(schema_editor, app_label):
            return
        if self._owned(schema_editor) is None:
            schema_editor.execute(_CREATE_EXTENSION_SQL)
        _db.forget_features(schema_editor.connection.alias)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if not _applies(schema_editor, app_label):
            return
        if self._owned(schema_editor):
            schema_editor.execute(_DROP_EXTENSION_SQL)
        _db.forget_features(schema_editor.connection.alias)

    def describe(self) -> str:
        return "Creates extension lockable"

    @property
    def migration_name_fragment(self) -> str:
        return "create_extension_lockable"


class _TableOperation(Operation):
    """An operation on the table of one model: ``model_name`` as in AlterField."""

    reversible = True

    def __init__(self, model_name: str):
        self.model_name = model_name

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _model(self, app_label: str, state: Any) -> Any:
        return state.apps.get_model(app_label, self.model_name)

    def _table(self, schema_editor: Any, model: Any) -> str:
        """The table as regclass input: a quoted identifier, passed as a parameter."""
        return schema_editor.quote_name(model._meta.db_table)

    def references_model(self, name: str, app_label: str) -> bool:
        return name.lower() == self.model_name_lower


class EnableVersioning(_TableOperation):
    """Install the ``version_check`` trigger on a model's table; reversible.

    ``EnableVersioning("Order", column="version")``: ``column`` is the name
    of the version field (``VersionedModel`` has ``version``), which must
    exist in the model state (add the field in an earlier operation).
    Backwards drops the trigger; the column stays.
    """

    def __init__(self, model_name: str, column: str = "version"):
        super().__init__(model_name)
        self.column = column

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = self._model(app_label, to_state)
        if _applies(schema_editor, app_label, model):
            schema_editor.execute(_ENABLE_VERSIONING_SQL, (
                self._table(schema_editor, model), model._meta.get_field(self.column).column))

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = self._model(app_label, from_state)
        if _applies(schema_editor, app_label, model):
            schema_editor.execute(_DISABLE_VERSIONING_SQL, (self._table(schema_editor, model),))

    def describe(self) -> str:
        return f"Enables lockable versioning of {self.model_name} by {self.column}"

    @property
    def migration_name_fragment(self) -> str:
        return f"enable_versioning_{self.model_name_lower}"


class EnableLockEnforcement(_TableOperation):
    """Install the ``enforce_lock`` trigger on a model's table; reversible.

    ``EnableLockEnforcement("Order", column="id", required=False)``: the
    lock of a row is ``"<app_label>.<model_name>:"`` followed by the text
    of ``column`` (a field name; default: the primary key), which for the
    primary key equals ``LockableModel.lock_uid``.  Updates and deletes of a
    row whose live lock another owner holds are refused (55P03); with
    ``required``, the writer must hold the row's lock.  Backwards drops the
    trigger.
    """

    def __init__(self, model_name: str, column: Optional[str] = None, required: bool = False):
        super().__init__(model_name)
        self.column = column
        self.required = required

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = self._model(app_label, to_state)
        if not _applies(schema_editor, app_label, model):
            return
        opts = model._meta
        field = opts.pk if self.column is None else opts.get_field(self.column)
        concrete = opts.concrete_model._meta  # as LockableModel.lock_uid names it
        schema_editor.execute(_ENABLE_LOCK_ENFORCEMENT_SQL, (
            self._table(schema_editor, model),
            field.column,
            _core.model_uid_prefix(concrete.app_label, concrete.model_name),
            self.required,
        ))

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = self._model(app_label, from_state)
        if _applies(schema_editor, app_label, model):
            schema_editor.execute(_DISABLE_LOCK_ENFORCEMENT_SQL, (self._table(schema_editor, model),))

    def describe(self) -> str:
        mode = "required" if self.required else "if locked"
        return f"Enables lockable lock enforcement ({mode}) on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"enable_lock_enforcement_{self.model_name_lower}"


class EnableSaveAnnouncements(_TableOperation):
    """Install the ``announce_save`` trigger on a model's table (lockable
    1.4); reversible.

    ``EnableSaveAnnouncements("Order", column=None, version_column="version")``:
    each update of a row sends a ``saved`` notification naming the row's
    lock (``"<app_label>.<model_name>:"`` and the text of ``column``, by
    default the primary key: ``LockableModel.lock_uid``), the writing owner
    and the new version (``version_column`` a field name, or None for
    none), so that live-editing sockets of the record hear ``saved``.
    Backwards drops the trigger.
    """

    def __init__(self, model_name: str, column: Optional[str] = None, version_column: Optional[str] = "version"):
        super().__init__(model_name)
        self.column = column
        self.version_column = version_column

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = self._model(app_label, to_state)
        if not _applies(schema_editor, app_label, model):
            return
        opts = model._meta
        field = opts.pk if self.column is None else opts.get_field(self.column)
        concrete = opts.concrete_model._meta
        version = None if self.version_column is None else opts.get_field(self.version_column).column
        schema_editor.execute(_ENABLE_SAVE_ANNOUNCEMENTS_SQL, (
            self._table(schema_editor, model),
            field.column,
            _core.model_uid_prefix(concrete.app_label, concrete.model_name),
            version,
        ))

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = self._model(app_label, from_state)
        if _applies(schema_editor, app_label, model):
            schema_editor.execute(_DISABLE_SAVE_ANNOUNCEMENTS_SQL, (self._table(schema_editor, model),))

    def describe(self) -> str:
        return f"Enables lockable save announcements on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"enable_save_announcements_{self.model_name_lower}"
