"""uvicorn's HTTP protocol with a deadline for a request's headers and a lingering close.

uvicorn times out a connection only while it is idle between two requests (its keep-alive timeout): a client
that connects and sends nothing, or its headers a byte at a time, holds its socket for as long as it likes,
and a few thousand such clients use up the process's file descriptors (the slowloris attack). Here the
clock starts when the connection opens, and again when a request's first byte arrives after a keep-alive
pause; a request whose headers are not complete when it runs out gets a 408 and the connection is closed.

Closing a socket that still holds bytes the client sent makes the kernel answer with a reset, and a client
that receives it may lose the answer it was sent just before (the 408 to a slow client, or the one a
refused body got). So a connection closed in the middle of a request is closed the way nginx's lingering
close does it: the answer goes out with a FIN, what the client still sends is read and dropped, and the
socket closes when the client closes its end or after `LINGER_S`.
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LINGER_S = 5.0


class _LingeringTransport:
    """The socket's transport, whose close() the protocol decides: at once, or lingering."""

    def __init__(self, transport: asyncio.Transport, protocol: HeaderDeadlineProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        self._protocol.close_connection()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that closes a connection whose request headers take over `header_timeout_s`,
    and lingers when it closes a connection whose request has not arrived in full."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.lingering = False
        self._mid_request = False
        self._socket: asyncio.Transport | None = None
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._socket = transport
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.lingering:
            super().data_received(data)

    def on_message_begin(self) -> None:
        self._mid_request = True
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._mid_request = False
        super().on_message_complete()

    def close_connection(self) -> None:
        """Close now if the client has nothing left to send; else FIN, and drop its bytes until it closes."""
        socket = self._socket
        if socket is None or self.lingering or socket.is_closing():
            return
        if not self._mid_request or not socket.can_write_eof():
            socket.close()
            return
        self.lingering = True
        socket.write_eof()
        self.loop.call_later(LINGER_S, socket.close)

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        detail = f"the request headers did not arrive within {self.header_timeout_s:g} s"
        body = json.dumps({"detail": detail}).encode()
        head = (
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def http_protocol(header_timeout_s: float) -> partial[HeaderDeadlineProtocol]:
    """What uvicorn's `http` option takes: a picklable factory, so that `--workers N` can use it too."""
    return partial(HeaderDeadlineProtocol, header_timeout_s=header_timeout_s)
