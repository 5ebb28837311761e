"""Which reader a ``--data PATH`` needs, told from its extension and content.

================  =============================================  ==========================
format            what it is                                     recognised by
================  =============================================  ==========================
``skelssl``       skelssl's array ``.npz`` (readers/arrays.py)   ``.npz`` with ``joints``
``ctr-gcn``       CTR-GCN / MAMP NTU ``.npz`` (readers/ctrgcn)   ``.npz`` with ``x_train``
``pyskl``         pyskl / mmaction2 annotation pickle (pyskl)    ``.pkl`` / ``.pickle``
``feeder``        AimCLR / CrosSCLR / ST-GCN feeder folder       a folder with
                  (readers/feeder.py)                            ``train_label.pkl``
================  =============================================  ==========================

What the content means (layout from V, channels from C, the score) is decided by
:mod:`skelssl.data.interpret`, shared by the readers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from skelssl.errors import SkelsslError

FILE_FORMATS = ("skelssl", "ctr-gcn", "pyskl", "feeder")
PICKLE_SUFFIXES = (".pkl", ".pickle")


def is_file_source(name: str) -> bool:
    """True when a data name is a path (a file in one of :data:`FILE_FORMATS` or a folder)."""
    lowered = name.lower()
    return (
        lowered.endswith((".npz", *PICKLE_SUFFIXES))
        or "/" in name
        or Path(name).expanduser().is_dir()
    )


def detect_format(path: str | Path) -> str:
    """One of :data:`FILE_FORMATS` for ``path``; :class:`SkelsslError` naming it otherwise."""
    path = Path(path)
    if path.is_dir():
        from skelssl.data.readers.feeder import feeder_files

        if feeder_files(path, "train")[0] is not None or (path / "train_label.pkl").is_file():
            return "feeder"
        raise SkelsslError(
            "a data folder must hold AimCLR/ST-GCN feeder files: train_label.pkl, "
            "train_data.npy (or train_data_joint.npy, train_position.npy), val_*",
            path,
        )
    if not path.is_file():
        raise SkelsslError("data file not found", path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return "pyskl"
    if suffix == ".npz":
        keys = npz_keys(path)
        if "joints" in keys:
            return "skelssl"
        if {"x_train", "x_test"} & keys:
            return "ctr-gcn"
        raise SkelsslError(
            f"an .npz with keys {', '.join(sorted(keys)) or '(none)'}: neither skelssl's "
            "(joints, lengths, labels) nor CTR-GCN's (x_train, y_train, x_test, y_test)",
            path,
        )
    raise SkelsslError(f"unknown data file type {suffix or '(none)'!r} "
                       "(known: .npz, .pkl, or a feeder folder)", path)  # fmt: skip


def npz_keys(path: Path) -> set[str]:
    """The array names in an ``.npz`` (nothing loaded)."""
    if not zipfile.is_zipfile(path):
        raise SkelsslError("not an .npz archive (not a zip file)", path)
    with zipfile.ZipFile(path) as archive:
        return {name.removesuffix(".npy") for name in archive.namelist()}


def read_file_source(path: str | Path, config, *, quiet: bool = False) -> tuple:
    """(format, RawDataset or SkeletonData) of a file source; ``config`` a DataConfig.

    skelssl's ``.npz`` comes back as :class:`SkeletonData` (fixed length already); the
    other formats as a :class:`RawDataset` of variable-length sequences.
    """
    path = Path(path)
    from skelssl.data.interpret import check_score_mode

    kind = detect_format(path)
    check_score_mode(config.score)
    if kind == "skelssl":
        from skelssl.data.readers.arrays import read_npz

        return kind, read_npz(path, layout=config.layout, coords=config.coords)
    if kind == "pyskl":
        from skelssl.data.readers.pyskl import read_pyskl

        return kind, read_pyskl(path, layout=config.layout, coords=config.coords,
                                score=config.score, quiet=quiet)  # fmt: skip
    if kind == "feeder":
        from skelssl.data.readers.feeder import read_feeder

        return kind, read_feeder(path, layout=config.layout, coords=config.coords,
                                 score=config.score)  # fmt: skip
    from skelssl.data.readers.ctrgcn import read_ctrgcn

    return kind, read_ctrgcn(path, layout=config.layout, coords=config.coords)
