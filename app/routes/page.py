"""The web page at /: a placeholder until the interactive page (a later issue) replaces it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["page"])

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cvae-digits</title></head>
<body><h1>cvae-digits</h1>
<p>A conditional VAE for handwritten digits.
<img src="/v1/sample.png?digit=7&amp;n=16&amp;seed=0" alt="sixteen sampled sevens" width="240"></p>
<p>The API: <a href="/docs">/docs</a> (interactive), <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>
"""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> str:
    return PAGE
