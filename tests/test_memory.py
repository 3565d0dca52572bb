"""Giving freed memory back: the call exists where the service runs (glibc) and is harmless to repeat."""

from __future__ import annotations

import platform

import pytest

from app.memory import release_free_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_free_memory_calls_malloc_trim_on_glibc() -> None:
    blocks = [bytearray(1 << 20) for _ in range(32)]
    del blocks
    assert release_free_memory() is True
    assert release_free_memory() is True
