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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Iterator, List, Optional, TypeVar

import psycopg
import pytest

if TYPE_CHECKING:  # selenium is imported by the browser tests only
    from .browser import Browser, Page, Server

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
EXAMPLE_DIR = os.path.join(PYTHON_DIR, "example")
for path in (EXAMPLE_DIR, PYTHON_DIR):
    if path not in sys.path:
        sys.path.insert(0, path)


# The browser tests need Selenium, which only the cells that run them have
# (python/matrix.toml, part "browser"); elsewhere they are not collected, so
# "-m browser" without Selenium runs nothing and fails.
try:
    import selenium  # noqa: F401
except ImportError:
    collect_ignore = ["test_browser.py", "test_close_codes.py", "test_js_client.py"]


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


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """After every fixture is gone: no browser, chromedriver or Daphne of
    ours may still run.  Any that does is killed, by its pid, and named, and
    the run fails."""
    import signal

    from .processes import descendants

    left = []
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            os.kill(pid, signal.SIGKILL)
            left.append(f"{pid} {command[:80]}")
        except OSError:
            pass
    if left:
        print(f"\nFAIL: processes left running (killed now): {left}")
        session.exitstatus = 1


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
        try:
            cur = self.conn.execute(sql, params)
        except psycopg.OperationalError:
            if not self.conn.broken:
                raise
            self.reconnect()  # the cluster restarted under us
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
def document() -> Any:
    """A document of this test's own, so that no other test's locks touch it."""
    from django.db import connection
    from documents.models import Document

    if connection.connection is not None and not connection.is_usable():
        connection.close()  # a restart of the cluster (test 4) broke it

    return Document.objects.create(title="Meeting notes", body="The original text.\n")


@pytest.fixture
def uid() -> str:
    """A uid no other test uses, for tests that need no document."""
    return f"test:{uuid.uuid4().hex[:16]}"


# ---- the end-to-end tests: Daphne servers and browsers ----

TTL = 6.0
"""The lease of the end-to-end servers (EXAMPLE_LOCK_TTL), in seconds."""
USERS = ("alice", "bob", "carol")


@pytest.fixture(scope="session")
def output(cluster: Cluster) -> str:
    path = os.path.join(cluster.output, "browser")
    os.makedirs(os.path.join(path, "screenshots"), exist_ok=True)
    return path


@pytest.fixture(scope="session")
def servers(cluster: Cluster, output: str) -> Iterator[List["Server"]]:
    """Two processes of the run's ASGI server (LIVE_ASGI_SERVER: Daphne or
    Uvicorn); they share only the database."""
    from .browser import Server, asgi_server, free_port

    started: List[Server] = []
    env = {**cluster.app_environment(), "EXAMPLE_LOCK_TTL": str(TTL)}
    kind = asgi_server()
    try:
        for number in (1, 2):
            port = free_port()
            server = Server(port, os.path.join(output, f"{kind}-{number}.log"), kind)
            started.append(server)
            server.start(env, [EXAMPLE_DIR, PYTHON_DIR])
        yield started
    finally:
        for server in started:
            server.stop()
    # A task that failed unseen (as closing with a code the server refuses
    # once did, under Daphne) shows only in the server's log.
    for server in started:
        with open(server.log_path, errors="replace") as log:
            text = log.read()
        assert "Task exception was never retrieved" not in text, f"{server.log_path}:\n{text[-3000:]}"


class People:
    """alice's, bob's and carol's browsers, started once and logged in; a
    killed one is started again when next asked for."""

    def __init__(self, server: "Server", output: str) -> None:
        self.server = server
        self.output = output
        self.browsers: Dict[str, Browser] = {}
        with ThreadPoolExecutor(len(USERS)) as pool:
            for user, browser in zip(USERS, pool.map(self._start, USERS)):
                self.browsers[user] = browser

    def _start(self, user: str) -> "Browser":
        from .browser import Browser

        browser = Browser(user, self.output)
        browser.login(self.server)
        return browser

    def __getitem__(self, user: str) -> "Browser":
        browser = self.browsers[user]
        if browser.dead:
            browser.quit()
            browser = self.browsers[user] = self._start(user)
        return browser

    def pages(self) -> List["Page"]:
        return [page for browser in self.browsers.values() for page in browser.pages]

    def reset(self) -> None:
        for browser in self.browsers.values():
            browser.close_pages()
            browser.pages.clear()

    def quit(self) -> None:
        for browser in self.browsers.values():
            browser.quit()


@pytest.fixture(scope="session")
def people_pool(servers: List["Server"], output: str) -> Iterator[People]:
    people = People(servers[0], output)
    yield people
    people.quit()


@pytest.fixture
def people(people_pool: People) -> Iterator[People]:
    yield people_pool
    people_pool.reset()


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
