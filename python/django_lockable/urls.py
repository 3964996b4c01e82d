"""The lock endpoint: ``path("api/", include("django_lockable.urls"))``
serves ``api/lock/<path:uid>/`` (POST locks, DELETE releases; see
``django_lockable.drf``).  The route is named ``lockable:lock``.
"""
from django.urls import path

from .drf import LockView

app_name = "lockable"

urlpatterns = [
    path("lock/<path:uid>/", LockView.as_view(), name="lock"),
]
