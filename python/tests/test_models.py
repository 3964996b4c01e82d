"""LockableModel and VersionedModel, against the real triggers."""
import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, OperationalError, connection, transaction

from django_lockable import ResourceLocked, StaleVersion, _db, owner_of, writing_as

from .testapp.models import Document, Draft, Ticket


@pytest.fixture
def document(db):
    return Document.objects.create(title="Minutes")


# --- LockableModel ---------------------------------------------------------


def test_lock_uid_names_app_model_and_pk(document):
    assert document.lock_uid == f"testapp.document:{document.pk}"
    with pytest.raises(ValueError, match="unsaved"):
        _ = Document(title="draft").lock_uid


def test_a_proxy_shares_its_rows_locks(document, alice, bob):
    draft = Draft.objects.get(pk=document.pk)
    assert draft.lock_uid == document.lock_uid
    draft.lock(alice)
    with pytest.raises(DatabaseError) as refused:
        with writing_as(bob):
            Draft.objects.filter(pk=document.pk).update(title="by bob")
    assert _db.sqlstate(refused.value) == "55P03"


def test_lock_unlock_and_status(document, alice, bob):
    assert document.lock_status() is None and document.locked_by is None
    status = document.lock(alice, ttl=timedelta(seconds=90))
    assert (status.granted, status.uid, status.user_id) == (True, document.lock_uid, alice.pk)
    assert status.expires_at - status.acquired_at == timedelta(seconds=90)
    assert document.locked_by == alice.pk
    seen = document.lock_status()
    assert (seen.owner, seen.token, seen.expires_at) == (status.owner, status.token, status.expires_at)
    with pytest.raises(ResourceLocked) as refused:
        document.lock(bob)
    assert refused.value.user_id == alice.pk
    assert document.unlock(bob) is False
    assert document.unlock(alice) is True
    assert document.locked_by is None


# --- VersionedModel --------------------------------------------------------


def test_a_new_row_is_at_version_1(document):
    assert document.version == 1
    document.refresh_from_db()
    assert document.version == 1


def test_save_reads_back_the_version_the_trigger_stored(document):
    document.title = "Minutes, amended"
    document.save()
    assert document.version == 2
    document.save()
    assert document.version == 3  # a second save needs no refresh_from_db
    assert Document.objects.get(pk=document.pk).version == 3


def test_a_stale_save_raises_stale_version_and_writes_nothing(document):
    mine = Document.objects.get(pk=document.pk)
    theirs = Document.objects.get(pk=document.pk)
    theirs.title = "theirs"
    theirs.save()
    mine.title = "mine"
    with pytest.raises(StaleVersion) as stale:
        mine.save()
    error = stale.value
    assert isinstance(error, OperationalError) and isinstance(error, DatabaseError)
    assert (error.pk, error.version, error.current_version) == (document.pk, 1, 2)
    assert _db.sqlstate(error.__cause__) == "40001"
    diag = _db.diagnostics(error.__cause__)  # what version_check reports, and StaleVersion relies on
    assert (diag.schema_name, diag.table_name, diag.column_name) == ("public", "testapp_document", "version")
    assert diag.message_detail == "The row is at version 2; the update was based on version 1."
    assert "was saved by someone else" in str(error)
    assert mine.version == 1  # unchanged: reload and reapply
    row = Document.objects.get(pk=document.pk)
    assert (row.title, row.version) == ("theirs", 2)
    # the connection is usable, and a save from the current version works
    mine.refresh_from_db()
    mine.title = "mine, reapplied"
    mine.save()
    assert mine.version == 3


def test_save_with_update_fields_is_checked_too(document):
    stale = Document.objects.get(pk=document.pk)
    Document.objects.get(pk=document.pk).save()
    stale.title = "only the title"
    with pytest.raises(StaleVersion):
        stale.save(update_fields=["title"])
    fresh = Document.objects.get(pk=document.pk)
    fresh.title = "only the title"
    fresh.save(update_fields=["title"])
    assert fresh.version == 3


