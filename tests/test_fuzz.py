"""A bounded `make fuzz`: schemathesis with every check against the live service with an API key set."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
from fuzz_api import BIN, fuzz
from robustness import Recorder, bounded

needs_schemathesis = pytest.mark.skipif(
    shutil.which(str(Path(BIN) / "st")) is None, reason="schemathesis is in the dev extra (make install)"
)


@needs_schemathesis
def test_schema_and_service_agree_under_every_check(tmp_path: Path, robustness: Recorder) -> None:
    answers = tmp_path / "answers.txt"
    examples = bounded(100, 15)
    result = fuzz(max_examples=examples, seed=1, answers_log=answers)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "generated" in result.stdout
    statuses = Counter(answers.read_text().split())
    assert statuses, "the hooks checked no error answer"
    cases = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert cases and cases[1] == cases[2], result.stdout[-3000:]
    accepted = re.search(r"Filtered: (\d+)", result.stdout)
    robustness.record(
        sent=f"schemathesis --checks all (and tests/fuzz_hooks.py's leak check), up to {examples} cases per "
        f"operation, API key set: {cases[1]} cases, all passed; {accepted[1] if accepted else 0} uploads "
        "refused for what the file holds (400/415) accepted by tests/fuzz_hooks.py",
        count=sum(statuses.values()),
        came_back="error answers, each documented and free of traces, paths and versions: "
        + ", ".join(f"{n}x {status}" for status, n in sorted(statuses.items())),
    )


@needs_schemathesis
@pytest.mark.parametrize(
    "text",
    [
        'Traceback (most recent call last):\n  File "x"',
        "/usr/lib/python3/dist-packages/x",
        f"fastapi {metadata.version('fastapi')}",
        str(Path(__file__).resolve()),
    ],
)
def test_the_leak_check_fails_on_internals(text: str) -> None:
    from tests import fuzz_hooks

    headers = {"content-type": ["text/plain"]}
    response = SimpleNamespace(status_code=400, headers=headers, content=text.encode())
    with pytest.raises(AssertionError, match="the answer shows"):
        fuzz_hooks.no_internals_in_answers(None, response, None)


@needs_schemathesis
@pytest.mark.parametrize(
    "path, status, detail, accepted",
    [
        ("/v1/sample", 422, [{"loc": ["body", "min_confidence"], "msg": "only 2 of the 4 images ..."}], True),
        ("/v1/sample.png", 422, [{"loc": ["query", "min_confidence"], "msg": "only 0 of the 1 ..."}], True),
        ("/v1/sample", 422, [{"loc": ["body", "min_confidence"], "msg": "Input should be ..."}], False),
        ("/v1/sample", 422, [{"loc": ["body", "n"], "msg": "only 2 of the 4 images ..."}], False),
        ("/v1/decode", 422, [{"loc": ["body", "min_confidence"], "msg": "only 2 of the 4 ..."}], False),
        ("/v1/sample", 500, "internal server error", False),
        ("/v1/dataset", 422, [{"loc": ["query", "per_class"], "msg": "per_class: only with numbers"}], True),
        ("/v1/dataset", 422, [{"loc": ["query", "model"], "msg": "model x does not write digits"}], True),
        ("/v1/number", 422, [{"loc": ["body", "model"], "msg": "model x does not write digits"}], False),
        ("/v1/dataset", 422, [{"loc": ["query", "per_class"], "msg": "Input should be ..."}], False),
    ],
)
def test_only_an_unmet_min_confidence_or_a_documented_combination_is_a_schema_valid_422(
    path: str, status: int, detail: object, accepted: bool
) -> None:
    from tests import fuzz_hooks

    case = SimpleNamespace(operation=SimpleNamespace(path=path))
    response = SimpleNamespace(status_code=status, content=json.dumps({"detail": detail}).encode())
    failure = SimpleNamespace(code="ST202")
    assert fuzz_hooks.filter_failure(None, failure, case, response) is not accepted
