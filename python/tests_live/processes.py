"""Processes and ports of the live-editing tests, without Selenium (the
cells without the browser tests use them too): a free loopback port, every
process below one (to find what a test left running), and the ASGI server
processes (Daphne or Uvicorn) that serve the example site."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Dict, List, Optional


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> List[int]:
    """Every process below pid, from /proc."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


SERVERS = ("daphne", "uvicorn")
"""The ASGI servers the end-to-end tests run under."""
# Warnings are errors in the servers too, but Twisted's and Django 3.2's
# own at import (for Debian's packages): Django's RemovedInDjango*Warning
# are DeprecationWarning or PendingDeprecationWarning.
SERVER_WARNINGS = "error::DeprecationWarning,error::PendingDeprecationWarning,ignore:'cgi' is deprecated"


def asgi_server() -> str:
    """The server of this run: ``LIVE_ASGI_SERVER`` (daphne or uvicorn)."""
    name = os.environ.get("LIVE_ASGI_SERVER", "daphne")
    if name not in SERVERS:
        raise RuntimeError(f"LIVE_ASGI_SERVER={name!r}: expected one of {SERVERS}")
    return name


def server_command(name: str, port: int) -> List[str]:
    """The command line of server ``name`` on 127.0.0.1:port, run by this
    interpreter (so with the Django under test)."""
    if name == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "example_site.asgi:application"]
    # No lifespan: Channels' ProtocolTypeRouter has no "lifespan" protocol.
    return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
            "--no-access-log", "example_site.asgi:application"]


@dataclass
class Server:
    """One Daphne or Uvicorn process serving the example site."""

    port: int
    log_path: str
    kind: str = "daphne"
    process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: Dict[str, str], python_path: List[str], timeout: float = 60) -> "Server":
        self._started_with = (env, python_path)
        # The example and the package first, before whatever PYTHONPATH the
        # run has (a Django under test put there, say): never replaced.
        inherited = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
        full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([*python_path, *inherited]),
                    "DJANGO_SETTINGS_MODULE": "example_site.settings", "PYTHONDONTWRITEBYTECODE": "1",
                    "PYTHONWARNINGS": SERVER_WARNINGS}
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            server_command(self.kind, self.port),
            env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} on port {self.port} exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} on port {self.port} not ready in {timeout} s; see {self.log_path}")
            time.sleep(0.1)

    def restart(self, timeout: float = 60) -> "Server":
        """Start it again on its port, as it was started (after stop())."""
        env, python_path = self._started_with
        return self.start(env, python_path, timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
