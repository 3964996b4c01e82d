"""Live editing over a websocket: ``LockConsumer``, for Django Channels 4.

Route it behind Channels' session authentication and this module's origin
check::

    # asgi.py
    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django_lockable.channels import CsrfOriginValidator, LockConsumer

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": CsrfOriginValidator(AuthMiddlewareStack(URLRouter([
            path("ws/lock/", LockConsumer.as_asgi()),
        ]))),
    })

``CsrfOriginValidator`` lets a socket through only when its ``Origin``
header names the page's own origin or one of ``CSRF_TRUSTED_ORIGINS``,
scheme, host and port alike, as Django's CSRF check does for a POST
(Channels' ``AllowedHostsOriginValidator`` compares host names only, so a
page of any port of an allowed host, or of ``https`` for ``http``, could
open a socket as the logged-in user).

Client messages: ``{"action": "lock", "uid": ...}`` joins (an acquire with
``queue``), ``{"action": "heartbeat"}`` renews the lock or place,
``{"action": "unlock"}`` gives them up.  Server messages: ``{"type":
"status", "uid", "state", "owner", "user_id", "position", "waiters",
"expires_at", "token"}`` with ``state`` ``editing``, ``waiting`` or
``lost``, and ``{"type": "error", "message"}`` for a message it cannot act
on (the connection stays open).

Close codes (``django_lockable.live.CLOSE_CODES``; 4xxx, which every ASGI
server sends): 4401 for an anonymous socket; 4503 ("try again later") when
the database cannot be reached, with nothing given up, so that the client
reconnects and joins again; 4500 when ``LOCKABLE_OWNER`` names no owner.

The consumer is the socket only; what it does is
``django_lockable.live.LockSession``.  No channel layer is needed: lock
events come from PostgreSQL through ``django_lockable.notifications``.
"""
import io
import json
import logging
from datetime import timedelta
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.utils.http import is_same_domain

from . import _core
from ._conf import Seconds, as_timedelta
from .live import CLOSE_SERVER_ERROR, CLOSE_UNAUTHENTICATED, LockSession, SocketRequest, error_message

logger = logging.getLogger(__name__)


# ---- the origin check ----


def _request_of(scope: Dict[str, Any]) -> ASGIRequest:
    """The websocket handshake as a Django request (a GET of the socket's
    path, ``http`` or ``https`` for ``ws`` or ``wss``), so that the host and
    the scheme are judged by Django itself: ``ALLOWED_HOSTS``,
    ``USE_X_FORWARDED_HOST``, ``SECURE_PROXY_SSL_HEADER``."""
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return ASGIRequest({**scope, "type": "http", "method": "GET", "scheme": scheme}, io.BytesIO())


def origin_verified(scope: Dict[str, Any]) -> bool:
    """True if the websocket's ``Origin`` is the page's own origin or a
    trusted one, as Django's CSRF check (``CsrfViewMiddleware``, 4.0 and
    later) judges the ``Origin`` of a POST:

    - the socket's own origin: ``http`` (``https`` for ``wss`` or behind
      ``SECURE_PROXY_SSL_HEADER``), ``://``, and the ``Host`` that
      ``request.get_host()`` accepts (``ALLOWED_HOSTS``), port included;
    - an entry of ``CSRF_TRUSTED_ORIGINS`` exactly (``https://example.com``,
      ``http://localhost:8000``), or, for an entry with a wildcard
      (``https://*.example.com``), any subdomain by the same scheme.

    Scheme, host and port must all match.  A socket without an ``Origin``
    header (no browser sends none) is refused, and so is ``null``.  Entries
    of ``CSRF_TRUSTED_ORIGINS`` without a scheme (Django 3.2's form) match
    nothing.
    """
    request = _request_of(scope)
    origin = request.META.get("HTTP_ORIGIN")
    if not origin:
        return False
    try:
        good_host = request.get_host()
    except DisallowedHost:
        pass
    else:
        if origin == f"{'https' if request.is_secure() else 'http'}://{good_host}":
            return True
    trusted = list(getattr(settings, "CSRF_TRUSTED_ORIGINS", ()))
    if origin in {entry for entry in trusted if "*" not in entry}:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(is_same_domain(parsed.netloc, entry.netloc.lstrip("*"))
               for entry in (urlsplit(text) for text in trusted if "*" in text)
               if entry.scheme == parsed.scheme and parsed.scheme)


class CsrfOriginValidator:
    """ASGI middleware: refuse a websocket whose ``Origin`` is not the page's
    own or trusted (``origin_verified``), at the handshake (the server
    answers 403), before anything else runs; other connections pass.

    ``CsrfOriginValidator(AuthMiddlewareStack(URLRouter([...])))``, in place
    of Channels' ``AllowedHostsOriginValidator``.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_verified(scope):
            logger.info("refused a websocket from origin %r", dict(scope.get("headers", ())).get(b"origin"))
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


class LockConsumer(AsyncJsonWebsocketConsumer):
    """One editor's websocket: lock, heartbeat and unlock one uid at a time.

    The owner is ``owner_for(scope["user"])``, never anything the client
    sends.  ``LockConsumer.as_asgi(ttl=120)`` sets the lease of its locks and
    places (default ``LOCKABLE_TTL``); ``LOCKABLE_LOCK_PERMISSION`` is asked
    with a ``SocketRequest`` (``.user``, ``.scope``) before each ``lock``.
    """

    ttl: Optional[timedelta] = None

    def __init__(self, *args: Any, ttl: Optional[Seconds] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if ttl is not None:
            self.ttl = as_timedelta(ttl, "ttl")
        self.session: Optional[LockSession] = None

    async def connect(self) -> None:
        """Accept; close at once with 4401 for an anonymous user (accepting
        first, so that the browser sees the code)."""
        await self.accept()
        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            owner = await sync_to_async(_core.owner_for, thread_sensitive=False)(user)
        except ImproperlyConfigured:
            logger.exception("LOCKABLE_OWNER gave no owner for user %r", getattr(user, "pk", None))
            await self.close(code=CLOSE_SERVER_ERROR)
            return
        self.session = LockSession(owner, send=self.send_json, close=self._close,
                                   ttl=self.ttl, request=SocketRequest(user=user, scope=self.scope))

    async def receive(self, text_data: Optional[str] = None, bytes_data: Optional[bytes] = None,
                      **kwargs: Any) -> None:
        """Decode one frame and hand it to the session; a frame that is not
        JSON text gets an error message."""
        if self.session is None:
            return
        if text_data is None:
            await self.send_json(error_message("malformed frame: send JSON text, not binary"))
            return
        try:
            content: Dict[str, Any] = json.loads(text_data)
        except ValueError:
            await self.send_json(error_message("malformed frame: not JSON"))
            return
        await self.session.handle(content)

    async def disconnect(self, code: int) -> None:
        """Release the lock or leave the line (see ``LockSession.end``)."""
        if self.session is not None:
            await self.session.end()

    async def _close(self, code: int) -> None:
        await self.close(code=code)
