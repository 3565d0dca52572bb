"""Client and AsyncClient: the endpoints of `cvae_client.calls` sent over httpx, blocking or awaited.

Each method is the function of `cvae_client.calls` of the same name (same arguments, same docstring), its Call
sent by the client's `send`: the two classes differ only in how they send.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from cvae_client import calls
from cvae_client.calls import Call
from cvae_client.download import PartialFile
from cvae_client.errors import error_from_transport

DEFAULT_URL = "http://127.0.0.1:8000"
# Generous: a CPU service answers a large sample or a min_confidence request in seconds, not milliseconds.
DEFAULT_TIMEOUT_S = 60.0

P = ParamSpec("P")
T = TypeVar("T")


class Endpoint(Generic[P, T]):
    """A function of `cvae_client.calls` as a method: on a Client it returns the answer, on an AsyncClient an
    awaitable of it."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self._build = build
        # What help() and editors show: the function's arguments, without its Call return type.
        self._signature = inspect.signature(build).replace(return_annotation=inspect.Signature.empty)
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, client: Client, owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, client: AsyncClient, owner: type | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: Client | AsyncClient | None, owner: type | None = None) -> Any:
        if client is None:
            return self
        build = self._build

        @functools.wraps(build)
        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client.send(build(*args, **kwargs))

        method.__signature__ = self._signature  # type: ignore[attr-defined]
        return method


def _connection(url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The service's URL and the headers that carry its API key, from the arguments or the environment
    (CVAE_URL, CVAE_API_KEY: the variables the service itself reads)."""
    url = url or os.environ.get("CVAE_URL") or DEFAULT_URL
    key = os.environ.get("CVAE_API_KEY") if api_key is None else api_key
    return url, ({"Authorization": f"Bearer {key}"} if key else {})


class _Endpoints:
    """The API and the connection's settings, shared by both clients; each names the httpx client it sends
    with."""

    _http_class: type[httpx.Client] | type[httpx.AsyncClient]

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url, headers = _connection(url, api_key)
        self._http = self._http_class(base_url=self.url, headers=headers, timeout=timeout)

    sample = Endpoint(calls.sample)
    sample_png = Endpoint(calls.sample_png)
    decode = Endpoint(calls.decode)
    interpolate = Endpoint(calls.interpolate)
    number = Endpoint(calls.number)
    number_png = Endpoint(calls.number_png)
    reconstruct = Endpoint(calls.reconstruct)
    encode = Endpoint(calls.encode)
    transfer = Endpoint(calls.transfer)
    model = Endpoint(calls.model)
    models = Endpoint(calls.models)
    dataset = Endpoint(calls.dataset)


class Client(_Endpoints):
    """A blocking client of the service, keeping its connections open between calls; close it, or use it
    in `with`.

    `url`: None reads $CVAE_URL, else http://127.0.0.1:8000. `api_key`: None reads $CVAE_API_KEY; "" sends
    none. `timeout`: seconds (or an httpx.Timeout) for each of connecting, sending and waiting. Every
    method raises CVAEError when there is no usable answer.
    """

    _http_class = httpx.Client
    _http: httpx.Client

    def send(self, call: Call[T]) -> T:
        """A Call of `cvae_client.calls` sent (what every method does): its answer read, or CVAEError. Always
        streamed, so that a download goes to its file without being held in memory."""
        try:
            with self._http.stream(call.method, call.path, **call.request_options()) as response:
                if call.download is None or response.is_error:
                    response.read()
                else:
                    with PartialFile(call.download(response)) as file:
                        for chunk in response.iter_bytes():
                            file.write(chunk)
                return call.answer(response)
        except httpx.RequestError as error:
            raise error_from_transport(self.url, error) from error

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(_Endpoints):
    """The same as Client, for asyncio: each method returns an awaitable; use it in `async with`, or
    `await aclose()`."""

    _http_class = httpx.AsyncClient
    _http: httpx.AsyncClient

    async def send(self, call: Call[T]) -> T:
        """As Client.send, awaited."""
        try:
            async with self._http.stream(call.method, call.path, **call.request_options()) as response:
                if call.download is None or response.is_error:
                    await response.aread()
                else:
                    with PartialFile(call.download(response)) as file:
                        async for chunk in response.aiter_bytes():
                            file.write(chunk)
                return call.answer(response)
        except httpx.RequestError as error:
            raise error_from_transport(self.url, error) from error

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()
