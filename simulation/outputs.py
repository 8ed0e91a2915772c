"""Files and folders the project writes: the one output layer.

Every table, figure, report and store file goes through :func:`atomic_write`, so a reader never sees a half-written
file and every output gets the permissions any other file the user creates would get. A run's folder is written
whole or not at all (:class:`StagedFolder`): its files go to a hidden folder beside it that is renamed into place
when everything is written, while a lock keeps a second run out of the same folder. Folders named after a
scenario or experiment stay inside the results folder whatever the name says (:func:`folder_for`).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["OutputError", "ResultsError", "StagedFolder", "atomic_write", "file_mode", "folder_for", "safe_name", "sha256",
           "write_text"]

_UMASK: int | None = None
_MODE: int | None = None  # read once per process; set to None to read the umask again


class OutputError(ValueError):
    """An output path that cannot be used as asked; the message says what to do instead."""


class ResultsError(ValueError):
    """A results folder that cannot be read as asked; the message says what is wrong and what to do."""


def _umask() -> int:
    global _UMASK, _MODE
    if _UMASK is None or _MODE is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
        _MODE = 0o666 & ~_UMASK
    return _UMASK


def file_mode() -> int:
    """Return the permissions of a new file under this process's umask (temporary files start private)."""
    _umask()
    return _MODE


def folder_mode() -> int:
    """Return the permissions of a new folder under this process's umask (temporary folders start private)."""
    return 0o777 & ~_umask()


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


def sha256(path: str | Path) -> str:
    """Return the SHA-256 checksum of a file, as hex (read a megabyte at a time)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text(path: str | Path, text: str) -> Path:
    """Return ``path`` after writing ``text`` to it atomically, as UTF-8."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------------------------------------------
# Folders named after what they hold


def safe_name(name: str) -> str:
    """Return ``name`` as one folder name: letters, digits, ``_``, ``-`` and ``.``, never hidden or empty."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._-")[:100]
    return text or "unnamed"


def folder_for(root: str | Path, name: str) -> Path:
    """Return the folder ``root/NAME`` for a scenario or experiment name, always inside ``root``."""
    root = Path(root)
    folder = root / safe_name(name)
    if os.path.commonpath([os.path.abspath(root), os.path.abspath(folder)]) != os.path.abspath(root):
        raise OutputError(f"the name {name!r} does not give a folder inside {root}; give --out")  # pragma: no cover
    return folder


def _writable_parent(folder: Path) -> Path:
    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{folder}: {parent} is a file, not a folder; choose another --out") from None
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create {parent} ({exc.strerror}); choose another --out") from None
    try:
        read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    if read_only:
        raise OutputError(f"{folder}: {parent} is on a read-only file system; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: cannot write in {parent} (permission denied); choose another --out")
    return parent


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); return False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd = -100
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


class StagedFolder:
    """A results folder written whole or not at all, by one process at a time.

    ``with StagedFolder(out, marker="manifest.json") as staging:`` checks that ``out`` can be written (before
    anything is computed), takes a lock beside it so a second writer is refused, and gives a hidden folder
    beside ``out`` to write into. When the block ends normally the staging folder replaces ``out`` in one
    rename; if it ends with an error the staging folder is removed and ``out`` is left as it was.

    ``out`` may hold an earlier result of the same kind (a ``marker`` file), which the new one replaces; a
    folder holding anything else is refused, so nothing of the user's is ever deleted.
    """

    def __init__(self, out: str | Path, *, marker: str, what: str = "run"):
        self.out = Path(out)
        self.marker = marker
        self.what = what
        self.staging: Path | None = None
        self._lock = None
        self.replaced = False

    def __enter__(self) -> Path:
        out = self.out
        if out.exists() and not out.is_dir():
            raise OutputError(f"--out {out}: exists and is not a folder; choose another path")
        if out.is_dir() and any(out.iterdir()) and not (out / self.marker).is_file():
            raise OutputError(f"--out {out}: the folder holds other files (no {self.marker}); choose an empty or "
                              f"new folder, so nothing in it is overwritten")
        parent = _writable_parent(out)
        self._take_lock(parent)
        for pattern in (f".{out.name}.*.partial", f".{out.name}.*.old"):  # left by a run that was killed
            for stale in parent.glob(pattern):
                shutil.rmtree(stale, ignore_errors=True)
        try:
            self.staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out.name}.", suffix=".partial"))
            os.chmod(self.staging, folder_mode())
        except OSError as exc:
            self._release()
            raise OutputError(f"--out {out}: cannot write in {parent} ({exc.strerror}); choose another --out") from None
        return self.staging

    def _take_lock(self, parent: Path) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        path = parent / f".{self.out.name}.lock"
        try:
            handle = open(path, "a+")  # noqa: SIM115 - held open while the folder is written
        except OSError as exc:
            raise OutputError(f"--out {self.out}: cannot write in {parent} ({exc.strerror}); choose another --out") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise OutputError(f"--out {self.out}: another talentsim {self.what} is writing this folder"
                              f"{f' (process {holder})' if holder else ''}; wait for it to finish, or choose another "
                              "--out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def commit(self) -> Path:
        """Put the staging folder in place of ``out``; return ``out``."""
        staging, out = self.staging, self.out
        if out.exists():
            if not _exchange(staging, out):
                aside = staging.with_suffix(".old")
                os.rename(out, aside)
                os.rename(staging, out)
                staging = aside
            shutil.rmtree(staging, ignore_errors=True)  # the earlier result, now swapped out
            self.replaced = True
        else:
            os.rename(staging, out)
        self.staging = None
        return out

    def __exit__(self, kind, value, tb) -> None:
        try:
            if kind is None and self.staging is not None:
                self.commit()
        finally:
            if self.staging is not None:
                shutil.rmtree(self.staging, ignore_errors=True)
                self.staging = None
            self._release()
