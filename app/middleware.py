"""ASGI middleware: the access log and request metrics, the request body's limits in size and time, and
unknown query parameters refused.

Both are plain ASGI rather than Starlette's BaseHTTPMiddleware, so that the limit can stop reading a body
part-way and every response, the limits' 413 and 408 included, is logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics

access_logger = logging.getLogger("cvae.access")
# How much of a refused body is still read (and thrown away) so that the client sees its 413, and how long.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 10.0
UNMATCHED_ROUTE = "unmatched"


@dataclass(eq=False)
class AccessLogMiddleware:
    """One log line per request (client, method, path, status, latency) and the same in the metrics."""

    app: ASGIApp
    metrics: Metrics

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


@dataclass(frozen=True)
class _Body:
    data: bytes
    more: bool  # whether the client had more to send when reading stopped


@dataclass(eq=False)
class BodyLimitMiddleware:
    """413 for a body over its limit: decided at once from Content-Length, else as soon as the count passes;
    408 for a body not received in full within `timeout_s` of the headers, so that a client trickling a body
    byte by byte cannot hold a connection (and its buffered part of the body) for long.

    Two limits: `max_bytes` for multipart uploads, which the app keeps as bytes, and the far smaller
    `max_json_bytes` for every other body, which the app parses into Python objects: a 7 MB JSON list of
    latent rows becomes some 240 MB of lists and floats before any check of its length can run.

    The body is read here, up to the limit, and replayed to the app, so no part of the app ever sees more
    than the limit whatever the client declares (chunked uploads have no Content-Length). Before the 413 goes
    out, the rest of the body is read and thrown away, up to `drain_bytes` and `drain_seconds`, as nginx's
    lingering close does: Python's http.client (so requests and urllib) sends the whole body before it reads
    an answer, and a server that closes on it mid-body leaves it with "connection reset" instead of the 413.
    """

    app: ASGIApp
    max_bytes: int
    max_json_bytes: int
    timeout_s: float
    drain_bytes: int = DRAIN_BYTES
    drain_seconds: float = DRAIN_SECONDS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = self.max_bytes if multipart else self.max_json_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(receive, send, limit)
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive, limit)
        except TimeoutError:
            await _send_error(send, 408, f"the request body did not arrive within {self.timeout_s:g} s")
            return
        if body is None:  # the client went away; nothing to answer
            return
        if len(body.data) > limit:
            await self._refuse(receive, send, limit, more=body.more)
            return
        await self.app(scope, replay_body(body.data, receive), send)

    async def _read(self, receive: Receive, limit: int) -> _Body | None:
        """The body up to the first chunk past the limit; None if the client disconnects first."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit or not more:
                return _Body(b"".join(chunks), more)

    async def _refuse(self, receive: Receive, send: Send, limit: int, more: bool = True) -> None:
        if more:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(receive), self.drain_seconds)
        await _send_error(send, 413, f"request body is larger than the limit of {limit} bytes")

    async def _drain(self, receive: Receive) -> None:
        """Read and discard the body's rest, up to drain_bytes; past that the connection is closed on it."""
        drained = 0
        while drained <= self.drain_bytes:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            drained += len(message.get("body", b""))


async def _send_error(send: Send, status: int, detail: str) -> None:
    """The service's JSON error, with the connection closed after it: the rest of the body is not read."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the buffered body once, then waits on the client (for its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


@dataclass(eq=False)
class UnknownQueryMiddleware:
    """A query parameter that the route does not take is a 422, as an unknown JSON field is (RequestBody):
    a misspelt option (count=4 for n) fails loudly instead of being ignored. Only a request with a query
    string to a path of `known` pays for the check; the routes' own parameters are FastAPI's to validate."""

    app: ASGIApp
    known: dict[str, frozenset[str]]  # path -> the query parameters its routes take

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        allowed = self.known.get(scope["path"]) if scope["type"] == "http" and scope["query_string"] else None
        if allowed is not None:
            query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            unknown = [(name, value) for name, value in query if name not in allowed]
            if unknown:
                name, value = unknown[0]
                takes = ", ".join(sorted(allowed)) or "none"
                error = {
                    "type": "extra_forbidden",
                    "loc": ["query", name],
                    "msg": f"Extra inputs are not permitted (query parameters here: {takes})",
                    "input": value,
                }
                await JSONResponse({"detail": [error]}, status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def query_parameters(routes: Iterable[object]) -> dict[str, frozenset[str]]:
    """The path of each API route and the query parameters its routes take (their dependencies' included)."""
    known: dict[str, frozenset[str]] = {}
    for route in routes:
        if isinstance(route, APIRoute):
            known[route.path] = known.get(route.path, frozenset()) | _query_names(route.dependant)
    return known


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters of a route's function and of every dependency it has."""
    names = {param.alias for param in dependant.query_params}
    return frozenset(names.union(*(_query_names(inner) for inner in dependant.dependencies)))
