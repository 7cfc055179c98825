"""uvicorn's httptools protocol, writing each response's head and body in one socket write.

uvicorn writes the status line and headers as soon as the app sends ``http.response.start`` and the
body in a second write: two ``send`` system calls, two TCP segments, and on loopback or a busy host
two wake-ups of the client, per response. On the no-op route the header write alone was about a
seventh of the worker's time (py-spy, two workers under wrk on two cores). Here the head is held
until the next write on the connection, made in the same event-loop step when the app sends its
body right after the start (every JSON endpoint does); a call scheduled for the end of the loop pass
sends it alone otherwise (a streamed response whose first chunk is not ready yet). Nothing else
changes: ``100 Continue``, error answers and closing go out at once, after anything held.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# The heads uvicorn writes for a response (never ``100 Continue``, which the client waits for).
_STATUS_PREFIX = b"HTTP/1.1 "
_CONTINUE = b"HTTP/1.1 100 "
_END_OF_HEAD = b"\r\n\r\n"


class CoalescingTransport:
    """A transport that holds a response head until the body follows it (or the loop pass ends).

    Every other attribute is the wrapped transport's (looked up once per connection, then cached)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
            return
        if _is_head(data):
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._transport, name)
        setattr(self, name, value)
        return value


def _is_head(data: bytes | bytearray | memoryview) -> bool:
    return (isinstance(data, bytes) and data.startswith(_STATUS_PREFIX) and data.endswith(_END_OF_HEAD)
            and not data.startswith(_CONTINUE))


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` over a `CoalescingTransport`; name it as uvicorn's ``http`` setting."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
