"""A bounded `make fuzz`: schemathesis with every check against the live service with an API key set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fuzz_api import BIN, fuzz

needs_schemathesis = pytest.mark.skipif(
    shutil.which(str(Path(BIN) / "st")) is None, reason="schemathesis is in the dev extra (make install)"
)


@needs_schemathesis
def test_schema_and_service_agree_under_every_check() -> None:
    result = fuzz(max_examples=15, seed=1)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "generated" in result.stdout
