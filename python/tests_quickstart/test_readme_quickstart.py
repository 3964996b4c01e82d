"""python/README.md's "Quick start", run as written, from README.md itself.

The section's code blocks, in order:

- ```sh blocks: every line runs in a shell, in the directory the lines
  before it went to (``cd``), with the interpreter under test first on
  PATH (``python``, ``django-admin``) and libpq's PGHOST, PGPORT and PGUSER
  naming the throwaway cluster's superuser (``createuser``, ``createdb``,
  ``psql``).  Three kinds of line are not run as they stand: ``pip
  install`` (the virtualenv has the packages already; the line must ask
  for the extras the snippets import), ``python manage.py runserver``
  (started in the background, on a free port instead of 8000), and
  ``curl`` (run with the port, and ``-w`` to read the status), whose
  answer is the comment line after it: ``# <status> [<JSON body>]``.
- ```python blocks: the first line names the file, ``# <path>`` (replaced),
  or ``# <path>: add at the end`` (appended).

A body is compared key by key; the values of ``token``, ``acquired_at``
and ``expires_at`` change from run to run, so for them only the type is.
Warnings are errors in every command (PYTHONWARNINGS=error).
"""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

PYTHON_DIR = Path(__file__).resolve().parent.parent
README = PYTHON_DIR / "README.md"
PYTHON = os.environ.get("QUICKSTART_PYTHON", sys.executable)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
VARYING = {"token": int, "acquired_at": TIMESTAMP, "expires_at": TIMESTAMP}
DATABASE = ROLE = "shop"


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def blocks(text: str) -> List[Tuple[str, str]]:
    """(language, body) of each fenced block, in order."""
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[Dict[str, str]]:
    env = {**os.environ,
           "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(PYTHON_DIR),  # the package under test, from the tree
           "PYTHONWARNINGS": "error", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    drop = f"dropdb --if-exists --force {DATABASE} && dropuser --if-exists {ROLE}"
    subprocess.run(drop, shell=True, env=env, check=True, timeout=60)
    yield env
    subprocess.run(drop, shell=True, env=env, check=False, timeout=60)


class Shell:
    """Runs the README's lines, as a user types them."""

    def __init__(self, cwd: Path, env: Dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.server_log = cwd / "runserver.log"
        self.answers: List[Tuple[str, int, str]] = []

    def run(self, line: str, expected: "str | None") -> None:
        words = shlex.split(line)
        if words[0] == "cd":
            self.cwd = self.cwd / words[1]
        elif words[:2] == ["pip", "install"]:
            extras = re.search(r"\[([\w,]+)\]", line)
            assert extras and {"drf", "psycopg"} <= set(extras[1].split(",")), line
        elif words[:3] == ["python", "manage.py", "runserver"]:
            self.start_server(words)
        elif words[0] == "curl":
            self.curl(line, expected)
        else:
            done = subprocess.run(line, shell=True, cwd=self.cwd, env=self.env, capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"

    def start_server(self, words: List[str]) -> None:
        log = self.server_log.open("wb")
        self.server = subprocess.Popen([*words, f"127.0.0.1:{self.port}"], cwd=self.cwd, env=self.env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while True:
            assert self.server.poll() is None, self.server_log.read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers (401 or 403: the router's root wants a user)
            except OSError:
                pass
            assert time.monotonic() < deadline, "runserver did not answer within a minute:\n" + \
                self.server_log.read_text()
            time.sleep(0.1)

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            self.server.wait(20)

    def curl(self, line: str, expected: "str | None") -> None:
        assert expected is not None, f"no '# <status> <body>' line after {line!r}"
        command = line.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}") + " --max-time 30 -w '\\n%{http_code}'"
        done = subprocess.run(command, shell=True, cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        body, _, status = done.stdout.rpartition("\n")
        self.answers.append((line, int(status), body))
        want_status, _, want_body = expected.strip().partition(" ")
        assert int(status) == int(want_status), f"{line}: {status} {body}, the README says {expected}"
        if want_body:
            compare(json.loads(body), json.loads(want_body), line)
        else:
            assert body == "", f"{line}: a body {body!r}, the README shows none"


def compare(got: Dict[str, object], want: Dict[str, object], line: str) -> None:
    assert set(got) == set(want), f"{line}: keys {sorted(got)}, the README shows {sorted(want)}"
    for key, value in want.items():
        kind = VARYING.get(key)
        if kind is int:
            assert isinstance(got[key], int), (line, key, got[key])
        elif kind is not None:
            assert isinstance(got[key], str) and kind.fullmatch(got[key]), (line, key, got[key])
        else:
            assert got[key] == value, f"{line}: {key} is {got[key]!r}, the README shows {value!r}"


def test_the_quick_start_runs_as_written(tmp_path: Path, environment: Dict[str, str]) -> None:
    text = section(README.read_text(), "Quick start")
    found = blocks(text)
    assert [language for language, _ in found].count("python") >= 5, "the snippets were not found"
    shell = Shell(tmp_path, environment)
    try:
        for language, body in found:
            if language == "sh":
                lines = [line for line in body.splitlines() if line.strip()]
                for number, line in enumerate(lines):
                    if line.startswith("#"):
                        continue
                    following = lines[number + 1][1:] if number + 1 < len(lines) and lines[number + 1].startswith(
                        "#") else None
                    shell.run(line, following)
            elif language == "python":
                first, _, code = body.partition("\n")
                match = re.fullmatch(r"# (\S+)(: add at the end)?", first.strip())
                assert match, f"a snippet that names no file: {first!r}"
                path = shell.cwd / match[1]
                assert path.parent.is_dir(), f"{match[1]}: no such directory (a step is missing before it)"
                if match[2]:
                    with path.open("a") as f:
                        f.write("\n" + code)
                else:
                    path.write_text(code)
        statuses = [status for _, status, _ in shell.answers]
        assert statuses == [201, 200, 423, 423, 200, 409, 400, 204], statuses
    finally:
        shell.stop_server()
    log = shell.server_log.read_text()
    assert "Traceback" not in log, log
