"""What the browser tests and the screenshot script share: the app served on 127.0.0.1, Debian's Chromium
launched by Playwright (never a downloaded browser), and the page's gestures (pick a digit, write one)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import uvicorn

from app.main import create_app
from app.settings import ModelPaths, Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# DEVELOPERS.md explains each: headless without a sandbox (containers, CI) and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# How long a drawn digit may wait for its two answers.
UPLOAD_TIMEOUT_MS = 30_000


def shipped_settings(**overrides: object) -> Settings:
    """The shipped models, digits and Fashion-MNIST, wherever the tests run from."""
    checkpoints = ROOT / "checkpoints"
    fashion = ModelPaths(
        checkpoint=checkpoints / "cvae-fashion", classifier=checkpoints / "fashion-classifier"
    )
    options = {
        "checkpoint": checkpoints / "cvae-mnist",
        "classifier": checkpoints / "digit-classifier",
        "extra_models": [fashion],
        "device": "cpu",
        "log_level": "warning",
    }
    return Settings(**{**options, **overrides})


@contextmanager
def serving(settings: Settings, start_timeout: float = 120) -> Iterator[str]:
    """The app under uvicorn on a free port of 127.0.0.1, in a thread of this process, models loaded;
    yields its base URL. The socket is bound here and handed over, so no other process can take the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:  # set once the lifespan has loaded and warmed up the models
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start; see the log above")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def generate(page: Page, digit: int) -> None:
    """Click a digit button and wait for its grid, after the grid the page opens on (the section is busy
    from the moment a request is sent until its answer is shown)."""
    busy = page.locator("#generate[aria-busy=true]")
    busy.wait_for(state="detached")
    page.get_by_role("button", name=str(digit), exact=True).click()
    busy.wait_for(state="detached")
    page.locator("#grid img").first.wait_for()


def write_digit(page: Page) -> None:
    """A 7 written with the mouse on the drawing pad: a bar, then a diagonal down to the left."""
    pad = page.locator("#pad")
    pad.scroll_into_view_if_needed()  # the mouse works in viewport coordinates
    box = pad.bounding_box()
    assert box is not None

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * box["width"], box["y"] + y * box["height"]

    page.mouse.move(*at(0.25, 0.2))
    page.mouse.down()
    page.mouse.move(*at(0.75, 0.2), steps=8)
    page.mouse.move(*at(0.45, 0.85), steps=12)
    # The stroke's end sends it to /v1/reconstruct and /v1/transfer: wait for both answers (the first upload
    # of a run warms the models up, seconds on a busy machine), so that a check of the page sees them.
    with (
        page.expect_response(lambda r: urlsplit(r.url).path == "/v1/reconstruct", timeout=UPLOAD_TIMEOUT_MS),
        page.expect_response(lambda r: urlsplit(r.url).path == "/v1/transfer", timeout=UPLOAD_TIMEOUT_MS),
    ):
        page.mouse.up()
