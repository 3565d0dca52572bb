"""Downloads (GET /v1/dataset): the file name the service gives, and files written whole or not at all."""

from __future__ import annotations

import email.message
import os
import tempfile
from pathlib import Path
from types import TracebackType

import httpx


def attachment_name(response: httpx.Response) -> str | None:
    """The file name of Content-Disposition, without any directory part a server might put in it."""
    header = response.headers.get("Content-Disposition")
    if not header:
        return None
    message = email.message.Message()
    message["Content-Disposition"] = header  # the stdlib parser knows RFC 2231's filename*=
    name = message.get_filename()
    return (Path(name).name or None) if name else None


class PartialFile:
    """A download written to a temporary file beside its destination and renamed onto it only once
    complete, so that an interrupted transfer never leaves a truncated file under the real name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        self._temporary = Path(temporary)
        self._file = os.fdopen(handle, "wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._file.close()
        if kind is None:
            # mkstemp's file is private (0600); the download gets what any new file of the user's gets.
            os.chmod(self._temporary, 0o666 & ~_umask())
            os.replace(self._temporary, self.path)
        else:
            self._temporary.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (reading it means setting it: set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
