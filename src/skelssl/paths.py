"""Output paths checked before any work: a bad ``--out`` is one line, not a traceback.

Standard library only (the CLI calls these before importing torch).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from skelssl.errors import SkelsslError


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _first_file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` that is a file, not a folder."""
    for parent in path.parents:
        if parent.exists():
            return parent if not parent.is_dir() else None
    return None


def _check_writable(directory: Path, path: Path) -> None:
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise SkelsslError(f"cannot write here: {_reason(error)}", path) from None


def _not_empty(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; an empty name (which would mean the current folder) is an error."""
    if not str(path).strip():
        raise SkelsslError(f"--out is empty: give a {what} name")
    return Path(path).expanduser()


def _kind(path: Path) -> str:
    """What a non-regular ``path`` is, in words (a device, a FIFO, a socket)."""
    mode = path.stat().st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def output_directory(path: str | os.PathLike) -> Path:
    """Create ``path`` (and its parents) as a writable folder, or reuse it; returns it.

    Raises :class:`SkelsslError` naming ``path`` when it is empty, a file (or a device,
    FIFO or socket), lies below a file, or cannot be created or written.
    """
    path = _not_empty(path, "folder")
    if path.exists() and not path.is_dir():
        what = "a file" if path.is_file() else _kind(path)
        raise SkelsslError(f"exists and is {what}, not a folder", path)
    blocking = _first_file_above(path)
    if blocking is not None:
        raise SkelsslError(f"cannot create a folder below the file {blocking}", path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SkelsslError(f"cannot create the folder: {_reason(error)}", path) from None
    _check_writable(path, path)
    return path


def output_file(path: str | os.PathLike) -> Path:
    """Check that the file ``path`` can be written (its folder is created); returns it.

    An existing regular file is replaced later (callers write to a temporary name and
    rename); an empty name, a folder of that name, anything else that exists (a device
    such as ``/dev/null``, a FIFO, a socket: renaming over it would replace it), a file
    among the parents or an unwritable folder is an error.
    """
    path = _not_empty(path, "file")
    if path.is_dir():
        raise SkelsslError("is a folder; give a file name", path)
    if path.exists() and not path.is_file():
        raise SkelsslError(
            f"exists and is {_kind(path)}, not a regular file; give a new file name", path
        )
    blocking = _first_file_above(path)
    if blocking is not None:
        raise SkelsslError(f"cannot create a file below the file {blocking}", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SkelsslError(f"cannot create the folder: {_reason(error)}", path) from None
    _check_writable(path.parent, path)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``<path>.tmp`` and rename it to ``path`` (never half written)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = "; the previous file is intact" if path.is_file() else ""
            raise SkelsslError(f"no space left on device while writing {path}{kept}") from None
        raise SkelsslError(f"cannot write the file: {_reason(error)}", path) from None
    return path


LOCK_FILE = "run.lock"


class RunLock:
    """An exclusive ``fcntl.flock`` on ``<run folder>/run.lock`` (which holds the pid), so
    that two processes never write one run folder. The lock dies with its process, so a
    killed run leaves no stale lock to clear; where ``fcntl`` is missing (Windows) it
    does nothing. A held lock is a :class:`SkelsslError` naming the holder's pid."""

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # no flock on this platform
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise SkelsslError(
                f"cannot create the lock file: {_reason(error)}", self.path
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SkelsslError(
                f"run folder in use by another skelssl process (pid {holder}); wait for it "
                "to end or choose another --out",
                self.path.parent,
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor releases the flock
            self.fd = None
