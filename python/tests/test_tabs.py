"""Browser tabs as owners of their own (issue 22): ``<owner>#<tab>``, which
``parse_user_id``, ``is_same_user``, the uid limit, ``writing_as``,
``take_over_for`` and ``LockEnforcedMixin`` understand; and the
``EnableSaveAnnouncements`` operation."""
import pytest
from django.db import DatabaseError, connection
from django.test import RequestFactory, override_settings

from django_lockable import _core, acquire, owner_for, release
from django_lockable.operations import EnableSaveAnnouncements
from django_lockable.policy import is_same_user, take_over_for

from .testapp.models import Document


def test_a_tab_owner_is_the_owner_and_the_tab():
    assert _core.tab_owner("user:7", "0b6c-x_1") == "user:7#0b6c-x_1"
    assert _core.base_owner("user:7#0b6c-x_1") == "user:7"
    assert _core.base_owner("user:7") == "user:7"
    assert _core.base_owner("tenant#1") == "tenant"  # a suffix of the tab form is taken off


@pytest.mark.parametrize("tab", ["", "x" * 65, "a#b", "a b", "é", None, 7])
def test_a_bad_tab_is_refused(tab):
    assert not _core.valid_tab(tab)
    with pytest.raises(ValueError, match="tab"):
        _core.tab_owner("user:7", tab)


def test_a_tab_owner_longer_than_512_bytes_is_refused():
    with pytest.raises(ValueError, match="512 bytes"):
        _core.tab_owner("o" * 500, "t" * 20)


def test_parse_user_id_takes_the_tab_off(db):
    assert _core.parse_user_id("user:7#0b6c") == 7
    assert _core.parse_user_id("user:7") == 7
    assert _core.parse_user_id("user:x#0b6c") is None
    assert _core.parse_user_id("someone#0b6c") is None


def test_is_same_user_knows_the_users_tabs(alice, bob):
    assert is_same_user(alice, f"{owner_for(alice)}#t1")
    assert not is_same_user(alice, f"{owner_for(bob)}#t1")


@override_settings(LOCKABLE_MAX_UIDS_PER_USER=2)
def test_the_uid_limit_counts_the_users_tabs(alice, uid):
    owner = owner_for(alice)
    acquire(f"{uid}-1", f"{owner}#a")
    acquire(f"{uid}-2", f"{owner}#b")
    refusal = _core.too_many_uids(f"{owner}#c", f"{uid}-3")
    assert refusal is not None and "2 other locks" in refusal
    assert _core.too_many_uids(owner, f"{uid}-3") is not None
    assert _core.too_many_uids(f"{owner}#c", f"{uid}-1") is None  # a renewal is never refused
    release(f"{uid}-1", f"{owner}#a")
    assert _core.too_many_uids(f"{owner}#c", f"{uid}-3") is None


@pytest.mark.django_db(transaction=True)
def test_writing_as_a_tab_writes_under_its_lock(alice, bob):
    doc = Document.objects.create(title="t")
    tab = f"{owner_for(alice)}#t1"
    status = acquire(doc.lock_uid, tab)
    try:
        with _core.writing_as(alice, token=status.token, owner=tab):
            Document.objects.filter(pk=doc.pk).update(title="by the tab")
        with pytest.raises(DatabaseError):  # the user, not the tab, is not the holder
            with _core.writing_as(alice):
                Document.objects.filter(pk=doc.pk).update(title="by the user")
    finally:
        release(doc.lock_uid, tab)
    with pytest.raises(ValueError):
        with _core.writing_as(alice, owner=""):
            pass


@pytest.mark.needs_transfer
def test_take_over_for_as_a_tab_of_the_user(lockable_admin, alice, bob, uid):
    acquire(uid, f"{owner_for(alice)}#first")
    request = RequestFactory().post("/")
    request.user = alice
    status = take_over_for(request, uid, owner=f"{owner_for(alice)}#second")
    assert (status.owner, status.previous_owner) == (f"{owner_for(alice)}#second", f"{owner_for(alice)}#first")
    with pytest.raises(ValueError, match="not an owner of this user"):
        take_over_for(request, uid, owner=f"{owner_for(bob)}#x")


@pytest.mark.django_db(transaction=True)
def test_the_rest_save_is_made_as_the_tab_that_holds_the_lock(alice, bob, client_of):
    doc = Document.objects.create(title="t")
    tab = f"{owner_for(alice)}#t1"
    status = acquire(doc.lock_uid, tab)
    try:
        url = f"/api/documents/{doc.pk}/"
        saved = client_of(alice).put(url, {"title": "x", "body": "", "version": 1}, format="json",
                                     HTTP_LOCKABLE_TOKEN=str(status.token))
        assert saved.status_code == 200, saved.content
        other_grant = client_of(alice).put(url, {"title": "y", "body": "", "version": 2}, format="json",
                                           HTTP_LOCKABLE_TOKEN=str(status.token + 1))
        assert other_grant.status_code == 423
        assert client_of(bob).put(url, {"title": "z", "body": "", "version": 2}, format="json").status_code == 423
    finally:
        release(doc.lock_uid, tab)


def test_enable_save_announcements_describes_itself():
    operation = EnableSaveAnnouncements("Order", version_column=None)
    assert operation.describe() == "Enables lockable save announcements on Order"
    assert operation.migration_name_fragment == "enable_save_announcements_order"
    assert operation.reversible is True
    assert operation.deconstruct() == ("EnableSaveAnnouncements", ("Order",), {"version_column": None})


@pytest.mark.needs_transfer
def test_enable_save_announcements_installs_and_drops_the_trigger(db):
    from django.db.migrations.state import ProjectState

    from .test_operations import triggers

    state = ProjectState.from_apps(__import__("django.apps", fromlist=["apps"]).apps)
    operation = EnableSaveAnnouncements("Document")
    with connection.schema_editor() as editor:
        operation.database_forwards("testapp", editor, state, state)
    assert triggers("testapp_document")["lockable_announce_save"] == "id\\000testapp.document:\\000version\\000"
    with connection.schema_editor() as editor:
        operation.database_backwards("testapp", editor, state, state)
    assert "lockable_announce_save" not in triggers("testapp_document")
