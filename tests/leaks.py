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


def leak_in(headers: Iterable[tuple[str, str]], body: bytes) -> str | None:
    """The first internal found in the headers or, unless the answer is an image, the body; else None."""
    pairs = list(headers)
    text = "\n".join(f"{name}: {value}" for name, value in pairs)
    is_image = any(name.lower() == "content-type" and value.startswith("image/") for name, value in pairs)
    if not is_image:
        text += "\n" + body.decode(errors="replace")
    found = _INTERNALS.search(text)
    return found.group(0) if found else None
