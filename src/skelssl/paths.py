"""Output paths checked before any work: a bad ``--out`` is one line, not a traceback.

Standard library only (the CLI calls these before importing torch).
"""

from __future__ import annotations

import os
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


def output_directory(path: str | os.PathLike) -> Path:
    """Create ``path`` (and its parents) as a writable folder, or reuse it; returns it.

    Raises :class:`SkelsslError` naming ``path`` when it is a file, lies below a file, or
    cannot be created or written.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise SkelsslError("exists and is a file, not a folder", path)
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

    An existing file is replaced later (callers write to a temporary name and rename);
    a folder of that name, a file among the parents or an unwritable folder is an error.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise SkelsslError("is a folder; give a file name", path)
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
        raise SkelsslError(f"cannot write the file: {_reason(error)}", path) from None
    return path
