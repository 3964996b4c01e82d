"""LockableAdmin: holder and expiry in the change list and form, and the
break-lock action with and without EXECUTE on lockable.lock_break."""
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone
from django.utils.formats import localize

from django_lockable import owner_of
from django_lockable.admin import NO_BREAK_PRIVILEGE

from .drivers import sql
from .testapp.models import Document

CHANGELIST = "/admin/testapp/document/"


@pytest.fixture
def admin_user(db, django_user_model):
    return django_user_model.objects.create_superuser("admin", password="lockable")


@pytest.fixture
def documents(db):
    return [Document.objects.create(title=f"doc {n}") for n in range(3)]


@pytest.fixture
def web(client, admin_user):
    client.force_login(admin_user)
    return client


def break_locks(client, docs):
    return client.post(CHANGELIST, {"action": "break_lock", "_selected_action": [d.pk for d in docs]},
                       follow=True)


@pytest.fixture
def may_break(superuser, db):
    """The application's role gets EXECUTE on lock_break, for one test."""
    role = sql.Identifier(connection.settings_dict["USER"])
    superuser.run(sql.SQL("GRANT EXECUTE ON FUNCTION lockable.lock_break(text) TO {}").format(role))
    yield
    superuser.run(sql.SQL("REVOKE EXECUTE ON FUNCTION lockable.lock_break(text) FROM {}").format(role))


def test_the_change_list_shows_holder_and_expiry(web, documents, alice):
    status = documents[1].lock(alice)
    page = web.get(CHANGELIST)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Lock holder" in text and "Locked until" in text
    assert "<td class=\"field-lock_holder\">alice</td>" in text
    assert localize(timezone.localtime(status.expires_at)) in text
    assert text.count("<td class=\"field-lock_holder\">-</td>") == 2


def test_an_empty_change_list(web, db):
    assert web.get(CHANGELIST).status_code == 200


def test_the_change_list_looks_up_all_locks_in_one_query(web, documents, alice, django_assert_max_num_queries):
    for doc in documents:
        doc.lock(alice)
    web.get(CHANGELIST)  # warm up sessions and content types
    with django_assert_max_num_queries(20) as counted:
        web.get(CHANGELIST)
    lock_queries = [q for q in counted.captured_queries if "lockable" in q["sql"]]
    assert len(lock_queries) == 1


def test_the_change_form_shows_holder_and_expiry(web, documents, alice):
    documents[0].lock(alice)
    text = web.get(f"{CHANGELIST}{documents[0].pk}/change/").content.decode()
    assert "Lock holder" in text and "Locked until" in text
    assert '<div class="readonly">alice</div>' in text


def test_a_holder_that_is_not_a_user_shows_its_owner(web, documents):
    from django_lockable import acquire

    acquire(documents[0].lock_uid, "service:importer")
    assert '<td class="field-lock_holder">service:importer</td>' in web.get(CHANGELIST).content.decode()


def test_breaking_without_execute_on_lock_break_says_so(web, documents, alice):
    documents[0].lock(alice)
    page = break_locks(web, documents[:1])
    messages = [str(m) for m in page.context["messages"]]
    assert messages == [NO_BREAK_PRIVILEGE]
    assert owner_of(documents[0].lock_uid) == f"user:{alice.pk}"


def test_breaking_with_execute_on_lock_break(web, documents, alice, may_break):
    documents[0].lock(alice)
    documents[1].lock(alice)
    page = break_locks(web, documents)
    messages = [str(m) for m in page.context["messages"]]
    assert messages == ["Broke 2 lock(s); 1 of the 3 selected rows had none."]
    assert owner_of(documents[0].lock_uid) is None and owner_of(documents[1].lock_uid) is None


def test_staff_without_change_permission_get_no_break_action(client, django_user_model, documents):
    viewer = django_user_model.objects.create_user("viewer", password="lockable", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_document"))
    client.force_login(viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "break_lock" not in page.content.decode()
    editor = django_user_model.objects.create_user("editor", password="lockable", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="change_document"))
    client.force_login(editor)
    assert "break_lock" in client.get(CHANGELIST).content.decode()


@pytest.mark.without_transfer
def test_the_pages_of_locks_and_history_need_lockable_1_4(web, db):
    from django_lockable.admin import NEEDS_1_4

    for page in ("/admin/django_lockable/lock/", "/admin/django_lockable/lockhistory/"):
        response = web.get(page)
        assert response.status_code == 200
        assert [str(m) for m in response.context["messages"]] == [NEEDS_1_4]
