"""The example site's pages, through Django's test client (no browser)."""
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
