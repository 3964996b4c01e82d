"""A small websocket client, without Selenium (every cell with live editing
runs the tests that use it: what crosses servers, which share nothing but
PostgreSQL; the servers are processes.Server).

``WebSocket`` speaks just enough of RFC 6455 for
the lock consumer: the opening handshake with a session cookie and an
``Origin``, masked text frames out, text and close frames in (pings are
answered).  Every wait is bounded.
"""
import asyncio
import base64
import json
import os
import struct
import time
from typing import Any, Callable, Dict, List, Optional


class Closed(Exception):
    """The server closed the socket; ``code`` is its close code."""

    def __init__(self, code: Optional[int]) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class WebSocket:
    """One client socket to ``/ws/lock/`` of a server, as a logged-in page."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port = port
        self.cookie = cookie
        self.received: List[Dict[str, Any]] = []
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None

    async def connect(self, timeout: float = 10) -> "WebSocket":
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        origin = f"http://127.0.0.1:{self.port}"
        writer.write((f"GET /ws/lock/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Origin: {origin}\r\nCookie: {self.cookie}\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            writer.close()
            raise RuntimeError(f"the handshake was refused: {status!r}")
        self._reader, self._writer = reader, writer
        return self

    async def send(self, **message: Any) -> None:
        await self._frame(0x1, json.dumps(message).encode())

    async def _frame(self, opcode: int, payload: bytes) -> None:
        assert self._writer is not None
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        self._writer.write(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await self._writer.drain()

    async def next(self, timeout: float = 10) -> Dict[str, Any]:
        """The next JSON message; raises ``Closed`` when the server closes."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Dict[str, Any]:
        assert self._reader is not None
        while True:
            first, second = await self._reader.readexactly(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self._reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self._reader.readexactly(8))
            payload = await self._reader.readexactly(length)
            if opcode == 0x1:
                message = json.loads(payload)
                self.received.append(message)
                return message
            if opcode == 0x8:
                raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
            if opcode == 0x9:
                await self._frame(0xA, payload)

    async def until(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 10) -> Dict[str, Any]:
        """The first message that satisfies predicate, within timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.next(max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    async def close(self) -> None:
        if self._writer is None:
            return
        try:
            await self._frame(0x8, struct.pack("!H", 1000))
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 5)
        except (TimeoutError, OSError, ConnectionError):
            pass
        self._writer = None
