"""The page at / in a real browser: Debian's Chromium, driven by Playwright, against the app with the
shipped checkpoints served by uvicorn on 127.0.0.1 (DEVELOPERS.md says how to set this up)."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from app_support import png_upload
from browser_support import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    UPLOAD_TIMEOUT_MS,
    generate,
    launch_chromium,
    serving,
    shipped_settings,
    write_digit,
)
from PIL import Image

from training import real_world
from training.data import Split
from training.ood_data import digit_png, photo_crops, sample_photo, uploads

if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium (see DEVELOPERS.md)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright: pip install -e '.[dev]' (see DEVELOPERS.md)"
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(shipped_settings()) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


class Visit:
    """A page in a browser context, with every request the context made and every error the page raised."""

    def __init__(self, context: sync_api.BrowserContext) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))
        self.page = context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))


@contextmanager
def visiting(browser: sync_api.Browser, url: str, viewport: dict[str, int]) -> Iterator[Visit]:
    """The page at `url` in a fresh context; afterwards, no script of the page may have raised."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    try:
        opened = Visit(context)
        opened.page.goto(url)
        yield opened
    finally:
        context.close()
    assert opened.errors == [], "the page's scripts raised"


@pytest.fixture
def desktop(browser: sync_api.Browser, base_url: str) -> Iterator[Visit]:
    with visiting(browser, base_url, DESKTOP) as opened:
        yield opened


@pytest.fixture
def phone(browser: sync_api.Browser, base_url: str) -> Iterator[Visit]:
    with visiting(browser, base_url, PHONE) as opened:
        yield opened


def image_widths(page: sync_api.Page, selector: str) -> list[int]:
    """The natural widths of the images matched: 0 for one the browser could not decode."""
    return page.locator(selector).evaluate_all(
        "images => images.map(img => img.complete && img.naturalWidth)"
    )


def expect_reading(page: sync_api.Page) -> None:
    """A reconstruction, a predicted digit with ten probabilities, the latent mean and ten transfers."""
    sync_api.expect(page.locator("#analysis")).to_be_visible()
    assert page.locator("#predicted").inner_text() in [str(digit) for digit in range(10)]
    assert page.locator("#reconstruction").get_attribute("src").startswith("data:image/png;base64,")
    page.locator("#transfer-images img").nth(9).wait_for()
    assert image_widths(page, "#input-image, #reconstruction, #transfer-images img") == [28] * 12
    sync_api.expect(page.locator("#probabilities li")).to_have_count(10)
    assert page.locator("#latent-mean li").count() > 0
    sync_api.expect(page.get_by_role("alert")).to_have_count(0)  # hidden alerts are not in the a11y tree


def test_page_loads_with_its_sections(desktop: Visit) -> None:
    page = desktop.page
    assert page.title() == "cvae-digits"
    for name in ("Generate", "Explore", "Reconstruct", "Style transfer", "Write a number"):
        sync_api.expect(page.get_by_role("heading", name=name)).to_be_visible()
    sync_api.expect(page.locator(".digit")).to_have_count(10)
    sync_api.expect(page.get_by_label("Drawing area for a digit")).to_be_visible()


def test_digit_7_gives_16_images_a_seed_and_a_download(desktop: Visit, tmp_path: Path) -> None:
    page = desktop.page
    generate(page, 7)
    sync_api.expect(page.locator("#grid img")).to_have_count(16)
    assert image_widths(page, "#grid img") == [28] * 16
    seed = re.search(r"Seed used: (\d+)", page.locator("#seed-used").inner_text()).group(1)
    with page.expect_download() as download:
        page.locator("#generate").get_by_role("link", name="Download PNG").click()
    assert download.value.suggested_filename == f"digit-7-seed-{seed}.png"
    saved = tmp_path / "grid.png"
    download.value.save_as(saved)
    assert Image.open(saved).size == (4 * 28, 4 * 28)

    # The seed shown gives the same images again.
    shown = page.locator("#grid img").evaluate_all("images => images.map(img => img.src)")
    page.locator("#generate").get_by_label("Seed (optional)").fill(seed)
    page.get_by_role("button", name="Generate").click()
    sync_api.expect(page.locator("#seed-used")).to_contain_text(seed)
    assert page.locator("#grid img").evaluate_all("images => images.map(img => img.src)") == shown


