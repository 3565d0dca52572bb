"""MNIST-style preprocessing: every accepted format gives the same digit, every bad file a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from app_support import digit_page, encode_image, png_declaring, png_upload, truncated
from PIL import Image, ImageFile

from model.preprocess import (
    NoInkError,
    NotAnImageError,
    TooManyPixelsError,
    UndecodableImageError,
    preprocess_upload,
)


@pytest.fixture(scope="module")
def reference() -> torch.Tensor:
    """The white-on-black PNG of the test page: what every other encoding of it must come close to."""
    return preprocess_upload(png_upload(digit_page(dark_ink=False)))


def mean_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().mean().item()


def test_output_is_an_mnist_shaped_digit(reference: torch.Tensor) -> None:
    assert reference.shape == (1, 1, 28, 28) and reference.dtype == torch.float32
    assert reference.min() >= 0 and reference.max() == pytest.approx(1.0, abs=0.05)
    image = reference[0, 0]
    rows, cols = torch.nonzero(image > 0, as_tuple=True)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 21  # the 20x20 box, +1 for Lanczos
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    mass = image.sum()
    assert (ys * image).sum() / mass == pytest.approx(14, abs=0.6)
    assert (xs * image).sum() / mass == pytest.approx(14, abs=0.6)


def test_both_polarities_give_the_same_digit(reference: torch.Tensor) -> None:
    dark_on_light = preprocess_upload(png_upload(digit_page(dark_ink=True)))
    assert mean_difference(dark_on_light, reference) < 1e-6


def test_grey_paper_and_faint_ink_are_stretched(reference: torch.Tensor) -> None:
    page = digit_page(dark_ink=True).astype(np.float32) / 255
    pencil = (110 + 60 * page).astype(np.uint8)  # ink 110, paper 170
    assert mean_difference(preprocess_upload(png_upload(pencil)), reference) < 1e-3


def _rgba(ink_colour: int) -> Image.Image:
    """Strokes of one colour on a transparent (0, 0, 0, 0) canvas, as drawing apps export them."""
    alpha = digit_page(dark_ink=False)
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    rgba[..., :3] = ink_colour
    rgba[..., 3] = alpha
    rgba[alpha == 0] = 0
    return Image.fromarray(rgba)


def _exif_rotated_jpeg() -> bytes:
    """The page stored turned a quarter left, with EXIF orientation 6 (rotate right to display)."""
    stored = Image.fromarray(digit_page(dark_ink=True)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode_image(stored, "JPEG", quality=95, exif=exif.tobytes())


def _animated_gif() -> bytes:
    first, second = Image.fromarray(digit_page()), Image.fromarray(np.full((90, 120), 255, np.uint8))
    return encode_image(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)


ENCODINGS = {
    "png-alpha-black-ink": lambda: encode_image(_rgba(0), "PNG"),
    "png-alpha-white-ink": lambda: encode_image(_rgba(255), "PNG"),
    "png-palette": lambda: encode_image(Image.fromarray(digit_page()).convert("P"), "PNG"),
    "png-16-bit": lambda: encode_image(Image.fromarray(digit_page().astype(np.uint16) * 257), "PNG"),
    "png-rgb": lambda: encode_image(Image.fromarray(digit_page()).convert("RGB"), "PNG"),
    "jpeg-cmyk": lambda: encode_image(Image.fromarray(digit_page()).convert("CMYK"), "JPEG", quality=95),
    "jpeg-exif-rotated": _exif_rotated_jpeg,
    "gif-animated": _animated_gif,
    "webp": lambda: encode_image(Image.fromarray(digit_page()), "WEBP", lossless=True),
    "bmp": lambda: encode_image(Image.fromarray(digit_page()), "BMP"),
    "tiff": lambda: encode_image(Image.fromarray(digit_page()), "TIFF"),
    "png-1-bit": lambda: encode_image(Image.fromarray(digit_page()).convert("1"), "PNG"),
}


@pytest.mark.parametrize("name", ENCODINGS)
def test_accepted_formats_give_the_same_digit(name: str, reference: torch.Tensor) -> None:
    lossy = name.startswith("jpeg")
    assert mean_difference(preprocess_upload(ENCODINGS[name]()), reference) < (0.02 if lossy else 1e-3)


def test_exif_orientation_is_applied(reference: torch.Tensor) -> None:
    unrotated = Image.fromarray(digit_page()).transpose(Image.Transpose.ROTATE_90)
    assert mean_difference(preprocess_upload(encode_image(unrotated, "JPEG", quality=95)), reference) > 0.05


def test_tiny_image() -> None:
    tiny = np.zeros((8, 8), dtype=np.uint8)
    tiny[1:7, 3:5] = 255
    image = preprocess_upload(png_upload(tiny))[0, 0]
    rows = torch.nonzero(image > 0.5)[:, 0]
    assert rows.max() - rows.min() + 1 >= 19  # a stroke 6 pixels tall fills the box's height


def test_large_image(reference: torch.Tensor) -> None:
    x = preprocess_upload(png_upload(digit_page((4000, 3000))))
    assert mean_difference(x, reference) < 0.02


@pytest.mark.parametrize("size", [(30000, 30000), (6000, 6000)])
def test_decompression_bomb_is_refused_before_decoding(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused from the header: the pixels (36 MB to 900 MB) are never decoded, so never allocated."""

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(TooManyPixelsError):
        preprocess_upload(png_declaring(*size))


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(TooManyPixelsError):
        preprocess_upload(png_upload(), max_pixels=100)


NOT_IMAGES = {
    "text": b"hello, this is not an image\n",
    "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    "zip": b"PK\x05\x06" + b"\0" * 18,
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
    "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
}


@pytest.mark.parametrize("name", NOT_IMAGES)
def test_not_an_image(name: str) -> None:
    with pytest.raises(NotAnImageError):
        preprocess_upload(NOT_IMAGES[name])


@pytest.mark.parametrize(
    "data",
    [b"", truncated("PNG"), truncated("JPEG"), png_declaring(20, 20)],
    ids=["empty", "truncated-png", "truncated-jpeg", "png-without-data"],
)
def test_undecodable(data: bytes) -> None:
    with pytest.raises(UndecodableImageError):
        preprocess_upload(data)


@pytest.mark.parametrize("value", [0, 128, 255])
def test_blank_image_has_no_ink(value: int) -> None:
    with pytest.raises(NoInkError, match="no ink"):
        preprocess_upload(png_upload(np.full((50, 40), value, dtype=np.uint8)))


def test_faint_noise_is_not_ink() -> None:
    noise = np.random.default_rng(1).integers(240, 256, (64, 64), dtype=np.uint8)
    with pytest.raises(NoInkError):
        preprocess_upload(encode_image(Image.fromarray(noise), "JPEG", quality=70))


def test_the_diamond_closing_is_the_closing_by_its_two_diagonals() -> None:
    """The sheared 1-D filters give what scipy's filters with the diamond's footprints give (away from the
    edges, where scipy's footprint filters depend on the order they run in)."""
    from scipy import ndimage

    from model.preprocess import _diamond_closing

    image = np.random.default_rng(0).random((37, 53)).astype(np.float32)
    diagonal = np.eye(7, dtype=bool)
    expected = image
    for extreme, cval in ((ndimage.maximum_filter, -np.inf), (ndimage.minimum_filter, np.inf)):
        for footprint in (diagonal, diagonal[::-1]):
            expected = extreme(expected, footprint=footprint, mode="constant", cval=cval)
    np.testing.assert_array_equal(_diamond_closing(image, 7)[14:-14, 14:-14], expected[14:-14, 14:-14])
