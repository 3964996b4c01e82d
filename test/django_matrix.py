#!/usr/bin/python3
"""test/django_matrix.py: the virtualenvs of django-lockable's test matrix.

Reads the one table of the matrix, python/matrix.toml, and makes each
cell's interpreter: a virtualenv built from PyPI with the cell's pins, once,
under

    $LOCKABLE_CACHE/venvs/<sha256 of the interpreter's version and the pins>

(LOCKABLE_CACHE as test/versions/servers.sh reads it: /var/cache/lockable
as root), made under flock on <entry>.lock and used only once its ".built"
marker exists, so that concurrent runs wait for each other and a run killed
half way is made again.  Before a build, one small download asks whether
PyPI can be reached; a "no" is remembered for five minutes
($LOCKABLE_CACHE/pypi-unreachable), so the cells after it skip at once.  The Debian cell is /usr/bin/python3 with Debian's
packages.  Standard library only: it runs with Debian's Python 3.11.

    django_matrix.py cells [PART]      the cells (with PART among their parts)
    django_matrix.py field CELL KEY    one field of a cell (label, driver,
                                       parts, servers), lists space-separated
    django_matrix.py python CELL       the cell's interpreter, made if needed
    django_matrix.py describe CELL     what the interpreter has: Python,
                                       Django, DRF, drivers, Channels, servers
    django_matrix.py wheelhouse        a directory of the build's wheels
                                       ([package] build), downloaded once
    django_matrix.py counts FILE       "passed failed skipped" of a pytest
                                       output (its last summary line)

"python" and "wheelhouse" exit with 77 after a line "skipped: <why>" when
what they need cannot be had (no such interpreter; PyPI unreachable and
nothing cached), and with 1 when a build failed (its log is printed).
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

TOP = Path(__file__).resolve().parent.parent
TABLE = TOP / "python" / "matrix.toml"
SKIP = 77
FORMAT = 1
"""Bump to make every virtualenv again (a change in how they are made)."""

# Every pip call is bounded: a closed network fails in seconds, not minutes.
PIP_OPTIONS = ["--disable-pip-version-check", "--no-input", "--timeout", "30", "--retries", "2"]


class Skip(Exception):
    """What the cell needs cannot be had here; the message says why."""


def table() -> Dict[str, Any]:
    with TABLE.open("rb") as f:
        return tomllib.load(f)


def cell(name: str) -> Dict[str, Any]:
    for found in table()["cell"]:
        if found["name"] == name:
            return found
    raise SystemExit(f"no cell {name!r} in {TABLE}")


def pins(of: Dict[str, Any]) -> List[str]:
    sets = table()["pins"]
    found: List[str] = []
    for name in of.get("pins", []):
        found.extend(sets[name])
    return found


def cache_root() -> Path:
    if os.environ.get("LOCKABLE_CACHE"):
        return Path(os.environ["LOCKABLE_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "lockable"
    if os.getuid() == 0:
        return Path("/var/cache/lockable")
    return Path.home() / ".cache" / "lockable"


def interpreter(version: str) -> Path:
    """The newest interpreter of a minor version: pyenv's, else on PATH."""
    if version == "debian":
        return Path("/usr/bin/python3")
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = []
    if root.is_dir():
        for entry in root.iterdir():
            match = re.fullmatch(re.escape(version) + r"\.(\d+)", entry.name)
            if match and (entry / "bin" / "python").exists():
                candidates.append((int(match[1]), entry / "bin" / "python"))
    if candidates:
        return max(candidates)[1]
    found = shutil.which(f"python{version}")
    if found:
        return Path(found)
    raise Skip(f"no Python {version} (neither pyenv's nor python{version} on PATH)")


