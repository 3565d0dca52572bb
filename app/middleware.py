"""ASGI middleware: the access log and request metrics, and the request-body size limit.

Both are plain ASGI rather than Starlette's BaseHTTPMiddleware, so that the limit can stop reading a body
part-way and every response, the limit's 413 included, is logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics

access_logger = logging.getLogger("cvae.access")
# How much of a refused body is still read (and thrown away) so that the client sees its 413, and how long.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 10.0
UNMATCHED_ROUTE = "unmatched"


class AccessLogMiddleware:
    """One log line per request (client, method, path, status, latency) and the same in the metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before starting a response

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            seconds = time.perf_counter() - start
            client = scope.get("client") or ("-", 0)
            access_logger.info(
                '%s "%s %s" %d %.1fms', client[0], scope["method"], scope["path"], status, 1000 * seconds
            )
            # The route's path template (set by the router), so metrics have one series per route, not per
            # URL; requests that reach no route (404s, bodies refused by the size limit) share one series.
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            self.metrics.observe_request(scope["method"], route, status, seconds)


class BodySizeLimitMiddleware:
    """413 for a body over `max_bytes`: decided at once from Content-Length, else as soon as the count passes.

    The body is read here, up to the limit, and replayed to the app, so no part of the app ever sees more
    than the limit whatever the client declares (chunked uploads have no Content-Length). Before the 413 goes
    out, the rest of the body is read and thrown away, up to `drain_bytes` and `drain_seconds`, as nginx's
    lingering close does: Python's http.client (so requests and urllib) sends the whole body before it reads
    an answer, and a server that closes on it mid-body leaves it with "connection reset" instead of the 413.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        drain_bytes: int = DRAIN_BYTES,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_bytes = drain_bytes
        self.drain_seconds = drain_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away; nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(receive, send, more=message.get("more_body", False))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, receive: Receive, send: Send, more: bool = True) -> None:
        if more:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(receive), self.drain_seconds)
        await self._too_large(send)

    async def _drain(self, receive: Receive) -> None:
        """Read and discard the body's rest, up to drain_bytes; past that the connection is closed on it."""
        drained = 0
        while drained <= self.drain_bytes:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            drained += len(message.get("body", b""))

    async def _too_large(self, send: Send) -> None:
        detail = f"request body is larger than the limit of {self.max_bytes} bytes"
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the buffered body once, then waits on the client (for its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
