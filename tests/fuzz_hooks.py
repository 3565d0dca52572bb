"""schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS=tests.fuzz_hooks).

One kind of failure is accepted, and only that one: an upload that the schema allows (any non-empty file)
answered with the documented 400 or 415 because of what the file holds: not an image in an accepted format
(415), undecodable, or an image with no ink (400). What a file shows is not something a JSON schema can
say; everything else the fuzzer finds fails the run.

One check is added to schemathesis' own: no answer carries a stack trace, a file path or a library
version (tests/leaks.py). Where CVAE_FUZZ_ANSWERS names a file, the
status of every error answer so checked is appended to it, one per line, so that a test can count them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import schemathesis

from tests.leaks import leak_in
from tests.robustness import FUZZ_ANSWERS_VARIABLE

UPLOADS = {"/v1/reconstruct", "/v1/encode", "/v1/transfer"}


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a schema-valid upload refused for its file's content (400 or 415)."""
    content_refused = case.operation.path in UPLOADS and response.status_code in (400, 415)
    return not (failure.code == "ST202" and content_refused)


@schemathesis.check
def no_internals_in_answers(ctx: Any, response: Any, case: Any) -> bool | None:
    """A client never reads a stack trace, a server path or a library version, in a header or the body."""
    headers = [(name, value) for name, values in response.headers.items() for value in values]
    leak = leak_in(headers, response.content)
    if leak:
        raise AssertionError(f"the answer shows {leak!r}")
    log = os.environ.get(FUZZ_ANSWERS_VARIABLE)
    if log and response.status_code >= 400:
        with Path(log).open("a") as answers:
            answers.write(f"{response.status_code}\n")
    return None
