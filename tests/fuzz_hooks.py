"""schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS=tests.fuzz_hooks).

One kind of failure is accepted, and only that one: an upload that the schema allows (any non-empty file)
answered with the documented 400 or 415 because of what the file holds: not an image in an accepted format
(415), undecodable, or an image with no ink (400). What a file shows is not something a JSON schema can
say; everything else the fuzzer finds fails the run.

One check is added to schemathesis' own: no answer carries a stack trace, a file path or a library
version (in the headers, and in any body that is not an image). Where CVAE_FUZZ_ANSWERS names a file, the
status of every error answer so checked is appended to it, one per line, so that a test can count them.
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import schemathesis

from tests.robustness import FUZZ_ANSWERS_VARIABLE

UPLOADS = {"/v1/reconstruct", "/v1/encode", "/v1/transfer"}
_LIBRARIES = ("torch", "fastapi", "starlette", "pydantic", "uvicorn", "numpy", "pillow", "safetensors")


def _internals() -> re.Pattern[str]:
    """What must never reach a client: traces, paths of this machine, versions of what the service runs."""
    paths = {str(Path(__file__).resolve().parents[1]), sys.prefix, sys.base_prefix}
    versions = {f"{name} {metadata.version(name)}" for name in _LIBRARIES}
    versions |= {f"{name}/{metadata.version(name)}" for name in _LIBRARIES}
    versions.add(f"Python/{sys.version.split()[0]}")
    markers = ["Traceback (most recent call last)", 'File "', "site-packages", "dist-packages", ".py:"]
    needles = [*paths, *versions, *markers]
    return re.compile("|".join(re.escape(needle) for needle in needles), re.IGNORECASE)


_INTERNALS = _internals()


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a schema-valid upload refused for its file's content (400 or 415)."""
    content_refused = case.operation.path in UPLOADS and response.status_code in (400, 415)
    return not (failure.code == "ST202" and content_refused)


@schemathesis.check
def no_internals_in_answers(ctx: Any, response: Any, case: Any) -> bool | None:
    """A client never reads a stack trace, a server path or a library version, in a header or the body."""
    headers = "\n".join(f"{name}: {', '.join(values)}" for name, values in response.headers.items())
    # An image's bytes are not text: only its headers are read.
    is_image = any(value.startswith("image/") for value in response.headers.get("content-type", []))
    body = "" if is_image else response.content.decode(errors="replace")
    leak = _INTERNALS.search(headers + "\n" + body)
    if leak:
        raise AssertionError(f"the answer shows {leak.group(0)!r}")
    log = os.environ.get(FUZZ_ANSWERS_VARIABLE)
    if log and response.status_code >= 400:
        with Path(log).open("a") as answers:
            answers.write(f"{response.status_code}\n")
    return None
