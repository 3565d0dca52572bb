"""Digits the outlier detector must never be trained on, only measured on (training/ood_report.py).

- digits typed in handwriting-style fonts of Debian's font packages (HANDWRITING_FONTS), dark on white and
  filling the image, as digits typed in such a font and uploaded are;
- the UCI handwritten digits scikit-learn ships (sklearn.datasets.load_digits: 1,797 8x8 digits of 43
  writers), a collection other than MNIST, enlarged as training/real_world.py's low-resolution digits are.
Each is None when its fonts or package are not installed; the report then says so. training/outliers.py
never imports this module (tests/test_real_world.py checks it).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training.ood_data import Kind
from training.real_world import encode_png, enlarged_scan

FONT_ROOT = Path("/usr/share/fonts")
# Debian package: the folder of /usr/share/fonts its font files are in.
HANDWRITING_FONTS = {
    "fonts-dkg-handwriting": "truetype/fifthhorseman",
    "fonts-breip": "truetype/breip",
    "fonts-femkeklaver": "truetype/femkeklaver",
    "fonts-humor-sans": "truetype/humor-sans",
    "fonts-comic-neue": "opentype/comic-neue",
    "fonts-dancingscript": "opentype/dancingscript",
    "fonts-klee": "truetype/klee",
    "fonts-sjfonts": "truetype/sjfonts",
    "fonts-rufscript": "truetype/rufscript",
    "fonts-kaushanscript": "opentype/kaushanscript",
}
GLYPH_SIZE = 160


def handwriting_fonts() -> list[Path]:
    """The installed font files of HANDWRITING_FONTS that have a glyph for every digit."""
    from fontTools.ttLib import TTFont

    found = []
    for folder in HANDWRITING_FONTS.values():
        for path in sorted((FONT_ROOT / folder).glob("*.[ot]tf")):
            with TTFont(path, lazy=True) as font:
                mapped = font.getBestCmap() or {}
            if all(ord(str(digit)) in mapped for digit in range(10)):
                found.append(path)
    return found


def font_digits(fonts: list[Path]) -> Kind:
    """Uploads of the digits 0, 1, ..., 9, 0, ... in turn (the i-th shows i % 10), each in one of `fonts`,
    dark on white with a margin of 3 to 15% of its height, 48 to 400 pixels high, as PNG files."""
    loaded = [ImageFont.truetype(str(path), GLYPH_SIZE) for path in fonts]
    counter = itertools.count()

    def draw(rng: np.random.Generator) -> bytes:
        digit = str(next(counter) % 10)
        font = loaded[int(rng.integers(len(loaded)))]
        left, top, right, bottom = font.getbbox(digit)
        margin = round((bottom - top) * rng.uniform(0.03, 0.15))
        image = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), 255)
        ImageDraw.Draw(image).text((margin - left, margin - top), digit, fill=0, font=font)
        height = int(rng.integers(48, 401))
        width = max(1, round(image.width * height / image.height))
        return encode_png(image.resize((width, height), Image.Resampling.LANCZOS))

    return draw


def uci_digits() -> tuple[np.ndarray, np.ndarray] | None:
    """scikit-learn's copy of the UCI digits, ink 0 to 1 (N, 8, 8), and their labels; None without it."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    digits = load_digits()
    return digits.images / 16.0, digits.target.astype(np.int64)


def enlarged_uci(image: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """An 8x8 UCI digit enlarged as a scan of it would be (real_world.enlarged_scan)."""
    return enlarged_scan(image, rng)
