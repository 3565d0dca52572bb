"""The web page at / and its static files: plain HTML, CSS and JavaScript that call only the public v1 API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# The page loads nothing from another host (no CDN, no external font); the browser enforces that too.
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'"

router = APIRouter(tags=["page"])


@router.get("/", response_class=FileResponse, include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html", headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}
    )


def static_files() -> StaticFiles:
    """The page's scripts and style sheet, for mounting at /static."""
    return StaticFiles(directory=STATIC_DIR)
