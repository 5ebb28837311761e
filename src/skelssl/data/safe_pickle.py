"""Reading pickles without running their code.

The field's annotation files (pyskl/mmaction2 ``.pkl``, AimCLR's ``*_label.pkl``) are
pickles, and ``pickle.load`` on a file from the internet runs whatever callable the file
names. :func:`load_pickle` reads them with an unpickler whose ``find_class`` admits only:

- built-in containers: ``list``, ``dict``, ``tuple``, ``set``, ``frozenset``,
  ``bytearray``, ``collections.OrderedDict``, ``collections.defaultdict`` (without a
  factory it cannot call anything but these);
- NumPy arrays, dtypes and scalars: ``numpy.ndarray``, ``numpy.dtype``,
  ``numpy[._]core.multiarray._reconstruct`` / ``scalar``, ``numpy[._]core.numeric._frombuffer``
  and NumPy's scalar types;
- ``_codecs.encode`` for Latin-1 text only (how protocol-2 pickles, such as mmcv's,
  carry bytes under Python 3), wrapped so that no other codec is reachable.

Strings, numbers, booleans and None need no global. Anything else, ``builtins.open``,
``eval``, ``exec``, ``getattr``, ``os.system`` among them, ends the read with a
:class:`~skelssl.errors.SkelsslError` naming the file and the refused global before any of
it is called; persistent ids are refused too. There is no switch to trust a pickle.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from skelssl.errors import SkelsslError

_CONTAINERS = {
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("__builtin__", "set"),  # protocol-2 pickles written by Python 2
    ("__builtin__", "frozenset"),
}
_NUMPY = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` restricted to the Latin-1 text protocol-2 pickles carry bytes in."""
    if encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _is_numpy_scalar_type(module: str, name: str) -> bool:
    if module != "numpy":
        return False
    value = getattr(np, name, None)
    return isinstance(value, type) and issubclass(value, np.generic)


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global outside the admitted set."""

    def __init__(self, qualified_name: str):
        self.qualified_name = qualified_name
        super().__init__(qualified_name)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals listed in the module docstring."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) in _CONTAINERS or (module, name) in _NUMPY:
            return super().find_class(module, name)
        if _is_numpy_scalar_type(module, name):
            return getattr(np, name)
        raise RefusedGlobal(f"{module}.{name}")

    def persistent_load(self, pid):
        raise RefusedGlobal(f"persistent id {pid!r}")


def loads_restricted(data: bytes, path: str | os.PathLike = "<bytes>"):
    """:func:`load_pickle` on bytes in memory."""
    return _load(io.BytesIO(data), path)


def load_pickle(path: str | os.PathLike):
    """The object in the pickle ``path``, read with :class:`RestrictedUnpickler`.

    Raises :class:`SkelsslError` naming the file: refused global (nothing of it runs),
    truncated or not a pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise SkelsslError("file not found", path)
    with open(path, "rb") as handle:
        return _load(handle, path)


def _load(handle, path):
    try:
        return RestrictedUnpickler(handle).load()
    except RefusedGlobal as refused:
        raise SkelsslError(
            f"refused to unpickle {refused.qualified_name}: annotation pickles may hold only "
            "containers, numbers, strings and NumPy arrays (nothing of the file was run)",
            path,
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, OverflowError, UnicodeDecodeError) as error:  # fmt: skip
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SkelsslError(f"not a readable pickle: {detail}", path) from None
