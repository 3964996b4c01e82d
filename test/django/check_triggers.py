"""The README's Django example, run for real against the triggers.

A Django project with one app, "shop", whose model, migrations, view and
DRF exception handler are those of README.md ("Enforcing it in the
database").  It migrates a fresh database as an ordinary role (the
migrations install the triggers through the helpers), then checks the
behaviour a Django developer relies on: 423 for a write to a row locked by
someone else, 409 for a save based on a stale version, the error's
diagnostic fields, bulk QuerySet.update(), SET LOCAL not leaking into the
next request, and a stale fencing token after a takeover.

Environment: PGHOST, PGPORT (the throwaway cluster), LOCKABLE_DJANGO_DB,
LOCKABLE_DJANGO_ROLE (the database and the role Django uses) and PGUSER (a
superuser, for the fixture that ends a lease early).
"""
import os
import sys

import django
from django.conf import settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
urlpatterns = []

settings.configure(
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["LOCKABLE_DJANGO_DB"],
            "USER": os.environ["LOCKABLE_DJANGO_ROLE"],
            "HOST": os.environ["PGHOST"],
            "PORT": os.environ["PGPORT"],
        }
    },
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                    "rest_framework", "shop"],
    REST_FRAMEWORK={"EXCEPTION_HANDLER": "shop.api.exception_handler"},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    ROOT_URLCONF=__name__,
    SECRET_KEY="lockable-test",
    USE_TZ=True,
)
django.setup()

import psycopg2  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DatabaseError, connection, transaction  # noqa: E402
from rest_framework.test import APIRequestFactory, force_authenticate  # noqa: E402

from shop.models import Order  # noqa: E402
from shop.views import update_order  # noqa: E402

passed = 0
failed = 0


def check(what, ok, got=None):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok: {what}")
    else:
        failed += 1
        print(f"FAILED: {what}: got {got!r}")


def put(user_pk, pk, data):
    request = APIRequestFactory().put(f"/orders/{pk}", data, format="json")
    force_authenticate(request, user=User(pk=user_pk, username=f"u{user_pk}"))
    return update_order(request, pk=pk)


def acquire(uid, owner):
    with connection.cursor() as cur:
        cur.execute("SELECT granted, token FROM lockable.lock_acquire(%s, %s, '5 minutes')",
                    [uid, owner])
        return cur.fetchone()


def end_lease(uid):
    """Test fixture, as superuser: the lease of uid runs out now."""
    admin = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                             user=os.environ["PGUSER"], dbname=os.environ["LOCKABLE_DJANGO_DB"])
    with admin, admin.cursor() as cur:
        cur.execute("UPDATE lockable.locks SET expires_at = clock_timestamp() - interval '1 second'"
                    " WHERE uid = %s", [uid])
    admin.close()


# The migrations install both triggers through the helpers.
call_command("migrate", verbosity=0)
with connection.cursor() as cur:
    cur.execute("SELECT array_agg(tgname ORDER BY tgname) FROM pg_trigger"
                " WHERE tgrelid = 'shop_order'::regclass")
    triggers = cur.fetchone()[0]
check("migrations created both triggers",
      triggers == ["lockable_enforce_lock", "lockable_version_check"], triggers)

order = Order.objects.create(status="new")
order.refresh_from_db()
check("a new order is at version 1", order.version == 1, order.version)
uid = f"order:{order.pk}"

# User 7 opens the editor and takes the lock.
granted, token7 = acquire(uid, "user:7")
check("user 7 acquires the order's lock", granted, granted)

response = put(8, order.pk, {"status": "cancelled", "version": 1})
check("user 8's write to the locked order is 423 Locked", response.status_code == 423,
      (response.status_code, response.data))
check("the 423 names the table and the holder",
      response.data.get("detail") == 'row of table "shop_order" is locked by "user:7"',
      response.data)
check("the 423 carries the lock in its detail",
      f'Lock "{uid}" is held until' in (response.data.get("lock") or ""), response.data)

response = put(7, order.pk, {"status": "shipped", "version": 1})
check("the holder's write is 200 OK and bumps the version",
      response.status_code == 200 and response.data["version"] == 2,
      (response.status_code, response.data))

response = put(7, order.pk, {"status": "returned", "version": 1})
check("a save based on version 1 of a version-2 row is 409 Conflict",
      response.status_code == 409 and response.data.get("table") == "shop_order",
      (response.status_code, response.data))
order.refresh_from_db()
check("the refused writes changed nothing", (order.status, order.version) == ("shipped", 2),
      (order.status, order.version))

# The error fields a client can act on.
try:
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL lockable.owner = 'user:7'")
            cur.execute("UPDATE shop_order SET status = 'x', version = 1 WHERE id = %s",
                        [order.pk])
    error = None
except DatabaseError as exc:
    error = exc.__cause__
check("a stale version raises SQLSTATE 40001", getattr(error, "pgcode", None) == "40001", error)
if error is not None:
    diag = error.diag
    check("its diagnostic fields name schema, table and column",
          (diag.schema_name, diag.table_name, diag.column_name) == ("public", "shop_order", "version"),
          (diag.schema_name, diag.table_name, diag.column_name))
    check("its detail gives both versions",
          diag.message_detail == "The row is at version 2; the update was based on version 1.",
          diag.message_detail)

# Bulk updates go through the same triggers.
try:
    Order.objects.filter(pk=order.pk).update(status="bulk")
    error = None
except DatabaseError as exc:
    error = exc.__cause__
check("a bulk update of the locked order without an owner is refused with 55P03",
      getattr(error, "pgcode", None) == "55P03"
      and getattr(getattr(error, "diag", None), "table_name", None) == "shop_order", error)
with transaction.atomic():
    with connection.cursor() as cur:
        cur.execute("SET LOCAL lockable.owner = %s", ["user:7"])
    Order.objects.filter(pk=order.pk).update(status="bulk")
order.refresh_from_db()
check("the holder's bulk update bumps the version once", order.version == 3, order.version)

with connection.cursor() as cur:
    cur.execute("SHOW lockable.owner")
    owner_after = cur.fetchone()[0]
check("SET LOCAL lockable.owner ends with the transaction", owner_after == "", owner_after)

# Fencing: user 7 writes with the token of its grant ...
response = put(7, order.pk, {"status": "packed", "version": 3, "token": token7})
check("a write with the live grant's token is 200 OK", response.status_code == 200,
      (response.status_code, response.data))
# ... is paused past its lease, and user 9 takes over.
end_lease(uid)
granted, token9 = acquire(uid, "user:9")
check("user 9 takes over the expired lock with a higher token",
      granted and token9 > token7, (granted, token9, token7))
response = put(7, order.pk, {"status": "late write", "version": 4, "token": token7})
check("user 7's write with its old token is 423 (stale lock token)",
      response.status_code == 423
      and response.data.get("detail") == 'stale lock token for row of table "shop_order"',
      (response.status_code, response.data))
response = put(9, order.pk, {"status": "delivered", "version": 4, "token": token9})
check("user 9 writes with its own token", response.status_code == 200,
      (response.status_code, response.data))
order.refresh_from_db()
check("the order holds exactly the writes that were allowed",
      (order.status, order.version) == ("delivered", 5), (order.status, order.version))

print(f"django: {passed} checks passed, {failed} failed")
sys.exit(1 if failed else 0)
