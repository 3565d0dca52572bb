"""The IDX format of the MNIST files (LeCun & Cortes): big-endian magic, dimensions, then raw bytes.

Only unsigned-byte data (type code 0x08) is used by MNIST and supported here. Files may be gzipped.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from model.dataset_files import IDX_UBYTE, idx_header


class IDXError(ValueError):
    """A file that is not a well-formed IDX file; the message names the file."""


def _open_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise IDXError(f"{path}: corrupt gzip data ({e})") from None
    return raw


def read_idx(path: str | Path, expected_ndim: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (raw or .gz), checked against its header."""
    path = Path(path)
    if not path.is_file():
        raise IDXError(f"{path}: missing")
    data = _open_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or ndim == 0:
        raise IDXError(f"{path}: bad magic number 0x{data[:4].hex()} (not an IDX file)")
    if dtype != IDX_UBYTE:
        raise IDXError(f"{path}: unsupported data type 0x{dtype:02x} (only unsigned bytes, 0x08)")
    if expected_ndim is not None and ndim != expected_ndim:
        raise IDXError(f"{path}: has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: truncated header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    size = int(np.prod(shape, dtype=np.int64))
    body = len(data) - header
    if body != size:
        raise IDXError(f"{path}: header promises {size} bytes of data for shape {shape}, file has {body}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as IDX; gzipped when the name ends in .gz."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = idx_header(array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)
