"""Sampling from prepared data: torch datasets, multi-view sampling, label fractions.

:class:`TorchSkeletonDataset` turns :class:`~skelssl.data.types.SkeletonData` rows into
dicts of tensors; :class:`MultiViewDataset` draws two camera views of one performance
(Skeleton BYOL's multi-viewpoint sampling); :func:`labelled_rows` is the one
class-balanced label sample every evaluation protocol uses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from skelssl.data.preprocess import body_presence, median_bone_length
from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.skeleton import get_layout


class TorchSkeletonDataset(Dataset):
    """Items are dicts of tensors, one sample each (the default collate stacks them):

    - ``joints``: (T, M, V, C) float32, a copy of the (possibly memory-mapped) row
    - ``lengths``: () int64 valid frames
    - ``labels``: () int64 class index
    - ``index``: () int64 row in ``data``
    """

    def __init__(self, data: SkeletonData):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        joints = np.array(self.data.joints[index], dtype=np.float32)  # copy: memmaps are read-only
        return {
            "joints": torch.from_numpy(joints),
            "lengths": torch.tensor(int(self.data.lengths[index]), dtype=torch.int64),
            "labels": torch.tensor(int(self.data.labels[index]), dtype=torch.int64),
            "index": torch.tensor(int(index), dtype=torch.int64),
        }


class MultiViewDataset(Dataset):
    """Multi-viewpoint sampling: one item per performance, two camera views drawn with
    replacement (one view where only one exists).

    Items: ``joints``, ``lengths``, ``labels``, ``index`` of the first view and
    ``joints_other_view``, ``lengths_other_view``, ``index_other_view`` of the second.
    The draw depends only on ``(seed, epoch, item)``: :meth:`set_epoch` before each epoch.
    """

    def __init__(self, data: SkeletonData, seed: int = 0):
        self.samples = TorchSkeletonDataset(data)
        self.groups = performance_groups(data)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.groups)

    def views(self, item: int) -> tuple[int, int]:
        """Dataset rows of the two views drawn for performance ``item`` this epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, item])
        first, second = rng.choice(self.groups[item], size=2, replace=True)
        return int(first), int(second)

    def __getitem__(self, item: int) -> dict[str, Tensor]:
        first, second = self.views(item)
        sample = self.samples[first]
        other = self.samples[second]
        sample["joints_other_view"] = other["joints"]
        sample["lengths_other_view"] = other["lengths"]
        sample["index_other_view"] = other["index"]
        return sample


def check_label_fraction(fraction: float) -> None:
    """Raise :class:`SkelsslError` unless ``0 < fraction <= 1``."""
    if not 0 < fraction <= 1:
        raise SkelsslError(f"label fraction must be in (0, 1], got {fraction}")


def label_fraction_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Class-balanced sample: ``round(fraction * count)`` (at least 1) indices per class.

    Rounding is half-up. Deterministic by ``seed``; for one seed, a smaller fraction's
    sample is a subset of a larger one's. Returns sorted int64 indices into ``labels``.
    """
    check_label_fraction(fraction)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        keep = max(1, int(np.floor(fraction * members.size + 0.5)))
        chosen.append(rng.permutation(members)[:keep])
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def performance_groups(data: SkeletonData) -> list[np.ndarray]:
    """Indices of the samples of each performance (one take, several cameras).

    Groups are ordered by first occurrence, indices ascending; a sample with an empty
    ``performance`` is a group of its own.
    """
    groups: dict[str, list[int]] = {}
    for i, performance in enumerate(np.asarray(data.performances, dtype=str).tolist()):
        groups.setdefault(performance or f"\0sample {i}", []).append(i)
    return [np.array(members, dtype=np.int64) for members in groups.values()]


def labelled_rows(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The labelled rows of a training split: all of them (``arange``) at fraction 1, else
    :func:`label_fraction_indices`; sorted int64."""
    check_label_fraction(fraction)
    if fraction == 1:
        return np.arange(len(labels), dtype=np.int64)
    return label_fraction_indices(labels, fraction, seed)


def bodies_per_sample(data: SkeletonData, chunk: int = 1024) -> np.ndarray:
    """Number of bodies present in any frame of each sample, (N,) int64 (read in chunks)."""
    counts = np.zeros(len(data), dtype=np.int64)
    for start in range(0, len(data), chunk):
        block = np.asarray(data.joints[start : start + chunk])
        counts[start : start + chunk] = np.any(block != 0, axis=(1, 3, 4)).sum(axis=1)
    return counts


def _length_summary(lengths: np.ndarray) -> dict:
    return {
        "min": int(lengths.min()) if lengths.size else 0,
        "median": float(np.median(lengths)) if lengths.size else 0.0,
        "max": int(lengths.max()) if lengths.size else 0,
    }


def _median_bone(data: SkeletonData, chunk: int = 1024) -> float | None:
    """Median over clips of each clip's median bone length (metres after ``units=auto``;
    None if empty), read in chunks as :func:`bodies_per_sample` does (a memmapped dataset)."""
    layout = get_layout(data.layout)
    lengths = np.concatenate([np.zeros(0)] + [
        median_bone_length(block, layout, body_presence(block))
        for block in (np.asarray(data.joints[i : i + chunk]) for i in range(0, len(data), chunk))
    ])  # fmt: skip
    finite = lengths[np.isfinite(lengths)]
    return round(float(np.median(finite)), 3) if finite.size else None


def describe(data: SkeletonData, raw_lengths: np.ndarray | None = None) -> dict:
    """A JSON-able summary for ``skelssl info``: sizes, classes, lengths, bodies, splits.

    ``lengths`` are the valid frames after preprocessing (of ``frames`` = T);
    ``raw_lengths`` the frames as recorded (None when unknown, e.g. an ``.npz`` source).
    """
    lengths = np.asarray(data.lengths)
    labels = np.asarray(data.labels)
    class_counts = (
        np.bincount(labels, minlength=data.num_classes)
        if len(data)
        else np.zeros(data.num_classes, int)
    )
    bodies = bodies_per_sample(data)
    known_ids = {
        name: int(np.unique(values[values >= 0]).size)
        for name, values in (
            ("subjects", data.subjects),
            ("views", data.views),
            ("setups", data.setups),
        )
    }
    return {
        "source": data.source,
        "layout": data.layout,
        "coordinates": {"xyz": "3D (xyz)", "xy": "2D (xy)", "xy+score": "2D (xy + score)"}.get(
            data.coords, data.coords
        ),
        "samples": len(data),
        "shape": list(data.shape),
        **({"median_bone": _median_bone(data)} if data.coords == "xyz" else {}),
        "classes": {name: int(count) for name, count in zip(data.class_names, class_counts)},
        "frames": int(data.shape[1]),
        "raw_lengths": None if raw_lengths is None else _length_summary(np.asarray(raw_lengths)),
        "lengths": _length_summary(lengths),
        "bodies": {
            "max": int(data.shape[2]),
            "samples_by_count": {
                int(k): int(v) for k, v in zip(*np.unique(bodies, return_counts=True))
            },
        },
        **known_ids,
        "performances": len(performance_groups(data)),
        "splits": {
            name: {"train": int(mask.sum()), "test": int((~mask).sum())}
            for name, mask in data.splits.items()
        },
    }
