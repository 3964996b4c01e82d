"""The migration operations, forwards and backwards, as the application's
ordinary role (and, for the extension itself, as a superuser)."""
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import ProgrammingError, connection, connections, transaction
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import OperationWriter

from django_lockable import _db
from django_lockable.operations import (
    CreateLockableExtension,
    EnableLockEnforcement,
    EnableVersioning,
)


def triggers(table, alias="default"):
    """{trigger name: its arguments} on table (empty if the table is gone)."""
    with connections[alias].cursor() as cur:
        cur.execute(
            "SELECT t.tgname, pg_catalog.encode(t.tgargs, 'escape')"
            "  FROM pg_catalog.pg_trigger AS t"
            " WHERE t.tgrelid = pg_catalog.to_regclass(%s) AND NOT t.tgisinternal",
            [table],
        )
        return dict(cur.fetchall())


def table_exists(table):
    with connection.cursor() as cur:
        cur.execute("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", [table])
        return cur.fetchone()[0]


def extension_version(alias="default"):
    with connections[alias].cursor() as cur:
        cur.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockable'")
        row = cur.fetchone()
    return row and row[0]


def test_migrations_installed_the_triggers(db):
    assert triggers("testapp_document") == {
        "lockable_version_check": "version\\000",
        "lockable_enforce_lock": "id\\000testapp.document:\\000if_locked\\000",
    }
    assert triggers("testapp_ticket") == {
        "lockable_enforce_lock": "id\\000testapp.ticket:\\000required\\000",
    }


def test_migrate_backwards_and_forwards_again(db):
    """Inside the test's transaction, which rolls it all back afterwards."""
    call_command("migrate", "testapp", "0001", verbosity=0)
    assert triggers("testapp_document") == {} and triggers("testapp_ticket") == {}
    call_command("migrate", "testapp", "zero", verbosity=0)
    assert not table_exists("testapp_document")
    assert extension_version() is not None  # a DBA's extension stays
    call_command("migrate", "testapp", verbosity=0)
    assert set(triggers("testapp_document")) == {"lockable_version_check", "lockable_enforce_lock"}
    assert set(triggers("testapp_ticket")) == {"lockable_enforce_lock"}


def test_sqlmigrate_shows_parameterized_calls(db):
    out = StringIO()
    call_command("sqlmigrate", "testapp", "0002", stdout=out)
    sql = out.getvalue()
    assert ("SELECT lockable.enable_versioning('\"testapp_document\"'::pg_catalog.regclass,"
            " 'version'::pg_catalog.name);") in sql
    assert ("SELECT lockable.enable_lock_enforcement('\"testapp_ticket\"'::pg_catalog.regclass,"
            " 'id'::pg_catalog.name, 'testapp.ticket:'::pg_catalog.text, true::pg_catalog.bool);") in sql
    out = StringIO()
    call_command("sqlmigrate", "testapp", "0002", "--backwards", stdout=out)
    assert "SELECT lockable.disable_versioning('\"testapp_document\"'::pg_catalog.regclass);" in out.getvalue()


def test_no_migrations_are_missing(db):
    call_command("makemigrations", "testapp", "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize("operation, description, fragment", [
    (CreateLockableExtension(), "Creates extension lockable", "create_extension_lockable"),
    (EnableVersioning("Order"), "Enables lockable versioning of Order by version",
     "enable_versioning_order"),
    (EnableLockEnforcement("Order", column="id", required=True),
     "Enables lockable lock enforcement (required) on Order", "enable_lock_enforcement_order"),
])
def test_describe_and_name(operation, description, fragment):
    assert operation.describe() == description
    assert operation.migration_name_fragment == fragment
    assert operation.reversible is True


def test_operations_serialize_into_migration_files():
    text, imports = OperationWriter(EnableLockEnforcement("Order", column="id", required=True)).serialize()
    assert "django_lockable.operations.EnableLockEnforcement(" in text
    assert "model_name='Order'" in text and "column='id'" in text and "required=True" in text
    assert "import django_lockable.operations" in imports
    assert EnableVersioning("Order", column="rev").deconstruct() == (
        "EnableVersioning", ("Order",), {"column": "rev"})


def test_operations_change_no_model_state():
    state = ProjectState()
    for operation in (CreateLockableExtension(), EnableVersioning("Order"), EnableLockEnforcement("Order")):
        operation.state_forwards("shop", state)
    assert state.models == {}


def test_create_extension_as_the_ordinary_role_leaves_the_dbas_extension(db):
    operation = CreateLockableExtension()
    with connection.schema_editor() as editor:
        operation.database_forwards("testapp", editor, ProjectState(), ProjectState())
        operation.database_backwards("testapp", editor, ProjectState(), ProjectState())
    assert extension_version() is not None


@pytest.mark.django_db(databases=["superuser"])
def test_create_extension_as_superuser_drops_and_creates_it():
    """In the superuser's transaction, rolled back at the end of the test."""
    su = connections["superuser"]
    with su.cursor() as cur:  # the triggers depend on the extension
        cur.execute("SELECT lockable.disable_versioning('testapp_document'),"
                    "       lockable.disable_lock_enforcement('testapp_document'),"
                    "       lockable.disable_lock_enforcement('testapp_ticket')")
    operation = CreateLockableExtension()
    assert _db.features("superuser").version == extension_version("superuser")
    with su.schema_editor() as editor:
        operation.database_backwards("testapp", editor, ProjectState(), ProjectState())
    assert extension_version("superuser") is None
    with su.schema_editor() as editor:
        operation.database_forwards("testapp", editor, ProjectState(), ProjectState())
    assert extension_version("superuser") is not None
    assert _db.features("superuser").version == extension_version("superuser")


@pytest.mark.django_db(databases=["superuser"])
def test_an_ordinary_role_cannot_create_the_extension():
    su = connections["superuser"]
    with su.cursor() as cur:
        cur.execute("DROP EXTENSION lockable CASCADE")
        cur.execute("SELECT pg_catalog.set_config('role', %s, true)", [connection.settings_dict["USER"]])
    with pytest.raises(ProgrammingError) as refused:
        with transaction.atomic(using="superuser"), su.schema_editor() as editor:
            CreateLockableExtension().database_forwards("testapp", editor, ProjectState(), ProjectState())
    assert _db.sqlstate(refused.value) == "42501"
    assert "permission denied to create extension" in str(refused.value)
