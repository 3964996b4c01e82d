"""Fixtures: the cluster, the database, a superuser's hand, users, clients
and drivers.

The database exists already with the extension installed (a superuser's
job, done by test/suites/80-django-package.sh); the application's role owns
it and is no superuser.  ``django_db_setup`` migrates it instead of creating
a test database, which an ordinary role could not.
"""
import os
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient

from .drivers import connect, psycopg, psycopg2


@dataclass(frozen=True)
class Cluster:
    """The throwaway cluster the tests run on, as the environment describes it."""

    host: str
    """Where the application's role connects: the cluster, or PgBouncer."""
    port: str
    database: str
    role: str
    """The application's role: owns the database, no superuser."""
    superuser_host: str
    superuser_port: str
    superuser: str
    pooled: bool
    """True through PgBouncer in transaction mode."""
    require_queue: bool
    """True when the tests of the waiting line must run."""
    version: str = ""
    """The database's lockable version (``pg_extension.extversion``)."""
    has_queue: bool = False
    """True when the database's lockable has the waiting line (issue 9):
    ``lockable.lock_status`` has ``waiters``."""
    has_transfer: bool = False
    """True when the database's lockable can move locks on purpose (1.4,
    issue 21): ``lockable.lock_take_over`` exists."""
    has_presence: bool = False
    """True when the database's lockable keeps presence leases (1.4, issue
    22): ``lockable.presence_touch`` exists."""

    @classmethod
    def from_environment(cls) -> "Cluster":
        found = cls(
            host=os.environ["LOCKABLE_TEST_HOST"],
            port=os.environ["LOCKABLE_TEST_PORT"],
            database=os.environ["LOCKABLE_TEST_DB"],
            role=os.environ["LOCKABLE_TEST_USER"],
            superuser_host=os.environ.get("PGHOST", ""),
            superuser_port=os.environ.get("PGPORT", ""),
            superuser=os.environ.get("PGUSER", "postgres"),
            pooled=os.environ.get("LOCKABLE_TEST_POOLED") == "1",
            require_queue=os.environ.get("LOCKABLE_TEST_REQUIRE_QUEUE") == "1",
        )
        version, has_queue, has_transfer, has_presence = found._extension()
        return replace(found, version=version, has_queue=has_queue, has_transfer=has_transfer,
                       has_presence=has_presence)

    def app_dsn(self) -> Dict[str, str]:
        """Connection parameters of the application's role."""
        return {"host": self.host, "port": self.port, "dbname": self.database, "user": self.role}

    def superuser_dsn(self) -> Dict[str, str]:
        """Connection parameters of the superuser, directly to the cluster."""
        return {"host": self.superuser_host, "port": self.superuser_port, "dbname": self.database,
                "user": self.superuser}

    def _extension(self) -> Tuple[str, bool, bool, bool]:
        """The installed lockable's version, whether it has the line,
        whether it can move locks (take over, hand over, the history), and
        whether it keeps presence leases."""
        conn = connect(self.superuser_dsn())
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT (SELECT e.extversion FROM pg_catalog.pg_extension AS e"
                    "         WHERE e.extname = 'lockable'),"
                    "       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a"
                    "                 JOIN pg_catalog.pg_type AS t ON a.attrelid = t.typrelid"
                    "                WHERE t.oid = pg_catalog.to_regtype('lockable.lock_status')"
                    "                  AND a.attname = 'waiters'),"
                    "       pg_catalog.to_regprocedure("
                    "           'lockable.lock_take_over(text, text, interval, text, boolean)') IS NOT NULL,"
                    "       pg_catalog.to_regprocedure("
                    "           'lockable.presence_touch(text, text, interval, boolean)') IS NOT NULL"
                )
                version, has_queue, has_transfer, has_presence = cur.fetchone()
                return version or "(not installed)", has_queue, has_transfer, has_presence
        finally:
            conn.close()


