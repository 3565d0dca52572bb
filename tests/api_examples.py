"""docs/api.md's example answer to an upload, made by the code: `python tests/api_examples.py` prints it.

The answer of the shipped digits model to the page's own curl lines (a 3 drawn at seed 1 by /v1/sample.png,
uploaded to /v1/reconstruct without its label), as the page shows it: numbers to SIGNIFICANT digits, lists to
their first LIST_ITEMS items and an ellipsis, PNGs to their first characters. Beyond those digits a number may
differ from one CPU to another (the order in which vector instructions add), and tests/test_api_examples.py
compares the page's numbers with a live answer at that tolerance, not its bytes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "api.md"
SIGNIFICANT = 4
LIST_ITEMS = 4
PNG_PREFIX = 11  # "iVBORw0KGgo", the same for every PNG
# Two numbers shown to SIGNIFICANT digits match when within this (one in the last digit, rounded either way).
SHOWN_TOLERANCE = 2e-3
# The section whose first JSON block is the example.
SECTION = "### Uploads: `POST /v1/reconstruct`"


def upload_answer(client: TestClient) -> dict[str, Any]:
    """The live answer the page's example shows: POST /v1/reconstruct of /v1/sample.png?digit=3&seed=1."""
    three = client.get("/v1/sample.png", params={"digit": 3, "seed": 1}).content
    answer = client.post("/v1/reconstruct", files={"file": ("three.png", three, "image/png")})
    answer.raise_for_status()
    return answer.json()


def shown(value: Any) -> Any:
    """A value as the page shows it."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT}g}")
    if isinstance(value, str) and value.startswith("iVBORw0KGgo"):
        return value[:PNG_PREFIX] + "..."
    if isinstance(value, list):
        return [shown(item) for item in value[:LIST_ITEMS]] + (["..."] if len(value) > LIST_ITEMS else [])
    if isinstance(value, dict):
        return {key: shown(item) for key, item in value.items()}
    return value


def render(answer: dict[str, Any]) -> str:
    """The answer as the page's JSON block: one field a line."""
    lines = [f"  {json.dumps(key)}: {json.dumps(shown(value))}" for key, value in answer.items()]
    return "{\n" + ",\n".join(lines) + "\n}"


def page_example(page: str) -> str:
    """The JSON block of the page's upload section."""
    section = page[page.index(SECTION) :]
    found = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert found is not None, f"no JSON block under {SECTION!r}"
    return found.group(1)


def same_as_shown(page: Any, live: Any) -> bool:
    """Whether two answers as shown agree: the same fields and strings, numbers within SHOWN_TOLERANCE."""
    if isinstance(page, bool) or isinstance(live, bool) or not isinstance(page, int | float):
        if isinstance(page, dict) and isinstance(live, dict):
            return page.keys() == live.keys() and all(same_as_shown(page[k], live[k]) for k in page)
        if isinstance(page, list) and isinstance(live, list):
            return len(page) == len(live) and all(map(same_as_shown, page, live))
        return page == live
    return isinstance(live, int | float) and math.isclose(page, live, rel_tol=SHOWN_TOLERANCE, abs_tol=1e-12)


def main() -> None:
    from browser_support import shipped_settings

    from app.main import create_app

    with TestClient(create_app(shipped_settings(workers=1))) as client:
        print(render(upload_answer(client)))


if __name__ == "__main__":
    main()
