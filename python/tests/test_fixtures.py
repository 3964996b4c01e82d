"""dumpdata / loaddata of a versioned, lock-enforced model (django-concurrency
issues #52 and #247, tried on ours).

loaddata saves each object with ``save_base(raw=True)``: an UPDATE of the
row if its pk exists, else an INSERT, and never ``Model.save()``.  So the
database's triggers decide, not the model:

- into an empty table, every object is an INSERT, and ``version_check``
  keeps the explicit version: the rows come back exactly as dumped;
- onto rows unchanged since the dump, each object is an UPDATE that sends
  the version the row has: accepted, and bumped by one like any update
  (clients that read the row before must reload: it was rewritten);
- onto rows changed since the dump, the UPDATE sends an older version:
  refused with 40001, and loaddata (one transaction) loads nothing;
- onto a row someone has locked, ``enforce_lock`` refuses it (55P03)
  unless the load runs as the holder.
"""
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, OperationalError

from django_lockable import _db, writing_as

from .testapp.models import Document


@pytest.fixture
def dumped(db, tmp_path):
    """Two documents at versions 3 and 1, dumped to a fixture file."""
    first = Document.objects.create(title="first", body="one")
    first.save()
    first.save()
    second = Document.objects.create(title="second", body="two")
    out = StringIO()
    call_command("dumpdata", "testapp.document", "--pks", f"{first.pk},{second.pk}", stdout=out)
    path = tmp_path / "documents.json"
    path.write_text(out.getvalue())
    return {"path": str(path), "first": first, "second": second, "data": json.loads(out.getvalue())}


def rows(*pks):
    return {d.pk: (d.title, d.body, d.version) for d in Document.objects.filter(pk__in=pks)}


def test_dumpdata_includes_the_version(dumped):
    versions = {obj["pk"]: obj["fields"]["version"] for obj in dumped["data"]}
    assert versions == {dumped["first"].pk: 3, dumped["second"].pk: 1}


def test_into_an_empty_table_the_rows_come_back_as_dumped(dumped):
    first, second = dumped["first"], dumped["second"]
    Document.objects.all().delete()
    call_command("loaddata", dumped["path"], verbosity=0)
    assert rows(first.pk, second.pk) == {first.pk: ("first", "one", 3), second.pk: ("second", "two", 1)}
    # a client that read version 3 before the dump saves normally
    reader = Document(pk=first.pk, title="edited", body="one", version=3)
    reader.save()
    assert reader.version == 4


def test_onto_unchanged_rows_the_load_is_an_update(dumped):
    first, second = dumped["first"], dumped["second"]
    call_command("loaddata", dumped["path"], verbosity=0)
    assert rows(first.pk, second.pk) == {first.pk: ("first", "one", 4), second.pk: ("second", "two", 2)}


def test_onto_rows_changed_since_the_dump_nothing_is_loaded(dumped):
    first, second = dumped["first"], dumped["second"]
    changed = Document.objects.get(pk=second.pk)
    changed.body = "changed after the dump"
    changed.save()
    with pytest.raises(OperationalError) as refused:
        call_command("loaddata", dumped["path"], verbosity=0)
    assert _db.sqlstate(refused.value) == "40001"
    assert "Problem installing fixture" in str(refused.value)
    assert rows(first.pk, second.pk) == {
        first.pk: ("first", "one", 3), second.pk: ("second", "changed after the dump", 2)}


def test_onto_a_locked_row_only_the_holder_loads(dumped, alice):
    first = dumped["first"]
    first.lock(alice)
    with pytest.raises(DatabaseError) as refused:
        call_command("loaddata", dumped["path"], verbosity=0)
    assert _db.sqlstate(refused.value) == "55P03"
    with writing_as(alice):
        call_command("loaddata", dumped["path"], verbosity=0)
    assert Document.objects.get(pk=first.pk).version == 4
