"""The example site's pages, through Django's test client (no browser)."""
import pytest
from django.test import Client

from django_lockable import acquire, owner_for, release


def client_of(user):
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def test_anonymous_users_are_sent_to_the_login_page(document):
    response = Client(HTTP_HOST="127.0.0.1").get(f"/documents/{document.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Client(HTTP_HOST="localhost").get("/accounts/login/").status_code == 200


def test_the_list_shows_who_edits_and_how_many_wait(users, document):
    acquire(document.lock_uid, owner_for(users["alice"]), ttl=30)
    acquire(document.lock_uid, owner_for(users["carol"]), ttl=30, queue=True)
    try:
        page = client_of(users["bob"]).get("/").content.decode()
        row = page[page.index(f'href="/documents/{document.pk}/"'):]
        row = row[:row.index("</tr>")]
        assert "<td>alice</td>" in row and "<td>1</td>" in row
    finally:
        release(document.lock_uid, owner_for(users["carol"]))
        release(document.lock_uid, owner_for(users["alice"]))


def test_the_editor_page_starts_connecting_with_its_uid_and_settings(users, document):
    page = client_of(users["alice"]).get(f"/documents/{document.pk}/?idle=3&warn=2").content.decode()
    assert 'data-lock-state="connecting" data-lock-position=""' in page
    assert f'data-uid="documents.document:{document.pk}"' in page
    assert 'data-idle-timeout="3000"' in page and 'data-warn-before="2000"' in page
    assert 'data-ttl="6000"' in page  # EXAMPLE_LOCK_TTL
    assert "/static/documents/editor.js" in page
    assert 'data-lock-on="open"' in page and 'data-may-take-over="false"' in page
    assert f'data-user-id="{users["alice"].pk}"' in page and 'data-user-name="alice"' in page
    assert 'aria-live="polite"' in page


def test_the_editor_page_opens_to_read_with_lock_on_edit_and_offers_take_over_with_the_permission(
        users, document):
    page = client_of(users["bob"]).get(f"/documents/{document.pk}/?lock_on=edit").content.decode()
    assert 'data-lock-on="edit"' in page and 'data-may-take-over="false"' in page
    # example_setup gives carol django_lockable.take_over_lock
    page = client_of(users["carol"]).get(f"/documents/{document.pk}/?lock_on=other").content.decode()
    assert 'data-lock-on="open"' in page and 'data-may-take-over="true"' in page


# ---- issue 20, item 19: what a hostile user found on the example site ----

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize("spell", [
    lambda pk: str(pk).translate(ARABIC_INDIC),  # str.isdigit() says yes: a phantom lock
    lambda pk: str(pk).translate(FULLWIDTH),
    lambda pk: "0" + str(pk),                    # the same document, under a lock of its own
    lambda pk: "000" + str(pk),
    lambda pk: "+" + str(pk),
    lambda pk: " " + str(pk),
    lambda pk: str(pk) + "\n",
    lambda pk: "²",                              # isdigit() yes, int() no: a 500 and a 1011
    lambda pk: str(pk) + "²",
    lambda pk: "0",
    lambda pk: "-1",
    lambda pk: "",
    lambda pk: "9" * 11,                         # beyond int4
    lambda pk: str(2**31),
], ids=["arabic-indic", "fullwidth", "0-padded", "000-padded", "plus", "space", "newline", "superscript",
        "pk-superscript", "zero", "negative", "empty", "11-digits", "int4-overflow"])
def test_the_lock_permission_takes_only_a_documents_own_uid(document, spell):
    from documents.permissions import may_lock

    assert may_lock(None, f"documents.document:{spell(document.pk)}") is False


def test_the_lock_permission_takes_an_existing_documents_uid(document):
    from documents.permissions import may_lock

    assert may_lock(None, document.lock_uid) is True
    assert may_lock(None, f"documents.document:{2**31 - 1}") is False  # no such document
    assert may_lock(None, f"other.document:{document.pk}") is False


def test_the_rest_lock_endpoint_refuses_a_phantom_uid_without_a_500(users, document):
    client = client_of(users["alice"])
    for suffix in ["²", str(document.pk).translate(ARABIC_INDIC), "0" + str(document.pk)]:
        response = client.post(f"/api/lock/documents.document:{suffix}/")
        assert response.status_code == 403, (suffix, response.status_code)
    response = client.post(f"/api/lock/{document.lock_uid}/")
    assert response.status_code == 200
    client.delete(f"/api/lock/{document.lock_uid}/")


@pytest.mark.parametrize("path", [
    "/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/MQ/set-password/",
    "/accounts/reset/done/", "/accounts/password_change/", "/accounts/password_change/done/",
])
def test_the_password_pages_do_not_fail(users, path):
    for client in (Client(HTTP_HOST="127.0.0.1", raise_request_exception=False), client_of(users["bob"])):
        client.raise_request_exception = False
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
        response = client.post(path, {"email": "bob@example.com"})
        assert response.status_code < 500, (path, response.status_code)


def test_logout_is_a_post_only(users):
    client = client_of(users["carol"])
    response = client.get("/accounts/logout/")
    assert response.status_code == 405
    assert client.get("/").status_code == 200  # still logged in
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302  # logged out


def test_the_editor_page_names_no_user(users, document):
    page = client_of(users["alice"]).get(f"/documents/{document.pk}/").content.decode()
    for name in users:
        if name != "alice":
            assert name not in page, f"the editor page names {name}"
    assert "user-names" not in page


def test_the_holder_endpoint_names_the_holder_only(users, document):
    client = client_of(users["bob"])
    assert client.get(f"/documents/{document.pk}/holder/").json() == {"user_id": None, "name": None}
    acquire(document.lock_uid, owner_for(users["alice"]), ttl=30)
    try:
        # named as the live statuses name her (policy.display_name)
        assert client.get(f"/documents/{document.pk}/holder/").json() == {
            "user_id": users["alice"].pk, "name": "alice"}
    finally:
        release(document.lock_uid, owner_for(users["alice"]))
    assert Client(HTTP_HOST="127.0.0.1").get(f"/documents/{document.pk}/holder/").status_code == 302
    assert client.get("/documents/2147483647/holder/").status_code == 404


# ---- issue 20, item 18: the example's cluster sweeps by itself ----

def test_the_cluster_preloads_lockable_with_its_background_sweeper(superuser, cluster):
    """The cluster is set up as the deployment notes (and make demo-web) say:
    lockable preloaded, its sweeper every minute in this database.  A build of
    lockable without the sweeper drops the settings (a WARNING at start-up):
    then only the preload is checked."""
    (preload,), = superuser.run("SHOW shared_preload_libraries")
    assert "lockable" in [name.strip() for name in preload.split(",")]
    (interval, databases, older_than), = superuser.run(
        "SELECT pg_catalog.current_setting('lockable.sweep_interval', true),"
        "       pg_catalog.current_setting('lockable.sweep_databases', true),"
        "       pg_catalog.current_setting('lockable.sweep_older_than', true)")
    if interval is None:
        pytest.skip("this build of lockable has no background sweeper (lockable.sweep_interval)")
    assert interval == "1min"
    assert cluster.database in [name.strip() for name in databases.split(",")]
    assert older_than in ("1 hour", "1h", "01:00:00", "60min")
    workers = [row[0] for row in superuser.run("SELECT backend_type FROM pg_catalog.pg_stat_activity")]
    assert any(kind.startswith("lockable sweeper") for kind in workers), workers
