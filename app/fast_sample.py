"""POST /v1/sample answered without FastAPI's per-request machinery, when the request is one it would accept.

/v1/sample n=1 is the service's busiest request, and on two cores its cost is the event loop's: FastAPI's
route matching, dependency solving, request handler and own middleware took over half of the loop's time
for it, more than the route's own work (benchmarks/serving.py, docs/performance.md). This middleware sits
inside the access log, the body limit and CORS, so those apply as before; it answers a JSON body that the
route would accept through the route's own code (routes/generation.sample_answer) and the same serialiser,
so the bytes are the route's; the route's own refusals (a limit, a class the model lacks, min_confidence
unmet) go to the app's handler, as FastAPI sends them. Anything else (another path, a body the schema
refuses, a wrong API key, a model not loaded, an unknown model) goes on to FastAPI untouched, which answers
it as it always has. tests/test_fast_sample.py holds the two paths to the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from app.dependencies import bearer_token, key_matches
from app.middleware import replay_body
from app.routes.generation import sample, sample_answer
from app.schemas import SampleRequest
from app.settings import Settings

PATH = "/v1/sample"
JSON = b"application/json"


@dataclass(eq=False)
class FastSample:
    """The fast path of POST /v1/sample (module docstring); `state` is the app's, read per request."""

    app: ASGIApp
    state: State
    route: APIRoute
    key: bytes | None  # the API key's digest (dependencies.key_digest); None when the service has none

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        # The whole body in one message: the body limit outside has read all of it, and replays it so.
        body = (await receive()).get("body", b"")
        response = await self._response(scope, body)
        if response is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["route"] = self.route  # the access log's metrics label, as FastAPI's router sets it
        await response(scope, receive, send)

    async def _response(self, scope: Scope, body: bytes) -> Response | None:
        """What the route answers a request it would take; None for any other, which FastAPI then answers."""
        settings: Settings = self.state.settings
        models = self.state.models
        if models is None or _header(scope, b"content-type") != JSON:
            return None
        if self.key is not None:
            token = bearer_token(_header(scope, b"authorization").decode("latin-1") or None)
            if token is None or not key_matches(token, self.key):
                return None
        # As FastAPI reads a JSON body: json.loads, then the model's validation of what it gave; a body it
        # refuses is FastAPI's to answer, in its own words (nothing has been sent yet, nothing counted).
        try:
            request = SampleRequest.model_validate(json.loads(body))
        except Exception:  # json's, pydantic's, a body nested too deep to parse
            return None
        try:
            answer = await sample_answer(request, models, settings, self.state.metrics)
        except RequestValidationError as error:
            # A limit, a class the model lacks, or min_confidence unmet after its draws: answered by the
            # app's own handler, as FastAPI would, without drawing again.
            handler = scope["app"].exception_handlers[RequestValidationError]
            return await handler(Request(scope), error)
        except Exception:  # an unknown model, shutting down, anything else: FastAPI's, as ever
            return None
        return Response(answer.model_dump_json(by_alias=True), media_type="application/json")


def _header(scope: Scope, name: bytes) -> bytes:
    """A request header's first value, as Starlette's Headers.get reads it; b"" when absent."""
    return next((value for key, value in scope["headers"] if key == name), b"")


def sample_route(routes: list[APIRoute]) -> APIRoute:
    """The route of POST /v1/sample among a router's routes."""
    return next(route for route in routes if route.endpoint is sample)
