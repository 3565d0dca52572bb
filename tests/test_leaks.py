"""The leak check of the fuzzer and the soak (tests/leaks.py): text answers read, binary ones not."""

from __future__ import annotations

import sys

import pytest

from tests.leaks import leak_in

TRACE = b'{"detail": "Traceback (most recent call last): File \\"/srv/app.py\\", line 3"}'


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/problem+json", "text/html; charset=utf-8", "text/plain", None],
)
def test_a_trace_in_a_text_answer_is_found(content_type: str | None) -> None:
    headers = [] if content_type is None else [("content-type", content_type)]
    assert leak_in(headers, TRACE) == "Traceback (most recent call last)"


@pytest.mark.parametrize("content_type", ["image/png", "application/zip", "application/octet-stream"])
def test_binary_bodies_that_spell_a_marker_by_chance_are_not_leaks(content_type: str) -> None:
    assert leak_in([("Content-Type", content_type)], b"\x89PNG\x00.PY:\x17site-packages") is None


def test_headers_are_always_read() -> None:
    python = f"Python/{sys.version.split()[0]}"
    assert leak_in([("content-type", "image/png"), ("server", f"uvicorn {python}")], b"") == python
