"""Fixtures: the database, a superuser's hand, users, clients and drivers.

The database exists already with the extension installed (a superuser's
job, done by test/suites/80-django-package.sh); the application's role owns
it and is no superuser.  ``django_db_setup`` migrates it instead of creating
a test database, which an ordinary role could not.
"""
import os
import uuid
from typing import Any, Callable, Iterator, List

import psycopg
import psycopg2
import pytest
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient

POOLED = os.environ.get("LOCKABLE_TEST_POOLED") == "1"
REQUIRE_12 = os.environ.get("LOCKABLE_TEST_REQUIRE_12") == "1"


def app_dsn() -> dict:
    """Connection parameters of the application's role (through PgBouncer when pooled)."""
    return {
        "host": os.environ["LOCKABLE_TEST_HOST"],
        "port": os.environ["LOCKABLE_TEST_PORT"],
        "dbname": os.environ["LOCKABLE_TEST_DB"],
        "user": os.environ["LOCKABLE_TEST_USER"],
    }


def superuser_dsn() -> dict:
    """Connection parameters of a superuser, directly to the cluster."""
    return {
        "host": os.environ.get("PGHOST", ""),
        "port": os.environ.get("PGPORT", ""),
        "dbname": os.environ["LOCKABLE_TEST_DB"],
        "user": os.environ.get("PGUSER", "postgres"),
    }


def _has_waiting_line() -> bool:
    with psycopg2.connect(**superuser_dsn()) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pg_catalog.to_regtype('lockable.lock_status') IS NOT NULL AND EXISTS ("
            " SELECT 1 FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_type AS t"
            "   ON a.attrelid = t.typrelid"
            " WHERE t.oid = pg_catalog.to_regtype('lockable.lock_status') AND a.attname = 'waiters')"
        )
        found = cur.fetchone()[0]
    conn.close()
    return found


HAS_QUEUE = _has_waiting_line()


def pytest_report_header(config: Any) -> List[str]:
    return [
        f"lockable waiting line (1.2): {'yes' if HAS_QUEUE else 'no (1.1)'};"
        f" through PgBouncer: {'yes' if POOLED else 'no'}"
    ]


def pytest_sessionstart(session: Any) -> None:
    if REQUIRE_12 and not HAS_QUEUE:
        pytest.exit("LOCKABLE_TEST_REQUIRE_12=1, but the database has lockable 1.1 (no waiting line)",
                    returncode=1)


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    """Skip what the database cannot run: the 1.2 tests on 1.1 (unless
    LOCKABLE_TEST_REQUIRE_12=1, which makes them fail instead), the 1.1-only
    tests on 1.2, and the PgBouncer-only tests when not pooled."""
    for item in items:
        if item.get_closest_marker("needs_lockable_12") and not HAS_QUEUE and not REQUIRE_12:
            item.add_marker(pytest.mark.skip(reason="needs lockable 1.2 (the waiting line); the database has 1.1"))
        if item.get_closest_marker("only_lockable_11") and HAS_QUEUE:
            item.add_marker(pytest.mark.skip(reason="what lockable 1.1 does without a waiting line"))
        if item.get_closest_marker("pooled_only") and not POOLED:
            item.add_marker(pytest.mark.skip(reason="only through PgBouncer (LOCKABLE_TEST_POOLED=1)"))


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: Any) -> Iterator[None]:
    """Migrate the existing database as the application's role."""
    with django_db_blocker.unblock():
        call_command("migrate", verbosity=0, interactive=False)
    yield
    for connection in connections.all():
        connection.close()


class Superuser:
    """A superuser's autocommit connection to the test database, directly:
    what a DBA or a test harness does beside the application."""

    def __init__(self) -> None:
        self.conn = psycopg2.connect(**superuser_dsn())
        self.conn.autocommit = True

    def run(self, sql: str, params: Any = None) -> List[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def end_lease(self, uid: str) -> None:
        """The committed lease of uid runs out now (as if its holder paused)."""
        self.run("UPDATE lockable.locks SET expires_at = pg_catalog.clock_timestamp()"
                 " - interval '1 second' WHERE uid = %s", [uid])

    def lock_row(self, uid: str) -> Any:
        """The committed row of uid in lockable.locks, or None."""
        rows = self.run("SELECT uid, owner, token FROM lockable.locks WHERE uid = %s", [uid])
        return rows[0] if rows else None


@pytest.fixture
def superuser() -> Iterator[Superuser]:
    su = Superuser()
    yield su
    su.conn.close()


@pytest.fixture
def uid(request: Any) -> str:
    """A uid no other test uses (locks outlive transactional tests)."""
    return f"test:{request.node.name[:40]}:{uuid.uuid4().hex[:12]}"


def _user(django_user_model: Any, name: str, **extra: Any) -> Any:
    return django_user_model.objects.create_user(name, password="lockable", **extra)


@pytest.fixture
def alice(db: None, django_user_model: Any) -> Any:
    return _user(django_user_model, "alice")


@pytest.fixture
def bob(db: None, django_user_model: Any) -> Any:
    return _user(django_user_model, "bob")


@pytest.fixture
def carol(db: None, django_user_model: Any) -> Any:
    return _user(django_user_model, "carol")


@pytest.fixture
def client_of() -> Callable[[Any], APIClient]:
    """An API client logged in (a real session) as the given user."""

    def make(user: Any) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


def _psycopg3_connect() -> Any:
    # PgBouncer in transaction mode (before 1.21) cannot keep prepared
    # statements: psycopg 3 must not prepare through it.
    extra = {"prepare_threshold": None} if POOLED else {}
    return psycopg.connect(**app_dsn(), autocommit=True, **extra)


@pytest.fixture(params=["django", "psycopg2", "psycopg3"])
def using(request: Any) -> Iterator[Any]:
    """Where the low-level functions run: Django's connection (psycopg2), or
    a connection of one's own from either driver (autocommit)."""
    if request.param == "django":
        request.getfixturevalue("db")
        yield "default"
        return
    if request.param == "psycopg2":
        conn = psycopg2.connect(**app_dsn())
        conn.autocommit = True
    else:
        conn = _psycopg3_connect()
    yield conn
    conn.close()


@pytest.fixture
def psycopg3_connection() -> Iterator[Any]:
    conn = _psycopg3_connect()
    yield conn
    conn.close()
