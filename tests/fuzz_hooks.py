"""schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS=tests.fuzz_hooks).

Two kinds of failure are accepted, and only those: an upload that the schema allows (any non-empty file)
answered with the documented 400 or 415 because of what the file holds: not an image in an accepted format
(415), undecodable, or an image with no ink (400); a sample or dataset request with a min_confidence
that the model could not meet within CVAE_MAX_DRAWS draws (the documented 422 at min_confidence); and a
dataset request whose query parameters do not go together (per_class with numbers' options or neither, a
format of the other kind, min_length over max_length, numbers of a model that does not write digits: the
documented 422 that names them); and a request for one class that gives neither label nor digit, or both
with different values (the 422 that names them: the schema cannot say "one of the two" without an anyOf).
What a file shows, what a model can draw, or which query parameters go
together is not something the schema can say; everything else the fuzzer finds fails the run.

One check is added to schemathesis' own: no answer carries a stack trace, a file path or a library
version (tests/leaks.py). Where CVAE_FUZZ_ANSWERS names a file, the
status of every error answer so checked is appended to it, one per line, so that a test can count them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import schemathesis

from tests.leaks import leak_in
from tests.robustness import FUZZ_ANSWERS_VARIABLE

UPLOADS = {"/v1/reconstruct", "/v1/encode", "/v1/transfer", "/v1/read"}
# Where a schema-valid min_confidence can be unmet: a 422 that says "only k of the n images ...".
MIN_CONFIDENCE_PATHS = {"/v1/sample", "/v1/sample.png", "/v1/dataset"}
# The words of /v1/dataset's 422s for parameters that do not go together (app/routes/dataset.py).
DATASET_COMBINATIONS = (
    "for images of each class, not with numbers",
    "only with numbers",
    "give per_class (images of each class) or numbers",
    " comes as ",
    "lengths must be",
    "does not write digits",
    " x max_length must be at most ",
)


def _error(content: bytes) -> dict[str, Any] | None:
    """The one error of a 422's detail; None for any other answer."""
    try:
        (error,) = json.loads(content)["detail"]
    except (ValueError, KeyError, TypeError):
        return None
    return error if isinstance(error, dict) else None


def _unmet_min_confidence(content: bytes) -> bool:
    """The 422 of app/routes/generation.py and dataset.py: fewer than n images (of a class) reached
    min_confidence within the cap."""
    error = _error(content)
    try:
        return error is not None and error["loc"][-1] == "min_confidence" and error["msg"].startswith("only ")
    except (KeyError, TypeError, IndexError):
        return False


def _class_unclear(content: bytes) -> bool:
    """The 422 of app/schemas.py's label_or_digit: no class given, or label and digit that disagree."""
    error = _error(content)
    try:
        return (
            error is not None
            and error["loc"][-1] in ("label", "digit")
            and (error["msg"].startswith("give the class") or " disagree: " in error["msg"])
        )
    except (KeyError, TypeError, IndexError):
        return False


def _parameters_apart(content: bytes) -> bool:
    """The 422 of /v1/dataset for query parameters that do not go together."""
    error = _error(content)
    message = error.get("msg") if error is not None else None
    return isinstance(message, str) and any(words in message for words in DATASET_COMBINATIONS)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a schema-valid upload refused for its file's content (400 or 415), a
    schema-valid sample or dataset request whose min_confidence the model could not meet (422), a
    dataset request whose parameters do not go together (422), or one whose class is missing or given
    twice, differently (422)."""
    content_refused = case.operation.path in UPLOADS and response.status_code in (400, 415)
    unmet = (
        case.operation.path in MIN_CONFIDENCE_PATHS
        and response.status_code == 422
        and _unmet_min_confidence(response.content)
    )
    apart = (
        case.operation.path == "/v1/dataset"
        and response.status_code == 422
        and _parameters_apart(response.content)
    )
    unclear = response.status_code == 422 and _class_unclear(response.content)
    return not (failure.code == "ST202" and (content_refused or unmet or apart or unclear))


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
