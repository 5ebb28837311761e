"""CTR-GCN / MAMP NTU ``.npz`` files (CTR-GCN's ``data/ntu/seq_transformation.py``).

Keys ``x_train`` ``(N, T, 150)`` float32 (300 frames for NTU; 150 = 2 bodies x 25 joints
x xyz, the second body zero when there is one), ``y_train`` ``(N, K)`` one-hot (float64
as written; integer labels ``(N,)`` are accepted too), ``x_test``, ``y_test``. Told apart
from skelssl's own ``.npz`` by these keys. A sequence's length is its frames up to the
last non-zero one; train and test make the split ``given``. The file has no sample names
(``train000000``, ``test000000``, ...) and no subjects or cameras; K = 60 or 120 gives
NTU's class names. Loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from skelssl.data.interpret import check_finite, resolve_coords, resolve_layout
from skelssl.data.types import RawDataset, Sequence
from skelssl.errors import SkelsslError

KEYS = ("x_train", "y_train", "x_test", "y_test")
JOINTS = 25  # NTU's Kinect v2 joints, xyz each
CHANNELS = 3


def read_ctrgcn(
    path: str | os.PathLike, *, layout: str | None = None, coords: str | None = None
) -> RawDataset:
    """The sequences of a CTR-GCN ``.npz`` (module docstring). :class:`SkelsslError`
    naming the file for a missing key, a last axis that is not a multiple of 75 (25 joints
    x xyz), labels that are not one-hot or are outside 0..K-1, NaN or an all-zero sample."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in KEYS if key not in archive.files]
            if missing:
                raise SkelsslError(f"missing key(s) {', '.join(missing)} (a CTR-GCN .npz has "
                                   f"{', '.join(KEYS)})", path)  # fmt: skip
            arrays = {key: archive[key] for key in KEYS}
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise SkelsslError(f"not a readable .npz archive: {error}", path) from None
    classes = _class_count(arrays, path)
    sequences = []
    for part in ("train", "test"):
        x = arrays[f"x_{part}"]
        labels = _labels(arrays[f"y_{part}"], len(x), classes, f"y_{part}", path)
        sequences += _sequences(x, labels, part, path)
    layout_name = resolve_layout(JOINTS, layout, path)
    kind = resolve_coords(CHANNELS, layout_name, coords, path)
    if classes == 60:
        from skelssl.data.readers.ntu import CLASS_NAMES_60 as names
    elif classes == 120:
        from skelssl.data.readers.ntu import CLASS_NAMES_120 as names
    else:
        names = [f"class{k}" for k in range(classes)]
    return RawDataset(sequences, list(names), layout_name, str(path), {"given": _is_train},
                      coords=kind)  # fmt: skip


def _is_train(sequence: Sequence) -> bool:
    return sequence.split == "train"


def _class_count(arrays: dict, path: Path) -> int:
    ys = [arrays["y_train"], arrays["y_test"]]
    if all(y.ndim == 2 for y in ys):
        if ys[0].shape[1] != ys[1].shape[1]:
            raise SkelsslError(f"y_train has {ys[0].shape[1]} classes, y_test "
                               f"{ys[1].shape[1]}", path)  # fmt: skip
        return int(ys[0].shape[1])
    top = max(int(np.max(y)) if y.size else -1 for y in ys)
    return top + 1


def _labels(y: np.ndarray, count: int, classes: int, key: str, path: Path) -> np.ndarray:
    """(N,) int64 class indices from one-hot rows (or integer labels)."""
    if y.shape[0] != count:
        raise SkelsslError(f"{key} has {y.shape[0]} rows, x has {count} samples", path)
    if y.ndim == 2:
        if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all():
            raise SkelsslError(f"{key} must be finite numbers", path)
        ones = (y == 1).sum(axis=1)
        zeros = (y == 0).sum(axis=1)
        bad = np.flatnonzero((ones != 1) | (ones + zeros != y.shape[1]))
        if bad.size:
            raise SkelsslError(f"{key} row {bad[0]} is not one-hot (a label outside the "
                               f"{classes} classes?)", path)  # fmt: skip
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise SkelsslError(f"{key} must be one-hot (N, K) or integer labels (N,)", path)
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise SkelsslError(f"{key}: label {int(y.min() if y.min() < 0 else y.max())} "
                           f"outside the classes 0..{classes - 1}", path)  # fmt: skip
    return y.astype(np.int64)


def _sequences(x: np.ndarray, labels: np.ndarray, part: str, path: Path) -> list[Sequence]:
    if x.ndim != 3 or x.shape[2] == 0 or x.shape[2] % (JOINTS * CHANNELS):
        raise SkelsslError(f"x_{part} must be (N, T, M x 25 x 3), got {x.shape}", path)
    if not np.issubdtype(x.dtype, np.number):
        raise SkelsslError(f"x_{part} must be numbers, got dtype {x.dtype}", path)
    bodies = x.shape[2] // (JOINTS * CHANNELS)
    sequences = []
    for i in range(len(x)):
        sample = np.asarray(x[i], dtype=np.float32)  # (T, M*V*C)
        check_finite(sample, f"x_{part}[{i}]", path)
        nonzero = np.flatnonzero(np.abs(sample).max(axis=1) > 0)
        if nonzero.size == 0:
            raise SkelsslError(f"x_{part}[{i}] is all zeros", path)
        joints = sample[: nonzero[-1] + 1].reshape(-1, bodies, JOINTS, CHANNELS)
        name = f"{part}{i:06d}"
        sequences.append(Sequence(joints=joints, label=int(labels[i]), name=name,
                                  performance=name, split=part))  # fmt: skip
    return sequences
