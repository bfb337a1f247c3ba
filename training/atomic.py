"""Write a file under a temporary name in its folder, then rename: never a half-written file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from runtime.errors import OutputError


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, with the usual permissions (0666 less the umask)."""
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(f"cannot write here ({error.strerror})", path) from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
