"""What a project without DRF, or a settings module, may import."""
import os
import subprocess
import sys
import textwrap

WITHOUT_DRF = textwrap.dedent("""
    import sys
    sys.modules["rest_framework"] = None  # any import of DRF fails
    import django_lockable  # before settings and app loading: no models imported
    status = django_lockable.LockStatus(False, "doc:1", "user:42", None, None, None)
    assert status.user_id == 42  # parsed without a user model to ask
    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django.contrib.admin", "django_lockable"],
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unused"}},
        SECRET_KEY="unused",
    )
    import django
    django.setup()
    import django_lockable.models, django_lockable.operations, django_lockable.admin
    from django.core.management import get_commands
    assert get_commands()["lockable_sweep"] == "django_lockable"
    try:
        import django_lockable.drf
    except ImportError:
        print("ok")
""")


def test_everything_but_the_drf_modules_works_without_drf():
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", WITHOUT_DRF], capture_output=True, text=True, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


# ---- the matrix, the README's support table and pyproject.toml agree ----

def _matrix():
    import tomllib
    from pathlib import Path

    python_dir = Path(__file__).resolve().parent.parent
    with open(python_dir / "matrix.toml", "rb") as f:
        matrix = tomllib.load(f)
    with open(python_dir / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    return python_dir, matrix, project


def _pins(matrix, cell):
    found = {}
    for name in cell.get("pins", []):
        for pin in matrix["pins"][name]:
            package, version = pin.split("==")
            found[package.split("[")[0].lower()] = version
    return found


def test_the_readme_support_table_is_the_matrix():
    import re

    python_dir, matrix, _ = _matrix()
    readme = (python_dir / "README.md").read_text()
    section = readme[readme.index("\n## Supported versions\n"):]
    section = section[:section.index("\n## ", 1)]
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| `")]
    cells = matrix["cell"]
    assert [row[0].strip("`") for row in rows] == [cell["name"] for cell in cells]
    for row, cell in zip(rows, cells):
        name, python, django, drf, driver, live, servers = row[:7]
        if cell["python"] == "debian":
            continue
        pins = _pins(matrix, cell)
        assert python == cell["python"], name
        assert (django, drf) == (pins["django"], pins["djangorestframework"]), name
        package = "psycopg2-binary" if cell["driver"] == "psycopg2" else "psycopg"
        assert driver == f"{cell['driver']} {pins[package]}", name
        if "channels" in pins:
            assert live == f"Channels {pins['channels']}", name
            expected = [f"Daphne {pins['daphne']}"]
            if "uvicorn" in cell.get("servers", []):
                expected.append(f"Uvicorn {pins['uvicorn']}")
            assert servers == ", ".join(expected), name
        else:
            assert (live, servers) == ("(needs psycopg 3)", ""), name
        # the counts of a run: passed / skipped
        assert re.fullmatch(r"\d+ / \d+", row[7]), (name, row[7])


def test_the_classifiers_and_floors_are_the_matrix():
    _, matrix, project = _matrix()
    cells = matrix["cell"]
    djangos = {"3.2"} | {".".join(_pins(matrix, cell)["django"].split(".")[:2]) for cell in cells if "pins" in cell}
    pythons = {"3.11"} | {cell["python"] for cell in cells if cell["python"] != "debian"}
    classifiers = set(project["classifiers"])
    assert {c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith("Framework :: Django :: ")} == djangos
    assert {c.rsplit(" :: ", 1)[1] for c in classifiers
            if c.startswith("Programming Language :: Python :: 3.")} == pythons
    assert project["requires-python"] == f">={min(pythons, key=lambda v: tuple(map(int, v.split('.'))))}"
    extras = project["optional-dependencies"]
    floor = matrix["pins"]["psycopg-floor"][0].split("==")[1]
    floor2 = matrix["pins"]["psycopg2-floor"][0].split("==")[1]
    assert extras["psycopg"] == [f"psycopg>={floor}"]
    assert extras["psycopg2"] == [f"psycopg2>={floor2}"]
    assert f"psycopg>={floor}" in extras["live"]
