"""The one exception the client raises, for the service's errors and for the network's."""

from __future__ import annotations

from typing import Any

import httpx

# Enough of a body that is not the service's JSON (a proxy's HTML page) to recognise it, no more.
_TEXT_LIMIT = 200


class CVAEError(Exception):
    """A request that got no answer it could use.

    `status_code` is the HTTP status of the service's error answer (401, 404, 413, 422, 503, ...), or None
    when no answer came at all: the connection was refused or broken, or the timeout passed. `detail` is
    the service's `detail` as it sent it (a string, or FastAPI's list of errors for a 422), or a sentence
    saying what went wrong on the way; str() of the error reads as one line either way.
    """

    def __init__(self, status_code: int | None, detail: str | list[Any]) -> None:
        self.status_code = status_code
        self.detail = detail
        text = readable_detail(detail)
        super().__init__(text if status_code is None else f"HTTP {status_code}: {text}")


def readable_detail(detail: str | list[Any]) -> str:
    """FastAPI's 422 list as `where: what; ...`, e.g. `body.n: Input should be greater than or equal to 1`."""
    if isinstance(detail, str):
        return detail
    return "; ".join(_one_error(error) for error in detail)


def _one_error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = ".".join(str(part) for part in error.get("loc", []))
    message = str(error.get("msg", error))
    return f"{where}: {message}" if where else message


def error_from_response(response: httpx.Response) -> CVAEError:
    """The service's error answer, `{"detail": ...}`, as a CVAEError; another body as its start."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        detail = response.text[:_TEXT_LIMIT].strip() or response.reason_phrase
    if not isinstance(detail, str | list):
        detail = str(detail)
    return CVAEError(response.status_code, detail)


def error_from_transport(url: str, error: httpx.RequestError) -> CVAEError:
    """No answer: refused, reset or timed out. httpx's own message is often empty for timeouts."""
    what = "no answer in time" if isinstance(error, httpx.TimeoutException) else "cannot reach the service"
    reason = str(error) or type(error).__name__
    return CVAEError(None, f"{what} at {url}: {reason}")
