"""Live editing over a websocket: ``LockConsumer``, for Django Channels 4.

Route it behind Channels' session authentication and origin check::

    # asgi.py
    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from django_lockable.channels import LockConsumer

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter([
            path("ws/lock/", LockConsumer.as_asgi()),
        ]))),
    })

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
import json
import logging
from datetime import timedelta
from typing import Any, Dict, Optional

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ImproperlyConfigured

from . import _core
from ._conf import Seconds, as_timedelta
from .live import CLOSE_SERVER_ERROR, CLOSE_UNAUTHENTICATED, LockSession, SocketRequest, error_message

logger = logging.getLogger(__name__)


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
