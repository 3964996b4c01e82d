"""The lock endpoints: ``path("api/", include("django_lockable.urls"))``
serves ``api/lock/<path:uid>/`` (POST locks, DELETE releases) and, with
lockable 1.4, ``take-over/``, ``hand-over/``, ``request/``, ``decline/`` and
``history/`` under it (see ``django_lockable.drf``).  The routes are named
``lockable:lock``, ``lockable:take_over``, ``lockable:hand_over``,
``lockable:request``, ``lockable:decline`` and ``lockable:history``.

The longer routes come first: a uid ending in ``/take-over`` (and the
others) is read as that route's uid.
"""
from django.urls import path

from .drf import DeclineView, HandOverView, HistoryView, LockView, RequestView, TakeOverView

app_name = "lockable"

urlpatterns = [
    path("lock/<path:uid>/take-over/", TakeOverView.as_view(), name="take_over"),
    path("lock/<path:uid>/hand-over/", HandOverView.as_view(), name="hand_over"),
    path("lock/<path:uid>/request/", RequestView.as_view(), name="request"),
    path("lock/<path:uid>/decline/", DeclineView.as_view(), name="decline"),
    path("lock/<path:uid>/history/", HistoryView.as_view(), name="history"),
    path("lock/<path:uid>/", LockView.as_view(), name="lock"),
]
