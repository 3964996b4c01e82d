"""writing_as: SET LOCAL lockable.owner / lockable.token, and nothing outlives it."""
import pytest
from django.db import DatabaseError, connection, transaction

from django_lockable import _db, acquire, owner_for, writing_as

from .testapp.models import Document


def current_settings():
    with connection.cursor() as cur:
        cur.execute("SELECT pg_catalog.current_setting('lockable.owner', true),"
                    "       pg_catalog.current_setting('lockable.token', true)")
        return tuple(value or "" for value in cur.fetchone())


@pytest.fixture
def document(db):
    return Document.objects.create(title="Minutes")


def test_only_the_holder_writes_a_locked_row(document, alice, bob):
    document.lock(alice)
    document.title = "by bob"
    with pytest.raises(DatabaseError) as refused:
        with writing_as(bob):
            Document.objects.filter(pk=document.pk).update(title="by bob")
    assert _db.sqlstate(refused.value) == "55P03"
    with pytest.raises(DatabaseError):
        with transaction.atomic():  # nobody: refused too
            Document.objects.filter(pk=document.pk).update(title="by nobody")
    with writing_as(alice) as owner:
        assert owner == owner_for(alice)
        assert current_settings() == (owner, "")
        Document.objects.filter(pk=document.pk).update(title="by alice")
    assert Document.objects.get(pk=document.pk).title == "by alice"


def test_settings_are_put_back_when_the_block_ends(document, alice, bob):
    with transaction.atomic():  # a longer transaction, as with ATOMIC_REQUESTS
        with writing_as(alice, token=12):
            assert current_settings() == (f"user:{alice.pk}", "12")
            with writing_as(bob):
                assert current_settings() == (f"user:{bob.pk}", "")
            assert current_settings() == (f"user:{alice.pk}", "12")
        assert current_settings() == ("", "")
    assert current_settings() == ("", "")


def test_settings_roll_back_with_a_failed_block(alice):
    with transaction.atomic():
        with pytest.raises(RuntimeError):
            with writing_as(alice, token=5):
                raise RuntimeError("the save failed")
        assert current_settings() == ("", "")


def test_writing_as_nobody(document, alice):
    document.lock(alice)
    with transaction.atomic():
        with writing_as(alice):
            with pytest.raises(DatabaseError):
                with writing_as(None):
                    Document.objects.filter(pk=document.pk).update(title="nobody")


@pytest.mark.parametrize("token", ["12", 1.5, True])
def test_a_token_is_an_int(alice, token):
    with pytest.raises(TypeError, match="fencing token is an int"):
        with writing_as(alice, token=token):
            pass


@pytest.mark.django_db(transaction=True)
def test_a_stale_token_is_fenced_off(alice, superuser):
    """Alice pauses past her lease, Bob takes over, and Alice comes back:
    her write with her old token is refused, even after she locks again."""
    document = Document.objects.create(title="Minutes")
    old = document.lock(alice)
    with writing_as(alice, token=old.token):
        Document.objects.filter(pk=document.pk).update(title="under the first grant")
    superuser.end_lease(document.lock_uid)
    renewed = document.lock(alice)  # a fresh grant after expiry: a new token
    assert renewed.token > old.token
    with pytest.raises(DatabaseError) as fenced:
        with writing_as(alice, token=old.token):
            Document.objects.filter(pk=document.pk).update(title="late write")
    assert _db.sqlstate(fenced.value) == "55P03"
    assert Document.objects.get(pk=document.pk).title == "under the first grant"


@pytest.mark.django_db(transaction=True)
def test_writing_as_does_not_leak_into_the_next_request(client_of, django_user_model, cluster):
    """Alice's PUT writes as alice; the next request on the same connection
    (Django reuses it between requests) writes as nobody again."""
    alice = django_user_model.objects.create_user("alice")
    document = Document.objects.create(title="Minutes")
    acquire(document.lock_uid, owner_for(alice))
    with connection.cursor() as cur:
        cur.execute("SELECT pg_catalog.pg_backend_pid()")
        backend = cur.fetchone()[0]
    response = client_of(alice).put(f"/api/documents/{document.pk}/",
                                    {"title": "by alice", "version": 1}, format="json")
    assert response.status_code == 200, response.data
    assert current_settings() == ("", "")
    # a request that bypasses the package, on the same Django connection
    response = client_of(alice).post(f"/raw/{document.pk}/", {"title": "raw"}, format="json")
    assert response.status_code == 423
    assert Document.objects.get(pk=document.pk).title == "by alice"
    with connection.cursor() as cur:
        cur.execute("SELECT pg_catalog.pg_backend_pid()")
        same_backend = cur.fetchone()[0] == backend
    # Directly, it was the same server session throughout; through
    # PgBouncer the session changes, and the check above holds either way.
    assert same_backend or cluster.pooled