def full_version(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sys; print(sys.version.split()[0])"],
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()


@contextmanager
def cache_lock(entry: Path) -> Iterator[None]:
    """The entry's flock, as test/versions/servers.sh's WithCacheLock takes it."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{entry}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


UNREACHABLE_MEMO = 300
"""Seconds for which a failed probe stands: the next cells of the same run
are skipped at once, not after a probe each (a black-holed network makes
each one wait for its timeout)."""


def pypi_reachable(python: Path) -> bool:
    """Can pip reach its index now?  Asked before a build (one download of
    a small wheel, 10 s at most), and remembered for a while when it cannot."""
    memo = cache_root() / "pypi-unreachable"
    try:
        if time.time() - memo.stat().st_mtime < UNREACHABLE_MEMO:
            return False
    except OSError:
        pass
    reachable = _probe(python)
    if reachable:
        memo.unlink(missing_ok=True)
    else:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.touch()
    return reachable


def _probe(python: Path) -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        probe = subprocess.run([str(python), "-m", "pip", "download", "--disable-pip-version-check",
                                "--no-input", "--timeout", "10", "--retries", "0", "--no-cache-dir",
                                "--no-deps", "--quiet", "--dest", scratch, "six==1.16.0"],
                               capture_output=True, text=True, timeout=120)
    return probe.returncode == 0


def run_logged(command: List[str], log: Path, timeout: float) -> bool:
    with log.open("a") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        try:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            out.write(f"timed out after {timeout} s\n")
            return False
    return done.returncode == 0


def build_venv(python: Path, entry: Path, requirements: List[str]) -> None:
    """Make the virtualenv at entry (under its lock), unless it is built."""
    if (entry / ".built").exists():
        return
    if not pypi_reachable(python):
        raise Skip("PyPI cannot be reached, and this cell's virtualenv is not cached")
    shutil.rmtree(entry, ignore_errors=True)
    entry.mkdir(parents=True)
    log = entry / "build.log"
    print(f"== making the virtualenv {entry} (once; log in {log})", file=sys.stderr)
    pip = [str(entry / "bin" / "python"), "-m", "pip", "install", *PIP_OPTIONS, "--no-cache-dir"]
    ok = (run_logged([str(python), "-m", "venv", str(entry)], log, 300)
          and run_logged([*pip, *requirements], log, 900))
    if not ok:
        text = log.read_text(errors="replace")
        reachable = pypi_reachable(python)
        shutil.rmtree(entry, ignore_errors=True)
        if not reachable:
            raise Skip("PyPI cannot be reached, and this cell's virtualenv is not cached")
        sys.stderr.write(text[-4000:])
        raise SystemExit(f"the virtualenv of {requirements} did not build")
    freeze = subprocess.run([str(entry / "bin" / "python"), "-m", "pip", "freeze", "--all"],
                            capture_output=True, text=True, timeout=120)
    (entry / "pip-freeze.txt").write_text(freeze.stdout)
    subprocess.run(["chmod", "-R", "a+rX", str(entry)], check=False)
    (entry / ".built").touch()


def venv_python(name: str) -> Path:
    """The cell's interpreter, its virtualenv made first if need be."""
    of = cell(name)
    python = interpreter(of["python"])
    if of["python"] == "debian":
        return python
    requirements = sorted(pins(of))
    key = json.dumps({"format": FORMAT, "python": full_version(python), "pins": requirements})
    entry = cache_root() / "venvs" / hashlib.sha256(key.encode()).hexdigest()[:16]
    with cache_lock(entry):
        build_venv(python, entry, requirements)
    return entry / "bin" / "python"


def wheelhouse() -> Path:
    """The wheels of [package] build, downloaded once, for offline builds."""
    build = sorted(table()["package"]["build"])
    python = interpreter("3.13")
    key = json.dumps({"format": FORMAT, "wheels": build})
    entry = cache_root() / "wheelhouse" / hashlib.sha256(key.encode()).hexdigest()[:16]
    with cache_lock(entry):
        if not (entry / ".built").exists():
            if not pypi_reachable(python):
                raise Skip("PyPI cannot be reached, and the build's wheels are not cached")
            shutil.rmtree(entry, ignore_errors=True)
            entry.mkdir(parents=True)
            log = entry.with_suffix(".log")
            log.unlink(missing_ok=True)
            if not run_logged([str(python), "-m", "pip", "download", *PIP_OPTIONS, "--no-cache-dir",
                               "--only-binary", ":all:", "--dest", str(entry), *build], log, 600):
                shutil.rmtree(entry, ignore_errors=True)
                if not pypi_reachable(python):
                    raise Skip("PyPI cannot be reached, and the build's wheels are not cached")
                sys.stderr.write(log.read_text(errors="replace")[-4000:])
                raise SystemExit("the build's wheels did not download")
            (entry / ".built").touch()
    return entry


DESCRIBE = r"""
import importlib.metadata as m, sys
def v(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
def first(*names):
    for name in names:
        if v(name):
            return v(name)
parts = [f"Python {sys.version.split()[0]}", f"Django {v('Django') or __import__('django').__version__}"]
for label, names in [("DRF", ("djangorestframework",)), ("psycopg2", ("psycopg2-binary", "psycopg2")),
                     ("psycopg", ("psycopg",)), ("Channels", ("channels",)), ("Daphne", ("daphne",)),
                     ("Uvicorn", ("uvicorn",))]:
    found = first(*names)
    if found:
        parts.append(f"{label} {found}")
print(", ".join(parts))
"""


def describe(name: str) -> str:
    python = venv_python(name)
    return subprocess.run([str(python), "-c", DESCRIBE], check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()


# The plain closing line of a check that is not pytest: "N passed, N failed".
_PLAIN = re.compile(r"(\w+: )?\d+ passed, \d+ failed(, \d+ skipped)?")
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")


def counts(path: str) -> str:
    """passed, failed (errors included) and skipped of pytest's last summary line."""
    summary: Optional[str] = None
    for line in Path(path).read_text(errors="replace").splitlines():
        if re.search(r"\d+ (passed|failed|skipped|errors?)\b", line) and (
                " in " in line or line.startswith("=") or _PLAIN.fullmatch(line.strip())):
            summary = line
    found = {"passed": 0, "failed": 0, "skipped": 0}
    if summary is not None:
        for number, word in _COUNT.findall(summary):
            if word in ("error", "errors"):
                word = "failed"
            if word in found:
                found[word] += int(number)
    return f"{found['passed']} {found['failed']} {found['skipped']}"


def main(argv: List[str]) -> int:
    command, args = argv[1], argv[2:]
    try:
        if command == "cells":
            for found in table()["cell"]:
                if not args or args[0] in found.get("parts", []):
                    print(found["name"])
        elif command == "field":
            value = cell(args[0]).get(args[1], "")
            print(" ".join(value) if isinstance(value, list) else value)
        elif command == "python":
            print(venv_python(args[0]))
        elif command == "describe":
            print(describe(args[0]))
        elif command == "wheelhouse":
            print(wheelhouse())
        elif command == "counts":
            print(counts(args[0]))
        else:
            raise SystemExit(f"unknown command {command!r}")
    except Skip as why:
        print(f"skipped: {why}")
        return SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
