"""``skelssl convert IN OUT``: any readable input to skelssl's ``.npz`` or a pyskl pickle.

The sequences are copied as read, with no preprocessing: each keeps its own frames
(zero-padded to the longest in the ``.npz``, with ``lengths``), its bodies, coordinates,
label, name and metadata, and every train/test split. So converting a pyskl pickle to
``.npz`` and back gives the same keypoints, labels, names and splits (float32 where pyskl
stored float16), and an ``.npz`` to pyskl and back the same arrays.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from skelssl.data.preprocess import split_masks
from skelssl.data.sources import DataConfig, is_array_file, raw_path, read_raw
from skelssl.data.types import RawDataset, SkeletonData
from skelssl.errors import SkelsslError

OUTPUT_KINDS = (".npz", ".pkl")


def raw_arrays(raw: RawDataset) -> SkeletonData:
    """A reader's sequences as fixed-length arrays without any preprocessing.

    Joints (N, T_max, M_max, V, C) float32, each sequence zero-padded after its frames
    and bodies; ``lengths`` its frame counts.
    """
    if not raw.sequences:
        raise SkelsslError("dataset has no sequences", raw.source)
    frames = max(s.num_frames for s in raw.sequences)
    bodies = max(s.joints.shape[1] for s in raw.sequences)
    _, _, joints_count, channels = raw.sequences[0].joints.shape
    joints = np.zeros((len(raw.sequences), frames, bodies, joints_count, channels), np.float32)
    for i, sequence in enumerate(raw.sequences):
        t, m = sequence.joints.shape[:2]
        joints[i, :t, :m] = sequence.joints
    column = lambda key, dtype: np.array([getattr(s, key) for s in raw.sequences], dtype=dtype)  # noqa: E731
    return SkeletonData(
        joints=joints,
        lengths=column("num_frames", np.int64),
        labels=column("label", np.int64),
        subjects=column("subject", np.int64),
        views=column("view", np.int64),
        setups=column("setup", np.int64),
        performances=np.array([s.performance or s.name for s in raw.sequences], dtype=str),
        names=column("name", str),
        class_names=list(raw.class_names),
        layout=raw.layout,
        source=raw.source,
        splits=split_masks(raw),
        coords=raw.coords,
    )


def read_unprepared(config: DataConfig) -> tuple[SkeletonData, bool]:
    """The input of ``config`` as arrays, unpreprocessed; and whether an input ``.npz``
    said it holds prepared arrays."""
    if is_array_file(config):
        from skelssl.data.readers.arrays import npz_prepared, read_npz

        path = raw_path(config)
        return read_npz(path, layout=config.layout, coords=config.coords), npz_prepared(path)
    return raw_arrays(read_raw(config, quiet=True)), False


def convert(config: DataConfig, out: str | os.PathLike) -> dict:
    """Write the input of ``config`` to ``out`` (``.npz``: skelssl's array format; ``.pkl``:
    a pyskl annotation pickle). Returns a summary (samples, layout, coords, splits)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_KINDS:
        raise SkelsslError(f"output must end in {' or '.join(OUTPUT_KINDS)} (skelssl .npz or "
                           "pyskl .pkl)", out)  # fmt: skip
    if not out.parent.is_dir():
        raise SkelsslError("output folder does not exist", out.parent)
    data, prepared = read_unprepared(config)
    if suffix == ".npz":
        from skelssl.data.readers.arrays import write_npz

        write_npz(data, out, prepared=prepared)
    else:
        from skelssl.data.readers.pyskl import write_pyskl

        write_pyskl(data, out)
    return {
        "path": str(out),
        "samples": len(data),
        "layout": data.layout,
        "coords": data.coords,
        "shape": list(data.shape),
        "splits": list(data.splits),
    }
