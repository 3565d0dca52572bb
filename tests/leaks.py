"""What must never reach a client: a stack trace, a path of the server's machine, a version of what it runs.

Checked on every answer by the fuzzer (tests/fuzz_hooks.py) and the soak (tests/soak.py).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

_LIBRARIES = ("torch", "fastapi", "starlette", "pydantic", "uvicorn", "numpy", "pillow", "safetensors")


def _internals() -> re.Pattern[str]:
    paths = {str(Path(__file__).resolve().parents[1]), sys.prefix, sys.base_prefix}
    versions = {f"{name}{sep}{metadata.version(name)}" for name in _LIBRARIES for sep in (" ", "/")}
    versions.add(f"Python/{sys.version.split()[0]}")
    markers = ["Traceback (most recent call last)", 'File "', "site-packages", "dist-packages", ".py:"]
    return re.compile("|".join(re.escape(needle) for needle in [*paths, *versions, *markers]), re.IGNORECASE)


_INTERNALS = _internals()


# Answers whose body is text a client reads: where a stack trace or a path would show. A binary body (a PNG,
# a dataset's npz or zip) is checked by its header alone: its bytes can spell ".py:" by chance.
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/problem+json",
    "application/xml",
    "application/javascript",
)


def _is_text(content_type: str | None) -> bool:
    """Whether a body of this Content-Type is text; a body without one is treated as text."""
    return content_type is None or content_type.lower().startswith(_TEXT_TYPES)


def leak_in(headers: Iterable[tuple[str, str]], body: bytes) -> str | None:
    """The first internal found in the headers or, for a text answer (JSON, HTML, plain text), the body;
    else None."""
    pairs = list(headers)
    text = "\n".join(f"{name}: {value}" for name, value in pairs)
    content_type = next((value for name, value in pairs if name.lower() == "content-type"), None)
    if _is_text(content_type):
        text += "\n" + body.decode(errors="replace")
    found = _INTERNALS.search(text)
    return found.group(0) if found else None
