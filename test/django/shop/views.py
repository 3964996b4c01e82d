# As in README.md: the writer names itself with SET LOCAL lockable.owner.
from django.db import connection, transaction
from rest_framework.decorators import api_view
from rest_framework.response import Response

from shop.models import Order


@api_view(["PUT"])
def update_order(request, pk):
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL lockable.owner = %s", [f"user:{request.user.pk}"])
            if "token" in request.data:  # the fencing token from lock_acquire
                cur.execute("SET LOCAL lockable.token = %s", [str(request.data["token"])])
        order = Order.objects.get(pk=pk)
        order.status = request.data["status"]
        order.version = request.data["version"]  # checked by version_check
        order.save()                             # checked by enforce_lock
        order.refresh_from_db(fields=["version"])
    return Response({"id": order.pk, "version": order.version})
