"""The page at / and its static files over HTTP, without a browser: each is served with its content type,
every file the page refers to exists, and the page allows no other host (test_page_browser.py drives it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.routes.page import STATIC_DIR

ROOT = Path(__file__).resolve().parents[1]

CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def test_page_is_html_that_allows_only_its_own_host(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "<canvas" in response.text and 'role="alert"' in response.text


@pytest.mark.parametrize("path", sorted(STATIC_DIR.iterdir()), ids=lambda path: path.name)
def test_static_file_is_served_with_its_content_type(client: TestClient, path: Path) -> None:
    response = client.get(f"/static/{path.name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(CONTENT_TYPES[path.suffix])


def test_every_file_the_page_refers_to_is_served(client: TestClient) -> None:
    """The page's src and href, and the scripts' imports, resolve; none points at another host."""
    page = client.get("/").text
    scripts = "".join(path.read_text() for path in STATIC_DIR.glob("*.js"))
    references = re.findall(r'(?:src|href)="([^"#]+)"', page)
    references += ["/static/" + name for name in re.findall(r'from "\./([\w.]+)"', scripts)]
    assert "/static/app.js" in references and "/static/api.js" in references
    for reference in references:
        if reference.startswith("data:"):
            continue
        assert reference.startswith("/"), reference
        assert client.get(reference).status_code == 200, reference


def test_every_static_file_ships_in_the_package() -> None:
    """pyproject's package-data covers each file, so a non-editable install serves the whole page."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["app"]
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            assert any(path.relative_to(STATIC_DIR.parent).match(pattern) for pattern in patterns), path


@pytest.mark.parametrize(
    "name", ["missing.js", "..%2Fmain.py", "..%2F..%2Fpyproject.toml", "%2Fetc%2Fpasswd"]
)
def test_only_the_page_files_are_served(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 404 and "detail" in response.json()