def test_bulk_update_bumps_without_checking(document):
    Document.objects.filter(pk=document.pk).update(title="bulk")
    assert Document.objects.get(pk=document.pk).version == 2


def test_stale_version_inside_an_outer_transaction_leaves_it_usable(document):
    stale = Document.objects.get(pk=document.pk)
    with transaction.atomic():
        Document.objects.get(pk=document.pk).save()
        with pytest.raises(StaleVersion):
            stale.save()
        assert Document.objects.get(pk=document.pk).version == 2


def test_other_database_errors_pass_through_unchanged(document):
    document.title = "x" * 201  # over max_length: the database refuses it
    with pytest.raises(DatabaseError) as error:
        document.save()
    assert not isinstance(error.value, StaleVersion)
    assert _db.sqlstate(error.value) == "22001"


# --- Saves racing from threads ------------------------------------------------


def _in_thread(work):
    """Run work in a thread with its own connection; return its result or error."""
    outcome = {}

    def run():
        try:
            outcome["result"] = work()
        except Exception as exc:  # reported to the test
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.django_db(transaction=True)
def test_two_saves_racing_from_the_same_version_one_wins():
    """Both threads read version 1, then both save: exactly one save lands,
    the other gets StaleVersion, whichever order the database sees them in."""
    document = Document.objects.create(title="race")
    read = threading.Barrier(2)

    def editor(name):
        def work():
            mine = Document.objects.get(pk=document.pk)
            read.wait()
            mine.title = name
            mine.save()
            return name
        return work

    runs = [_in_thread(editor(name)) for name in ("first", "second")]
    for thread, _ in runs:
        thread.join()
    outcomes = [outcome for _, outcome in runs]
    winners = [o["result"] for o in outcomes if "result" in o]
    losers = [o["error"] for o in outcomes if "error" in o]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], StaleVersion) and losers[0].current_version == 2
    row = Document.objects.get(pk=document.pk)
    assert (row.title, row.version) == (winners[0], 2)


@pytest.mark.django_db(transaction=True)
def test_many_threads_incrementing_lose_no_update():
    """8 threads each add 1 to a counter 10 times, retrying on StaleVersion:
    the counter ends at exactly 80, and the version counts every save."""
    document = Document.objects.create(title="0")
    threads, per_thread = 8, 10
    start = threading.Barrier(threads)
    stale_counts = []

    def work():
        start.wait()
        stale = 0
        for _ in range(per_thread):
            while True:
                mine = Document.objects.get(pk=document.pk)
                mine.title = str(int(mine.title) + 1)
                try:
                    mine.save()
                    break
                except StaleVersion:
                    stale += 1
        stale_counts.append(stale)

    runs = [_in_thread(work) for _ in range(threads)]
    for thread, outcome in runs:
        thread.join()
        assert "error" not in outcome, outcome.get("error")
    row = Document.objects.get(pk=document.pk)
    assert int(row.title) == threads * per_thread
    assert row.version == 1 + threads * per_thread
    print(f"racing increments: {threads * per_thread} saves, {sum(stale_counts)} StaleVersion retries")


# --- Lock enforcement with a UUID key, mode required ---------------------------


def test_required_mode_with_a_uuid_key(alice, bob):
    ticket = Ticket.objects.create(subject="printer on fire")
    ticket.subject = "printer still on fire"
    with pytest.raises(DatabaseError) as nobody:
        with transaction.atomic():
            ticket.save()
    assert _db.sqlstate(nobody.value) == "55P03"
    assert _db.diagnostics(nobody.value).table_name == "testapp_ticket"
    ticket.lock(alice)
    assert owner_of(f"testapp.ticket:{ticket.pk}") == f"user:{alice.pk}"  # the uid has the UUID's text
    with pytest.raises(DatabaseError) as other:
        with writing_as(bob):
            ticket.save()
    assert _db.sqlstate(other.value) == "55P03"
    with writing_as(alice):
        ticket.save()
    assert Ticket.objects.get(pk=ticket.pk).subject == "printer still on fire"
