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

Client messages: ``{"action": "lock", "uid": ..., "tab": ...}`` joins (an
acquire with ``queue``; ``tab`` makes the owner the browser tab's),
``{"action": "view", "uid": ...}`` is there without a place,
``{"action": "heartbeat", "idle": ...}`` renews the lock, place and
presence, ``{"action": "unlock"}`` gives them up, and ``request``,
``hand_over``, ``decline`` and ``take_over`` move the lock (issue 22).
Server messages: ``{"type": "status", "uid", "state", "owner", "user_id",
"position", "waiters", "expires_at", "token", "reason", "by", "presence",
"presence_count", "idle_after"}`` with ``state`` ``editing``, ``waiting``,
``viewing`` or ``lost``; ``request``, ``declined`` and ``saved``; and
``{"type": "error", "message"}`` for a message it cannot act on (the
connection stays open).  python/README.md has the tables.

Close codes (``django_lockable.live.CLOSE_CODES``; 4xxx, which every ASGI
server sends): 4401 for an anonymous socket, and for one whose session
logged out; 4413 for a message over ``LOCKABLE_MAX_MESSAGE_BYTES``; 4429
for a socket over ``LOCKABLE_MAX_MESSAGES_PER_SECOND`` or beyond
``LOCKABLE_MAX_SOCKETS_PER_USER``; 4500 when ``LOCKABLE_OWNER`` names no
owner, or the consumer failed on a message; 4503 ("try again later") when
the database cannot be reached or a call timed out, with nothing given up,
so that the client reconnects and joins again.  Whatever ends a socket
(those closes, the client's, a failure of the consumer) releases its lock
or leaves the line, but 4503.

The consumer is the socket only; what it does is
``django_lockable.live.LockSession``.  No channel layer is needed: lock
events come from PostgreSQL through ``django_lockable.notifications``.
"""
import asyncio
import io
import json
import logging
from datetime import timedelta
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.utils.http import is_same_domain

from . import _core
from ._conf import Seconds, as_timedelta, lockable_settings
from .live import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_MANY_REQUESTS,
    CLOSE_UNAUTHENTICATED,
    LockSession,
    RateLimit,
    SocketRequest,
    error_message,
    logged_out,
    login_key_of,
    message_too_big,
    too_many_sockets,
)

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
    """One editor's websocket: lock (or view), heartbeat, move and unlock one
    uid at a time.

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
        self.rate: Optional[RateLimit] = None
        # What the session is to answer, in the order the frames came, and
        # the task that answers it: frames are checked against the limits as
        # they arrive, not after the database calls of the ones before.
        self._inbox: asyncio.Queue[Tuple[str, Any]] = asyncio.Queue()
        self._worker: Optional[asyncio.Task[None]] = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The consumer's life: whatever ends it (a close, a failure, a
        cancellation by the server) ends its session, which releases."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._worker is not None:
                self._worker.cancel()
            if self.session is not None and not self.session.ended:
                # Shielded: a second cancellation does not stop the release.
                await asyncio.shield(self.session.end())

    async def connect(self) -> None:
        """Accept; close at once with 4401 for an anonymous user and 4429 for
        a user with ``LOCKABLE_MAX_SOCKETS_PER_USER`` sockets open in this
        process (accepting first, so that the browser sees the code)."""
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
        login = login_key_of(self.scope)
        if logged_out(login):
            # Its logout is under way: Django deletes the session after the
            # signal that sent the notice.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if too_many_sockets(owner):
            logger.info("%s has LOCKABLE_MAX_SOCKETS_PER_USER sockets open: closing another with %d",
                        owner, CLOSE_TOO_MANY_REQUESTS)
            await self.close(code=CLOSE_TOO_MANY_REQUESTS)
            return
        rate = lockable_settings.MAX_MESSAGES_PER_SECOND
        self.rate = None if rate is None else RateLimit(rate)
        self.session = LockSession(owner, send=self.send_json, close=self._close, ttl=self.ttl,
                                   request=SocketRequest(user=user, scope=self.scope), login=login)

    async def receive(self, text_data: Optional[str] = None, bytes_data: Optional[bytes] = None,
                      **kwargs: Any) -> None:
        """Check one frame against the limits as it arrives, decode it, and
        queue it for the session, which answers the frames in order.  A frame
        over ``LOCKABLE_MAX_MESSAGE_BYTES`` closes the socket with 4413, one
        over the rate with 4429 (both release); a frame that is not JSON
        text, or nested too deeply to decode, gets an error message.  If the
        session fails on one, the socket is closed with 4500 and released."""
        session = self.session
        if session is None or session.ended:
            return
        if self.rate is not None and not self.rate.allow():
            await session.close_and_end(CLOSE_TOO_MANY_REQUESTS, "over LOCKABLE_MAX_MESSAGES_PER_SECOND")
            return
        if message_too_big(text_data, bytes_data, lockable_settings.MAX_MESSAGE_BYTES):
            await session.close_and_end(CLOSE_MESSAGE_TOO_BIG, "a message over LOCKABLE_MAX_MESSAGE_BYTES")
            return
        if text_data is None:
            self._answer("error", "malformed frame: send JSON text, not binary")
            return
        try:
            content: Dict[str, Any] = json.loads(text_data)
        except ValueError:
            self._answer("error", "malformed frame: not JSON")
        except RecursionError:
            self._answer("error", "malformed frame: nested too deeply")
        else:
            self._answer("message", content)

    def _answer(self, kind: str, value: Any) -> None:
        self._inbox.put_nowait((kind, value))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())

    async def _work(self) -> None:
        """Answer the queued frames, one at a time, in order."""
        session = self.session
        assert session is not None
        while not self._inbox.empty() and not session.ended:
            kind, value = self._inbox.get_nowait()
            try:
                if kind == "error":
                    await self.send_json(error_message(value))
                else:
                    await session.handle(value)
            except Exception:
                logger.exception("lock session of %s on %r: failed on a message", session.owner, session.uid)
                await session.close_and_end(CLOSE_SERVER_ERROR, "the consumer failed on a message")

    async def disconnect(self, code: int) -> None:
        """Release the lock or leave the line (see ``LockSession.end``)."""
        if self.session is not None:
            await self.session.end()

    async def _close(self, code: int) -> None:
        await self.close(code=code)