# Read once: collection needs it to decide what to skip.
CLUSTER = Cluster.from_environment()


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The cluster, its roles and what its lockable can do."""
    return CLUSTER


def pytest_report_header(config: Any) -> List[str]:
    from django.db import connection

    return [
        f"lockable {CLUSTER.version}, waiting line: {'yes' if CLUSTER.has_queue else 'no'},"
        f" take over and history: {'yes' if CLUSTER.has_transfer else 'no'};"
        f" through PgBouncer: {'yes' if CLUSTER.pooled else 'no'};"
        f" Django's driver: {connection.Database.__name__} {connection.Database.__version__.split()[0]}"
    ]


def pytest_sessionstart(session: Any) -> None:
    if CLUSTER.require_queue and not CLUSTER.has_queue:
        pytest.exit("LOCKABLE_TEST_REQUIRE_QUEUE=1, but the database's lockable has no waiting line"
                    " (lockable.lock_status has no waiters)", returncode=1)


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    """Skip what the database cannot run: the tests of the waiting line
    without it (with LOCKABLE_TEST_REQUIRE_QUEUE=1 the run stops at its start
    instead), the tests of its absence with it, likewise for take over and
    the history (lockable 1.4), and the PgBouncer-only tests when not
    pooled."""
    for item in items:
        if item.get_closest_marker("needs_waiting_line") and not CLUSTER.has_queue:
            item.add_marker(pytest.mark.skip(
                reason=f"needs the waiting line (lockable 1.2, issue 9); lockable {CLUSTER.version} has none"))
        if item.get_closest_marker("without_waiting_line") and CLUSTER.has_queue:
            item.add_marker(pytest.mark.skip(reason="what the package does without the waiting line"))
        if item.get_closest_marker("needs_transfer") and not CLUSTER.has_transfer:
            item.add_marker(pytest.mark.skip(
                reason=f"needs take over and the history (lockable 1.4, issue 21); lockable {CLUSTER.version}"
                       " has none"))
        if item.get_closest_marker("without_transfer") and CLUSTER.has_transfer:
            item.add_marker(pytest.mark.skip(reason="what the package does before lockable 1.4"))
        if item.get_closest_marker("pooled_only") and not CLUSTER.pooled:
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

    def __init__(self, cluster: Cluster) -> None:
        self.conn = connect(cluster.superuser_dsn())

    def run(self, sql: Any, params: Any = None) -> List[tuple]:
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
def lockable_admin(superuser: Superuser, db: None) -> Iterator[None]:
    """The application's role is granted lockable_admin (take over, the
    history, break, sweep) for one test, as a DBA would grant it; revoked
    after.  Without this fixture the role has lockable_user only."""
    from .drivers import sql

    role = sql.Identifier(connections["default"].settings_dict["USER"])
    superuser.run(sql.SQL("GRANT lockable_admin TO {}").format(role))
    # The test's transaction may have begun before the grant: reading a
    # view of lockable's takes a lock, and so sees the new membership.
    with connections["default"].cursor() as cur:
        cur.execute("SELECT FROM lockable.lock_history LIMIT 0")
    yield
    superuser.run(sql.SQL("REVOKE lockable_admin FROM {}").format(role))


@pytest.fixture
def superuser(cluster: Cluster) -> Iterator[Superuser]:
    """The superuser's hand: committed at once, outside the test's transaction."""
    su = Superuser(cluster)
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


def _psycopg2_connect(cluster: Cluster) -> Any:
    assert psycopg2 is not None
    conn = psycopg2.connect(**cluster.app_dsn())
    conn.autocommit = True
    return conn


def _psycopg3_connect(cluster: Cluster) -> Any:
    # PgBouncer in transaction mode (before 1.21) cannot keep prepared
    # statements: psycopg 3 must not prepare through it.
    extra = {"prepare_threshold": None} if cluster.pooled else {}
    assert psycopg is not None
    return psycopg.connect(**cluster.app_dsn(), autocommit=True, **extra)


@pytest.fixture(params=["django", "psycopg2", "psycopg3"])
def using(request: Any, cluster: Cluster) -> Iterator[Any]:
    """Where the low-level functions run, as the application's role: Django's
    connection (psycopg2, or psycopg 3 from Django 4.2 when it is installed),
    or a connection of one's own from either driver (autocommit); a driver
    this interpreter lacks is skipped."""
    if request.param == "django":
        request.getfixturevalue("db")
        yield "default"
        return
    if (psycopg2 if request.param == "psycopg2" else psycopg) is None:
        pytest.skip(f"{request.param} is not installed in this cell")
    conn = _psycopg2_connect(cluster) if request.param == "psycopg2" else _psycopg3_connect(cluster)
    yield conn
    conn.close()


@pytest.fixture
def psycopg3_connection(cluster: Cluster) -> Iterator[Any]:
    """A psycopg 3 connection of the application's role (autocommit)."""
    if psycopg is None:
        pytest.skip("psycopg 3 is not installed in this cell")
    conn = _psycopg3_connect(cluster)
    yield conn
    conn.close()
