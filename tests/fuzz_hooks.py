"""schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS=tests.fuzz_hooks).

One kind of failure is accepted, and only that one: an upload that the schema allows (any non-empty file)
answered with the documented 400 or 415 because of what the file holds: not an image in an accepted format
(415), undecodable, or an image with no ink (400). What a file shows is not something a JSON schema can
say; everything else the fuzzer finds fails the run.
"""

from __future__ import annotations

from typing import Any

import schemathesis

UPLOADS = {"/v1/reconstruct", "/v1/encode", "/v1/transfer"}


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a schema-valid upload refused for its file's content (400 or 415)."""
    content_refused = case.operation.path in UPLOADS and response.status_code in (400, 415)
    return not (failure.code == "ST202" and content_refused)
