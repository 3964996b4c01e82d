"""manage.py lockable_sweep."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from django_lockable import acquire, release

from .drivers import sql


@pytest.fixture
def may_sweep(superuser):
    role = sql.Identifier(connection.settings_dict["USER"])
    superuser.run(sql.SQL("GRANT EXECUTE ON FUNCTION lockable.lock_sweep(interval) TO {}").format(role))
    yield
    superuser.run(sql.SQL("REVOKE EXECUTE ON FUNCTION lockable.lock_sweep(interval) FROM {}").format(role))


def sweep(*args):
    out = StringIO()
    call_command("lockable_sweep", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_sweep_deletes_ended_locks_only(may_sweep, superuser, uid):
    acquire(f"{uid}:ended", "user:7")
    release(f"{uid}:ended", "user:7")
    acquire(f"{uid}:live", "user:7")
    assert sweep("--older-than", "3600").startswith("swept ")
    assert superuser.lock_row(f"{uid}:ended") is not None  # ended just now: kept
    output = sweep()
    assert output.startswith("swept ") and output.endswith(" lock rows\n")
    assert int(output.split()[1]) >= 1
    assert superuser.lock_row(f"{uid}:ended") is None
    assert superuser.lock_row(f"{uid}:live") is not None
    release(f"{uid}:live", "user:7")


@pytest.mark.django_db(transaction=True)
def test_sweep_without_the_privilege_says_how_to_grant_it():
    with pytest.raises(CommandError, match=r"GRANT EXECUTE ON FUNCTION lockable.lock_sweep\(interval\)"):
        sweep()


@pytest.mark.parametrize("older_than", ["-1", "nan"])
def test_a_bad_older_than_is_refused(db, older_than):
    with pytest.raises(CommandError, match="--older-than must be a number of seconds, 0 or more"):
        sweep("--older-than", older_than)


def test_a_non_numeric_older_than_is_refused(db):
    with pytest.raises(CommandError, match="invalid float value"):
        sweep("--older-than", "an hour")
