"""Screenshots of the page for the README, desktop and phone width: `make screenshots` (DEVELOPERS.md).

Each shows sevens generated with a fixed seed, the walk between seeds 1 and 2, and a 7 written on the pad,
read and reconstructed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from browser_support import (
    DESKTOP,
    PHONE,
    ROOT,
    generate,
    launch_chromium,
    serving,
    shipped_settings,
    write_digit,
)
from playwright.sync_api import sync_playwright

SEED = 42


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder to write to (default: docs/)")
    out = parser.parse_args().out
    with serving(shipped_settings()) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page = browser.new_page(viewport=viewport)
            page.goto(url)
            page.locator("#generate").get_by_label("Seed (optional)").fill(str(SEED))
            generate(page, 7)
            page.get_by_role("button", name="Interpolate").click()
            write_digit(page)
            page.locator("#strip img").last.wait_for()
            page.locator("#transfer-images img").nth(9).wait_for()
            path = out / f"page-{name}.png"
            page.screenshot(path=path, full_page=True)
            print(f"wrote {path}")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
