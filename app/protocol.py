"""uvicorn's HTTP protocol with a deadline for a request's headers.

uvicorn times out a connection only while it is idle between two requests (its keep-alive timeout): a client
that connects and sends nothing, or its headers a byte at a time, holds its socket for as long as it likes,
and a few thousand such clients use up the process's file descriptors (the slowloris attack). Here the
clock starts when the connection opens, and again when a request's first byte arrives after a keep-alive
pause; a request whose headers are not complete when it runs out gets a 408 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that closes a connection whose request headers take over `header_timeout_s`."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

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
