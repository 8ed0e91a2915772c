"""Files the project writes: one atomic write that honours the user's umask.

Every table, figure, report and store file goes through :func:`atomic_write`, so a reader never sees a half-written
file and every output gets the permissions any other file the user creates would get.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_MODE: int | None = None


def file_mode() -> int:
    """Return the permissions of a new file under this process's umask (temporary files start private)."""
    global _MODE
    if _MODE is None:
        mask = os.umask(0o022)
        os.umask(mask)
        _MODE = 0o666 & ~mask
    return _MODE


def atomic_write(path: str | Path, write: Callable[[str], Any]) -> Path:
    """Return ``path`` after writing it by calling ``write(temporary_name)`` and renaming the result into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Return ``path`` after writing ``text`` to it atomically, as UTF-8."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
