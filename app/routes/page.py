"""The web page at / and its static files: plain HTML, CSS and JavaScript that call only the public v1 API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# Set here rather than guessed from the system's MIME tables: browsers run module scripts only with a
# JavaScript type.
MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# The page loads nothing from another host (no CDN, no external font); the browser enforces that too.
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'"

router = APIRouter(tags=["page"])


@router.get("/", response_class=FileResponse, include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type=MEDIA_TYPES[".html"],
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


# An uptime monitor pointed at the site's front page probes it with HEAD.
router.add_api_route("/", page, methods=["HEAD"], include_in_schema=False)


@router.get("/static/{name}", response_class=FileResponse, include_in_schema=False)
def static_file(name: str) -> FileResponse:
    """A file of app/static by name: a route rather than a mount, so that metrics count it as one route."""
    path = STATIC_DIR / name
    if path.parent != STATIC_DIR or path.suffix not in MEDIA_TYPES or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix])
