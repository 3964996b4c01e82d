"""python/_build/backend.py: django-lockable's PEP 517 build backend.

It is setuptools' (``setuptools.build_meta``), run on a copy of the sources
in a temporary directory: setuptools writes ``build/`` and
``django_lockable.egg-info/`` next to the sources it builds, and a build of
a checkout must leave nothing in it.  Editable installs are setuptools' own,
in the tree, since they point at it.

Needs what setuptools needs: setuptools 61 or later, and the ``wheel``
package too before setuptools 70.1 (pip's build isolation installs both;
``pip install --no-build-isolation`` wants them installed already).
"""
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

from setuptools import build_meta as _setuptools

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The directory of pyproject.toml."""
_COPIED = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "_build", "django_lockable")
"""What a build reads: the metadata, the build backend, the package."""

ConfigSettings = Optional[Dict[str, Any]]


@contextmanager
def _in_copy() -> Iterator[None]:
    """Run the block in a fresh copy of the sources (the working directory)."""
    with tempfile.TemporaryDirectory(prefix="django-lockable-build-") as scratch:
        copy = os.path.join(scratch, "src")
        os.mkdir(copy)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in _COPIED:
            path = os.path.join(SOURCE, name)
            if os.path.isdir(path):
                shutil.copytree(path, os.path.join(copy, name), ignore=ignore)
            elif os.path.exists(path):
                shutil.copy2(path, copy)
        here = os.getcwd()
        os.chdir(copy)
        try:
            yield
        finally:
            os.chdir(here)


def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> List[str]:
    with _in_copy():
        return _setuptools.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings: ConfigSettings = None) -> List[str]:
    with _in_copy():
        return _setuptools.get_requires_for_build_sdist(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: ConfigSettings = None) -> str:
    metadata_directory = os.path.abspath(metadata_directory)
    with _in_copy():
        return _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(wheel_directory: str, config_settings: ConfigSettings = None,
                metadata_directory: Optional[str] = None) -> str:
    wheel_directory = os.path.abspath(wheel_directory)
    if metadata_directory is not None:
        metadata_directory = os.path.abspath(metadata_directory)
    with _in_copy():
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    sdist_directory = os.path.abspath(sdist_directory)
    with _in_copy():
        return _setuptools.build_sdist(sdist_directory, config_settings)


# Editable installs point at the tree: setuptools' own, where it is.
if hasattr(_setuptools, "build_editable"):
    get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
    prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
    build_editable = _setuptools.build_editable