def test_written_digit_is_read_and_reconstructed(desktop: Visit) -> None:
    write_digit(desktop.page)
    expect_reading(desktop.page)


def test_uploaded_png_is_read_and_reconstructed(desktop: Visit, tmp_path: Path) -> None:
    path = tmp_path / "digit.png"
    path.write_bytes(png_upload())
    desktop.page.get_by_label("Upload an image").set_input_files(path)
    expect_reading(desktop.page)


def test_png_dropped_on_the_pad_is_read_and_reconstructed(desktop: Visit) -> None:
    page = desktop.page
    dropped = page.evaluate_handle(
        """(base64) => {
            const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "digit.png", { type: "image/png" }));
            return transfer;
        }""",
        base64.b64encode(png_upload()).decode(),
    )
    page.locator("#pad").dispatch_event("drop", {"dataTransfer": dropped})
    expect_reading(page)


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"not a digit, just some words\n", "Not an image"),
        ("blank.png", blank_png(), "No ink found"),
    ],
)
def test_bad_upload_shows_a_readable_error(
    desktop: Visit, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    desktop.page.get_by_label("Upload an image").set_input_files(path)
    alert = desktop.page.locator("#reconstruct").get_by_role("alert")
    sync_api.expect(alert).to_be_visible()
    sync_api.expect(alert).to_contain_text(message)
    sync_api.expect(desktop.page.locator("#analysis")).to_be_hidden()


def test_the_page_opens_on_samples_and_an_error_takes_them_away(desktop: Visit) -> None:
    page = desktop.page
    sync_api.expect(page.locator("#grid img")).to_have_count(16)  # the digit chosen, without a click
    generate_card = page.locator("#generate")
    sync_api.expect(generate_card.get_by_role("link", name="Download PNG")).to_be_visible()
    assert page.get_by_label("How many").get_attribute("max") == "256"  # the API's CVAE_MAX_N
    generate_card.get_by_label("Seed (optional)").fill(str(2**60))  # over the API's largest seed: a 422
    page.get_by_role("button", name="Generate").click()
    sync_api.expect(generate_card.get_by_role("alert")).to_be_visible()
    sync_api.expect(page.locator("#grid img")).to_have_count(0)
    sync_api.expect(generate_card.get_by_role("link", name="Download PNG")).to_be_hidden()
    sync_api.expect(page.locator("#seed-used")).to_have_text("")


def test_a_bad_upload_or_clear_takes_the_previous_reading_away(desktop: Visit, tmp_path: Path) -> None:
    page = desktop.page
    write_digit(page)
    expect_reading(page)
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not an image\n")
    page.get_by_label("Upload an image").set_input_files(path)
    sync_api.expect(page.locator("#reconstruct").get_by_role("alert")).to_be_visible()
    sync_api.expect(page.locator("#analysis")).to_be_hidden()
    sync_api.expect(page.locator("#transfer-images img")).to_have_count(0)
    write_digit(page)
    expect_reading(page)
    page.get_by_role("button", name="Clear").click()
    sync_api.expect(page.locator("#analysis")).to_be_hidden()
    sync_api.expect(page.locator("#transfer-images img")).to_have_count(0)


def test_interpolation_strip_between_two_seeds(desktop: Visit) -> None:
    page = desktop.page
    generate(page, 2)
    page.get_by_label("Steps").fill("6")
    page.get_by_role("button", name="Interpolate").click()
    sync_api.expect(page.locator("#strip img")).to_have_count(6)
    assert image_widths(page, "#strip img") == [28] * 6


def test_an_out_of_range_seed_is_named_in_words_not_by_its_index(desktop: Visit) -> None:
    page = desktop.page
    card = page.locator("#explore")
    card.get_by_label("To seed").fill(
        str(2**60)
    )  # over the API's largest seed: a 422 at ["body", "seeds", 1]
    page.get_by_role("button", name="Interpolate").click()
    alert = card.get_by_role("alert")
    sync_api.expect(alert).to_contain_text("To seed: ")
    assert "1: Input" not in alert.inner_text()  # the item's index, as the page said before


def test_keyboard_alone_picks_a_digit(desktop: Visit) -> None:
    page = desktop.page
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.digit") == "3":
            break
    else:
        pytest.fail("Tab never reached the digit 3")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#grid img").first).to_have_attribute("alt", "Generated 3, number 1")
    sync_api.expect(page.locator("#grid img")).to_have_count(16)
    sync_api.expect(page.get_by_role("button", name="3", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )


def test_phone_width_has_no_horizontal_overflow(phone: Visit) -> None:
    page = phone.page
    generate(page, 5)
    write_digit(page)
    expect_reading(page)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow == 0


def test_api_key_typed_on_the_page_is_sent(browser: sync_api.Browser) -> None:
    """With CVAE_API_KEY set the page still loads; /v1 answers once the key is typed in."""
    with serving(shipped_settings(api_key="page-test-key")) as url, visiting(browser, url, DESKTOP) as opened:
        page = opened.page
        page.get_by_role("button", name="Generate").click()
        sync_api.expect(page.locator("#generate").get_by_role("alert")).to_contain_text("needs an API key")
        page.get_by_text("API key", exact=True).click()
        page.get_by_label("Needed only when the service sets one").fill("page-test-key")
        generate(page, 4)
        sync_api.expect(page.locator("#grid img")).to_have_count(16)
        sync_api.expect(page.get_by_role("alert")).to_have_count(0)
        # The model list, refused without the key, comes once the key is entered.
        sync_api.expect(page.get_by_label("Model")).to_be_visible()


def test_page_asks_nothing_of_any_other_host(desktop: Visit, base_url: str) -> None:
    """Every section used once; every request but the page's own data: URLs goes to the app's host."""
    page = desktop.page
    generate(page, 7)
    page.get_by_role("button", name="Interpolate").click()
    page.locator("#strip img").first.wait_for()
    write_digit(page)
    expect_reading(page)
    write_number(page)
    own = urlsplit(base_url).netloc
    asked = [url for url in desktop.requests if urlsplit(url).scheme not in ("data", "blob")]
    static = {f"/static/{name}" for name in ("app.js", "api.js", "pad.js", "style.css")}
    v1 = {f"/v1/{name}" for name in ("models", "sample", "interpolate", "reconstruct", "transfer", "number")}
    assert {urlsplit(url).path for url in asked} == {"/"} | static | v1
    assert [url for url in asked if urlsplit(url).netloc != own] == []


def test_the_model_menu_switches_to_fashion(desktop: Visit) -> None:
    """With two models served, a menu picks one; its class names replace the digits, and its images come."""
    page = desktop.page
    page.get_by_label("Model").select_option("cvae-fashion")
    sync_api.expect(page.locator("#classes-legend")).to_have_text("Class")
    sync_api.expect(page.locator(".digit")).to_have_count(10)
    # The switch takes the 7s away and fills the cards again with the new model's first class.
    sync_api.expect(page.locator("#grid img").first).to_have_attribute(
        "alt", "Generated T-shirt/top, number 1"
    )
    sync_api.expect(page.locator("#strip img").first).to_have_attribute("alt", re.compile("^T-shirt/top, "))
    page.get_by_role("button", name="Sneaker").click()
    # Waits for the sneakers to replace the T-shirts.
    sync_api.expect(page.locator("#grid img").first).to_have_attribute("alt", "Generated Sneaker, number 1")
    sync_api.expect(page.locator("#grid img")).to_have_count(16)
    seed = re.search(r"Seed used: (\d+)", page.locator("#seed-used").inner_text()).group(1)
    with page.expect_download() as download:
        page.locator("#generate").get_by_role("link", name="Download PNG").click()
    assert download.value.suggested_filename == f"cvae-fashion-sneaker-seed-{seed}.png"
    sync_api.expect(page.locator("#pad-help")).not_to_contain_text("digit")  # the page's words follow
    sync_api.expect(page.locator("#transfer")).to_contain_text("every class of the model")
    page.get_by_label("Model").select_option("cvae-mnist")
    sync_api.expect(page.locator("#classes-legend")).to_have_text("Digit")
    sync_api.expect(page.locator("#pad-help")).to_contain_text("Write a digit")


def test_a_reading_goes_when_the_model_changes_and_a_file_replaces_the_drawing(
    desktop: Visit, tmp_path: Path
) -> None:
    page = desktop.page
    write_digit(page)
    expect_reading(page)
    with page.expect_response(path_is("/v1/reconstruct")) as reading:
        page.get_by_label("Model").select_option("cvae-fashion")
    assert reading.value.json()["model"] == "cvae-fashion"  # the drawing read again by the model chosen
    sync_api.expect(page.locator("#predicted")).to_have_text(reading.value.json()["class_name"])
    assert not pad_is_blank(page)
    page.get_by_label("Model").select_option("cvae-mnist")
    expect_reading(page)
    path = tmp_path / "seven.png"
    path.write_bytes(png_upload())
    page.get_by_label("Upload an image").set_input_files(path)
    expect_reading(page)
    assert pad_is_blank(page)  # the drawing is not shown beside the file's reading


def test_fashion_s_class_names_are_shown_whole_beside_their_bars(desktop: Visit, tmp_path: Path) -> None:
    page = desktop.page
    page.get_by_label("Model").select_option("cvae-fashion")
    path = tmp_path / "digit.png"
    path.write_bytes(png_upload())
    page.get_by_label("Upload an image").set_input_files(path)
    sync_api.expect(page.locator("#probabilities li")).to_have_count(10)
    rows = page.locator("#probabilities li").evaluate_all(
        """items => items.map(item => {
            const range = document.createRange();
            range.selectNodeContents(item.firstChild);
            const label = range.getBoundingClientRect();
            const track = item.querySelector(".track").getBoundingClientRect();
            return { text: item.firstChild.textContent, right: label.right, height: label.height,
                     track: track.left };
        })"""
    )
    assert "T-shirt/top" in [row["text"] for row in rows]
    assert len({row["track"] for row in rows}) == 1  # the bars line up
    assert all(row["right"] <= row["track"] for row in rows)  # no name runs under its bar
    assert len({round(row["height"]) for row in rows}) == 1  # none wraps onto a second line


def test_no_card_is_stretched_past_what_it_holds(desktop: Visit) -> None:
    """Style transfer sits beside the tall Reconstruct card: it ends under its images, not with it."""
    page = desktop.page
    write_digit(page)
    expect_reading(page)
    below = page.evaluate(
        """() => document.getElementById("transfer").getBoundingClientRect().bottom
                 - document.getElementById("transfer-images").getBoundingClientRect().bottom"""
    )
    assert below < 40  # the card's padding, not a stretch of empty card


def test_ten_transfer_images_fit_one_row_at_phone_width(phone: Visit) -> None:
    page = phone.page
    write_digit(page)
    expect_reading(page)
    tops = page.locator("#transfer-images img").evaluate_all(
        "images => images.map(img => img.getBoundingClientRect().top)"
    )
    assert len(tops) == 10 and len(set(tops)) == 1


def pad_is_blank(page: sync_api.Page) -> bool:
    """Whether the drawing area holds no stroke: every pixel the same."""
    return page.locator("#pad").evaluate(
        """canvas => {
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            return data.every((value, i) => value === data[i % 4]);
        }"""
    )


def test_a_photograph_gets_a_note_that_it_is_not_a_digit(desktop: Visit, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(uploads(photo_crops(sample_photo()), 1, 0)[0])
    desktop.page.get_by_label("Upload an image").set_input_files(path)
    sync_api.expect(desktop.page.locator("#not-like-training")).to_be_visible()
    sync_api.expect(desktop.page.locator("#not-like-training")).to_contain_text("out-of-distribution score")


def test_a_held_out_digit_gets_no_such_note(desktop: Visit, tmp_path: Path, offline_split: Split) -> None:
    path = tmp_path / "digit.png"
    path.write_bytes(digit_png(offline_split.test_images[1]))
    desktop.page.get_by_label("Upload an image").set_input_files(path)
    expect_reading(desktop.page)
    sync_api.expect(desktop.page.locator("#not-like-training")).to_be_hidden()


def test_the_api_docs_render_with_nothing_from_another_host(browser: sync_api.Browser, base_url: str) -> None:
    """Swagger UI comes from the package (fastapi-offline), not a CDN: /docs renders offline."""
    with visiting(browser, base_url + "/docs", DESKTOP) as opened:
        sync_api.expect(opened.page.locator(".swagger-ui .info .title")).to_contain_text("cvae-digits")
        sync_api.expect(opened.page.get_by_text("/v1/sample", exact=False).first).to_be_visible()
        hosts = {urlsplit(url).netloc for url in opened.requests if not url.startswith("data:")}
        assert hosts == {urlsplit(base_url).netloc}, hosts


def test_a_digit_on_squared_paper_gets_a_note_that_lines_were_removed(
    desktop: Visit, tmp_path: Path, offline_split: Split
) -> None:
    path = tmp_path / "page.jpg"
    image, label = offline_split.test_images[1], int(offline_split.test_labels[1])
    # Seed 2 draws dark grid lines across the digit (fainter ones may never touch the ink, and go unsaid).
    path.write_bytes(real_world.squared_paper(image, label, np.random.default_rng(2)))
    desktop.page.get_by_label("Upload an image").set_input_files(path)
    expect_reading(desktop.page)
    sync_api.expect(desktop.page.locator("#preprocessing-notes")).to_be_visible()
    sync_api.expect(desktop.page.locator("#preprocessing-notes")).to_contain_text("printed lines")


def test_a_plain_upload_gets_no_preprocessing_note(
    desktop: Visit, tmp_path: Path, offline_split: Split
) -> None:
    path = tmp_path / "digit.png"
    path.write_bytes(digit_png(offline_split.test_images[1]))
    desktop.page.get_by_label("Upload an image").set_input_files(path)
    expect_reading(desktop.page)
    sync_api.expect(desktop.page.locator("#preprocessing-notes")).to_be_hidden()


# Write a number ------------------------------------------------------------------------------------------


def path_is(path: str) -> Callable[[sync_api.Request | sync_api.Response], bool]:
    return lambda message: urlsplit(message.url).path == path


def write_number(page: sync_api.Page) -> dict[str, object]:
    """Press Write and wait until the answer is shown (the card is busy from the click until then); the body
    the page sent to /v1/number."""
    with page.expect_request(path_is("/v1/number")) as sent:
        page.locator("#number").get_by_role("button", name="Write", exact=True).click()
    page.locator("#number[aria-busy=true]").wait_for(state="detached")
    return sent.value.post_data_json


def number_seed(page: sync_api.Page) -> str:
    return re.search(r"Seed used: (\d+)", page.locator("#number-seed-used").inner_text()).group(1)


def test_a_number_is_written_enlarged_and_its_seed_writes_it_again(desktop: Visit, tmp_path: Path) -> None:
    page = desktop.page
    card = page.locator("#number")
    card.get_by_label("Number", exact=True).fill("2026")
    sent = write_number(page)
    assert sent["text"] == "2026" and sent["seed"] is None and "z" not in sent
    image = card.locator("#number-image")
    sync_api.expect(image).to_be_visible()
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > height == 28
    shown = image.bounding_box()
    assert (shown["width"], shown["height"]) == (pytest.approx(4 * width), pytest.approx(4 * height))
    assert image.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    seed = number_seed(page)
    with page.expect_download() as download:
        card.get_by_role("link", name="Download PNG").click()
    assert download.value.suggested_filename == f"number-2026-seed-{seed}.png"
    saved = tmp_path / "number.png"
    download.value.save_as(saved)
    assert Image.open(saved).size == (width, height)

    # The seed shown writes the same image again; another seed, another.
    src = image.get_attribute("src")
    card.get_by_label("Seed (optional)").fill(seed)
    assert write_number(page)["seed"] == int(seed)
    assert image.get_attribute("src") == src
    assert number_seed(page) == seed
    card.get_by_label("Seed (optional)").fill(str(int(seed) + 1))
    write_number(page)
    assert image.get_attribute("src") != src


def test_a_number_with_a_letter_gets_a_readable_error(desktop: Visit) -> None:
    page = desktop.page
    card = page.locator("#number")
    field = card.get_by_label("Number", exact=True)
    field.fill("")
    field.press_sequentially("12a")
    sync_api.expect(field).to_have_value("12")  # a letter typed is not taken
    write_number(page)
    sync_api.expect(card.locator("#number-image")).to_be_visible()
    field.evaluate("input => { input.value = '12a'; }")  # as a paste leaves it
    write_number(page)
    alert = card.get_by_role("alert")
    sync_api.expect(alert).to_be_visible()
    sync_api.expect(alert).to_contain_text("Number: ")
    sync_api.expect(alert).to_contain_text("digits 0-9")
    sync_api.expect(card.locator("#number-image")).to_be_hidden()
    sync_api.expect(card.get_by_role("link", name="Download PNG")).to_be_hidden()
    sync_api.expect(card.locator("#number-seed-used")).to_have_text("")


def test_in_my_style_writes_in_the_mu_of_the_digit_drawn(desktop: Visit) -> None:
    """The page sends the latent mean that /v1/reconstruct gave for the drawing as the style z, and asks
    /v1/encode nothing (the reading's mu is the digit's style under the same model)."""
    page = desktop.page
    card = page.locator("#number")
    style = card.get_by_label("In my style")
    sync_api.expect(style).to_be_disabled()  # no digit of yours yet
    with page.expect_response(path_is("/v1/reconstruct"), timeout=UPLOAD_TIMEOUT_MS) as reading:
        write_digit(page)
    mu = reading.value.json()["mu"]
    style.check()
    sent = write_number(page)
    assert sent["z"] == mu
    sync_api.expect(card.locator("#number-image")).to_be_visible()
    sync_api.expect(card.locator("#number-seed-used")).to_contain_text("keep In my style checked")
    assert "/v1/encode" not in {urlsplit(url).path for url in desktop.requests}
    page.get_by_role("button", name="Clear").click()
    sync_api.expect(style).to_be_disabled()
    sync_api.expect(style).not_to_be_checked()


def test_fashion_does_not_write_numbers_and_a_digit_it_read_is_encoded_again(desktop: Visit) -> None:
    """Under cvae-fashion the card is disabled with a line saying why; back under the digits, the digit that
    cvae-fashion read is read again by the digits model, and its style is that reading's."""
    page = desktop.page
    card = page.locator("#number")
    write = card.get_by_role("button", name="Write", exact=True)
    write_number(page)
    page.get_by_label("Model").select_option("cvae-fashion")
    sync_api.expect(card.locator("#number-unavailable")).to_be_visible()
    sync_api.expect(card.locator("#number-unavailable")).to_contain_text("does not write numbers")
    sync_api.expect(write).to_be_disabled()
    sync_api.expect(card.locator("#number-image")).to_be_hidden()
    write_digit(page)
    sync_api.expect(card.get_by_label("In my style")).to_be_disabled()

    with page.expect_response(path_is("/v1/reconstruct")) as reading:
        page.get_by_label("Model").select_option("cvae-mnist")
    sync_api.expect(card.locator("#number-unavailable")).to_be_hidden()
    sync_api.expect(write).to_be_enabled()
    card.get_by_label("In my style").check()  # the digit cvae-fashion read, read again by the digits model
    sent = write_number(page)
    assert sent["z"] == reading.value.json()["mu"]
    assert reading.value.json()["model"] == "cvae-mnist"
    sync_api.expect(card.locator("#number-image")).to_be_visible()
