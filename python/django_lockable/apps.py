"""The app config: what django-lockable hooks into when Django starts."""
from django.apps import AppConfig


class LockableConfig(AppConfig):
    """``django_lockable``: connects ``user_logged_out`` to
    ``django_lockable.live.close_sockets_on_logout``, which tells every
    server to close the live-editing sockets of the session that logs out
    (``LOCKABLE_CLOSE_ON_LOGOUT``)."""

    name = "django_lockable"
    verbose_name = "lockable"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from .live import close_sockets_on_logout

        user_logged_out.connect(close_sockets_on_logout, dispatch_uid="django_lockable.close_sockets_on_logout")
