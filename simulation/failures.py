"""What the command line says when something goes wrong: one line per problem, and a documented exit code.

Mistakes in the input (exit code 2) name the file, key path and what is allowed; failures of the system (a
full disk, memory, a closed pipe: exit code 1) say what happened and what to do; anything else is a bug of
ours, reported with its traceback (exit code 1).
"""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "print_problems", "reporting"]

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def reporting(command: Callable[[], int], bad_input: tuple[type[BaseException], ...] = ()) -> int:
    """Return the exit code of ``command()``, turning every mistake and every failure of the system into one line.

    ``bad_input`` names further exception types whose message is the whole story (exit code 2).
    """
    try:
        return _reporting(command, bad_input)
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:  # while a problem was being reported
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _reporting(command: Callable[[], int], bad_input: tuple[type[BaseException], ...]) -> int:
    try:
        code = command()
        if sys.stdout is not None:
            sys.stdout.flush()  # here, not at exit, so that a reader who went away is a closed pipe, not a traceback
        return code
    except KeyboardInterrupt:
        print("interrupted; nothing was written for the run in progress, and finished results are kept",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - each is explained; what cannot be is reported as ours
        if _interrupted(exc):  # Ctrl-C inside a library that wrapped it (e.g. during an import)
            print("interrupted; nothing was written for the run in progress, and finished results are kept",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        return _explain(exc, bad_input)


def _interrupted(exc: BaseException) -> bool:
    """Return whether a KeyboardInterrupt lies in the cause or context chain of ``exc``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _explain(exc: Exception, bad_input: tuple[type[BaseException], ...]) -> int:
    """Print what went wrong (called while ``exc`` is being handled); return the exit code."""
    from .inputs import InputError  # imported only now, so that starting the command stays quick
    from .outputs import OutputError, ResultsError
    from .resources import NotEnoughMemory

    if isinstance(exc, InputError):
        print_problems(exc)
        return EXIT_BAD_INPUT
    if isinstance(exc, FileNotFoundError) and exc.filename:
        print(f"error: {exc.filename}: no such file or folder; check the path", file=sys.stderr)
        return EXIT_BAD_INPUT
    if isinstance(exc, (*bad_input, OutputError, ResultsError, NotEnoughMemory, FileNotFoundError)):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if isinstance(exc, MemoryError):
        print("error: out of memory; simulate fewer researchers (--researchers) or fewer replicates at once, or "
              "use a machine with more memory. Finished results are kept.", file=sys.stderr)
        return EXIT_INTERNAL
    if isinstance(exc, OSError):
        code = _os_error(exc)
        if code is not None:
            return code
    return _internal_error()


def _internal_error() -> int:
    traceback.print_exc()
    print("internal error: this is a bug in talentsim, not in your input; please report it with the "
          "traceback above", file=sys.stderr)
    return EXIT_INTERNAL


def _os_error(exc: OSError) -> int | None:
    """Print one line for a failure of the system (disk full, permission denied...); return the exit code."""
    where = exc.filename or "a file"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        print(f"error: no space left writing {where} (disk full, quota or file-size limit); free space or choose "
              "another --out. Nothing half-written was left, and finished results are kept.", file=sys.stderr)
        return EXIT_INTERNAL
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "the file system is read-only" if exc.errno == errno.EROFS else "permission denied"
        print(f"error: cannot write {where}: {what}; choose another path (e.g. --out in your home folder).",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP):
        print(f"error: {where}: {exc.strerror}; choose another path", file=sys.stderr)
        return EXIT_BAD_INPUT
    if exc.errno == errno.ENOMEM:
        print("error: out of memory; simulate fewer researchers or replicates at once. Finished results are kept.",
              file=sys.stderr)
        return EXIT_INTERNAL
    if exc.errno == errno.EIO:
        print(f"error: the disk failed reading or writing {where} (input/output error); check the disk, then run "
              "again. Finished results are kept.", file=sys.stderr)
        return EXIT_INTERNAL
    return None


def _broken_pipe() -> int:
    """The reader of our output went away (e.g. ``talentsim schema | head``): stop quietly."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail again
    except (OSError, ValueError):
        pass
    return EXIT_INTERNAL


def print_problems(exc) -> None:
    """Print every problem of an input file, one a line, under a line that counts them."""
    count = len(exc.problems)
    print(f"error: {count} problem{'s' if count != 1 else ''} in the {exc.what}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    if getattr(exc, "checks_pending", False):
        later = ("names of regions and employers, shares and schedule order" if exc.what == "scenario"
                 else "the checks that need a well-formed file")
        print(f"note: {later} are checked once these are fixed", file=sys.stderr)
