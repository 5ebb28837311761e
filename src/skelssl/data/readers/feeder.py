"""AimCLR / CrosSCLR / ST-GCN feeder folders: ``{train,val}_data.npy`` + ``{train,val}_label.pkl``.

What AimCLR's ``tools/ntu_gendata.py`` (and ST-GCN's, CrosSCLR's) writes for each part:

- ``<part>_data.npy`` (or ``<part>_data_joint.npy``, ``<part>_position.npy``):
  ``(N, C, T, V, M)`` float32, zero after each clip's last frame (300 frames for NTU);
- ``<part>_label.pkl``: a pickled ``(sample_names, labels)`` pair of lists (names such as
  ``S001C001P001R001A001.skeleton``; labels 0-based ints).

A sequence's length is its frames up to the last non-zero one; ``train`` and ``val`` make
the split ``given``. NTU-style names give subject, camera, setup and NTU's class names.
The ``.npy`` is read with ``allow_pickle=False`` and the label file with the restricted
unpickler (:mod:`skelssl.data.safe_pickle`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from skelssl.data.interpret import (
    check_finite,
    check_label,
    interpret_sequences,
    set_ntu_metadata,
)
from skelssl.data.readers.ntu import class_names_for
from skelssl.data.safe_pickle import load_pickle
from skelssl.data.types import RawDataset, Sequence
from skelssl.errors import SkelsslError

PARTS = ("train", "val")
FEEDER_DATA_NAMES = ("{part}_data.npy", "{part}_data_joint.npy", "{part}_position.npy")


def feeder_files(folder: Path, part: str) -> tuple[Path | None, Path]:
    """The data ``.npy`` (first of :data:`FEEDER_DATA_NAMES` present, else None) and the
    label ``.pkl`` of one part (``train``/``val``) of a feeder folder."""
    for pattern in FEEDER_DATA_NAMES:
        candidate = folder / pattern.format(part=part)
        if candidate.is_file():
            return candidate, folder / f"{part}_label.pkl"
    return None, folder / f"{part}_label.pkl"


def read_feeder(
    folder: str | os.PathLike,
    *,
    layout: str | None = None,
    coords: str | None = None,
    score: str = "channel",
) -> RawDataset:
    """The sequences of a feeder folder (module docstring); split ``given`` when both parts
    are there. :class:`SkelsslError` naming the file for a missing file, a shape that is not
    (N, C, T, V, M), names/labels not matching N, a bad label or NaN."""
    folder = Path(folder)
    sequences, labels, shape = [], [], None
    parts_found = []
    for part in PARTS:
        data_path, label_path = feeder_files(folder, part)
        if data_path is None and not label_path.is_file():
            continue
        if data_path is None:
            raise SkelsslError(f"{label_path.name} has no {part}_data.npy beside it", folder)
        if not label_path.is_file():
            raise SkelsslError(f"{data_path.name} has no {part}_label.pkl beside it", folder)
        part_sequences = _read_part(data_path, label_path, part)
        part_shape = part_sequences[0].joints.shape[2:]
        if shape is not None and part_shape != shape:
            raise SkelsslError(f"(V, C) = {part_shape} differs from the train part's {shape}",
                               data_path)  # fmt: skip
        shape = part_shape
        sequences += part_sequences
        labels += [s.label for s in part_sequences]
        parts_found.append(part)
    if not sequences:
        raise SkelsslError("no feeder files (train_data.npy + train_label.pkl)", folder)
    layout_name, final = interpret_sequences(sequences, layout, coords, score, folder)
    class_names = class_names_for(labels, [s.name for s in sequences])
    splits = {"given": _is_train} if parts_found == list(PARTS) else {}
    return RawDataset(sequences, class_names, layout_name, str(folder), splits, coords=final)


def _is_train(sequence: Sequence) -> bool:
    return sequence.split == "train"


def _read_part(data_path: Path, label_path: Path, part: str) -> list[Sequence]:
    try:
        data = np.load(data_path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as error:
        raise SkelsslError(f"not a readable .npy array: {error}", data_path) from None
    if data.ndim != 5 or min(data.shape) == 0:
        raise SkelsslError(f"data must have shape (N, C, T, V, M), got {data.shape}", data_path)
    if not np.issubdtype(data.dtype, np.number):
        raise SkelsslError(f"data must be numbers, got dtype {data.dtype}", data_path)
    names, labels = _labels(label_path, len(data))
    sequences = []
    for i in range(len(data)):
        sample = np.asarray(data[i], dtype=np.float32)  # (C, T, V, M)
        check_finite(sample, f"sample {i} ({names[i]})", data_path)
        nonzero = np.flatnonzero(np.abs(sample).reshape(sample.shape[0], sample.shape[1], -1)
                                 .max(axis=(0, 2)) > 0)  # fmt: skip
        if nonzero.size == 0:
            raise SkelsslError(f"sample {i} ({names[i]}) is all zeros", data_path)
        joints = sample[:, : nonzero[-1] + 1].transpose(1, 3, 2, 0)  # (T, M, V, C)
        label = check_label(labels[i], f"sample {i} ({names[i]})", label_path)
        name = names[i].removesuffix(".skeleton")
        sequence = Sequence(joints=np.ascontiguousarray(joints), label=label, name=name,
                            split="train" if part == "train" else "test")  # fmt: skip
        set_ntu_metadata(sequence)
        sequences.append(sequence)
    return sequences


def _labels(label_path: Path, count: int) -> tuple[list[str], list]:
    content = load_pickle(label_path)
    if not isinstance(content, (tuple, list)) or len(content) != 2:
        raise SkelsslError("expected a pickled (sample_names, labels) pair", label_path)
    names, labels = (list(part) if isinstance(part, (list, tuple, np.ndarray)) else None
                     for part in content)  # fmt: skip
    if names is None or labels is None:
        raise SkelsslError("expected a pickled (sample_names, labels) pair of lists", label_path)
    if len(names) != count or len(labels) != count:
        raise SkelsslError(f"{len(names)} names and {len(labels)} labels for {count} samples "
                           "in the data file", label_path)  # fmt: skip
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    if not all(isinstance(n, str) for n in names):
        raise SkelsslError("sample names must be strings", label_path)
    return names, labels
