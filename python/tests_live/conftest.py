"""Fixtures of the live-editing tests: the cluster, the example site's
database, its users and documents, a superuser's hand, Daphne servers and
browsers.

test/suites/85-live-editing.sh starts a throwaway cluster of its own (the
tests restart it), creates the example's database as an ordinary role that
owns it, migrates it and creates the users, then exports:

- LIVE_PGHOST, LIVE_PGPORT: the cluster; LIVE_SUPERUSER: its superuser;
- LIVE_DB, LIVE_ROLE: the example's database and the role it runs as;
- LIVE_PGDATA, LIVE_PG_BINDIR: to stop and start the cluster;
- LIVE_OUTPUT: where screenshots and server logs go.
"""
import asyncio
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, TypeVar

import psycopg
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
EXAMPLE_DIR = os.path.join(PYTHON_DIR, "example")
for path in (EXAMPLE_DIR, PYTHON_DIR):
    if path not in sys.path:
        sys.path.insert(0, path)


@dataclass(frozen=True)
class Cluster:
    """The throwaway cluster, as the suite describes it."""

    host: str
    port: str
    database: str
    role: str
    superuser: str
    data: str
    bindir: str
    output: str

    @classmethod
    def from_environment(cls) -> "Cluster":
        env = os.environ
        return cls(host=env["LIVE_PGHOST"], port=env["LIVE_PGPORT"], database=env["LIVE_DB"],
                   role=env["LIVE_ROLE"], superuser=env.get("LIVE_SUPERUSER", "postgres"),
                   data=env.get("LIVE_PGDATA", ""), bindir=env.get("LIVE_PG_BINDIR", ""),
                   output=env.get("LIVE_OUTPUT", "/tmp"))

    def app_environment(self) -> Dict[str, str]:
        """libpq's environment for the example site (its settings read it)."""
        return {"PGHOST": self.host, "PGPORT": self.port, "PGDATABASE": self.database, "PGUSER": self.role}

    def superuser_conninfo(self, database: Optional[str] = None) -> Dict[str, str]:
        return {"host": self.host, "port": self.port, "dbname": database or self.database,
                "user": self.superuser}

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on the cluster as its OS user."""
        command = [os.path.join(self.bindir, "pg_ctl"), "-D", self.data, *args]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=120)


CLUSTER = Cluster.from_environment()
os.environ.update(CLUSTER.app_environment())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
os.environ.setdefault("EXAMPLE_LOCK_TTL", "6")

import django  # noqa: E402

django.setup()


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    return CLUSTER


class Superuser:
    """A superuser's autocommit connection to the example's database: what a
    DBA, or a forger with a login, does beside the application."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.conn = psycopg.connect(**cluster.superuser_conninfo(), autocommit=True)

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = psycopg.connect(**self.cluster.superuser_conninfo(), autocommit=True)

    def run(self, sql: str, params: Any = None) -> List[tuple]:
        if self.conn.broken or self.conn.closed:
            self.reconnect()
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def holder(self, uid: str) -> Optional[tuple]:
        """(owner, token, expires_at) of uid's live lock, or None."""
        rows = self.run("SELECT owner, token, expires_at FROM lockable.active_locks WHERE uid = %s", [uid])
        return rows[0] if rows else None

    def line(self, uid: str) -> List[str]:
        """The owners in uid's line, in order."""
        return [row[0] for row in self.run(
            "SELECT owner FROM lockable.lock_queue WHERE uid = %s ORDER BY position", [uid])]

    def notify(self, payload: str) -> None:
        self.run("SELECT pg_catalog.pg_notify('lockable', %s)", [payload])

    def now(self) -> Any:
        return self.run("SELECT pg_catalog.clock_timestamp()")[0][0]

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="session")
def superuser(cluster: Cluster) -> Iterator[Superuser]:
    su = Superuser(cluster)
    yield su
    su.close()


@pytest.fixture(scope="session")
def users() -> Dict[str, Any]:
    """The example's users alice, bob and carol (made by example_setup)."""
    from django.contrib.auth import get_user_model

    found = {user.username: user for user in get_user_model().objects.filter(username__in=["alice", "bob", "carol"])}
    assert set(found) == {"alice", "bob", "carol"}, "run manage.py example_setup first"
    return found


@pytest.fixture
def document(request: Any) -> Any:
    """A document of this test's own, so that no other test's locks touch it."""
    from documents.models import Document

    return Document.objects.create(title=f"{request.node.name[:60]}", body="The original text.\n")


@pytest.fixture
def uid() -> str:
    """A uid no other test uses, for tests that need no document."""
    return f"test:{uuid.uuid4().hex[:16]}"


T = TypeVar("T")


def run(coroutine_function: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    """Run an async test body in a fresh event loop (so with a bridge of its
    own), bounded by ``timeout`` seconds."""

    async def bounded() -> T:
        try:
            return await asyncio.wait_for(coroutine_function(), timeout)
        finally:
            await _stop_tasks()

    return asyncio.run(bounded())


async def _stop_tasks() -> None:
    """Stop what the test left running (the bridge, sessions' looks), and
    say so if a task does not stop."""
    from django_lockable.notifications import stop_task

    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    await asyncio.wait_for(asyncio.gather(*(stop_task(task) for task in tasks)), 20)
