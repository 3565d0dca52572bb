"""The output directory of a tool, checked before any work is spent on what it will hold."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


class OutputDirectoryError(OSError):
    """The output directory cannot take what the tool writes; found before any training time is spent."""


# A checkpoint, its resume state and figures take about 20 MB; less free space than this fails at once.
MIN_FREE_BYTES = 64 * 1024 * 1024


def check_output_directory(directory: str | Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Create `directory` and write a file in it, and check its free space, so that a bad --out fails in a
    second instead of after the first epoch; raises OutputDirectoryError."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
        free = shutil.disk_usage(directory).free
    except OSError as e:
        raise OutputDirectoryError(f"cannot write to {directory}: {e.strerror or e}") from None
    if free < min_free_bytes:
        raise OutputDirectoryError(
            f"{directory} has {free // 2**20} MB free, less than the {min_free_bytes // 2**20} MB a run needs"
        )
