from asgiref.sync import sync_to_async
from django.db import connection
from django.http import JsonResponse
from rest_framework import viewsets
from rest_framework.authentication import BasicAuthentication
from rest_framework.decorators import api_view
from rest_framework.response import Response

from django_lockable import Mutex, ResourceLocked, aowner_of
from django_lockable.drf import LockEnforcedMixin, LockView
from django_lockable.policy import take_over_for

from .models import Document
from .serializers import DocumentSerializer, NaiveDocumentSerializer


class DocumentViewSet(LockEnforcedMixin, viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class NaiveDocumentViewSet(viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = NaiveDocumentSerializer


class BasicAuthLockView(LockView):
    """The lock endpoint behind HTTP Basic authentication (401 when anonymous)."""

    authentication_classes = [BasicAuthentication]


@api_view(["POST"])
def raw_update(request, pk):
    """A write that bypasses the package: raw SQL, no owner, no version."""
    with connection.cursor() as cur:
        cur.execute("UPDATE testapp_document SET title = %s WHERE id = %s", [request.data["title"], pk])
    return Response({"updated": True})


@api_view(["POST"])
def raw_stale_update(request, pk):
    """A raw UPDATE that sends a version: version_check judges it."""
    with connection.cursor() as cur:
        cur.execute("UPDATE testapp_document SET title = %s, version = %s WHERE id = %s",
                    [request.data["title"], request.data["version"], pk])
    return Response({"updated": True})


@api_view(["POST"])
def mutex_lock(request, uid):
    """A view of one's own that locks with Mutex and lets ResourceLocked
    reach the exception handler."""
    status = Mutex(uid, None, request.user, queue=request.query_params.get("queue") == "1").acquire()
    return Response({"token": status.token})


async def _auser(request):
    """The request's user from async code (Django 5.0's request.auser())."""
    if hasattr(request, "auser"):
        return await request.auser()
    return await sync_to_async(lambda: request.user if request.user.is_authenticated else request.user)()


async def mutex_async(request, uid):
    """An async view that holds the lock while it works: ``async with Mutex``."""
    user = await _auser(request)
    if not user.is_authenticated:
        return JsonResponse({"detail": "log in"}, status=401)
    try:
        async with Mutex(uid, None, user) as status:
            holder = await aowner_of(uid)
            return JsonResponse({"token": status.token, "holder_inside": holder})
    except ResourceLocked as exc:
        return JsonResponse({"owner": exc.owner, "user_id": exc.user_id}, status=423)


@api_view(["POST"])
def own_take_over(request, uid):
    """A view of one's own that takes over through the policy and lets its
    errors reach the exception handler (403, 501, 503)."""
    status = take_over_for(request, uid, reason=request.data.get("reason"))
    return Response({"token": status.token})
