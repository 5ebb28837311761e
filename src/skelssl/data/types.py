"""The two data records every part of skelssl speaks.

:class:`Sequence`
    One raw, variable-length sequence as a reader produces it: joints ``(T, M, V, C)``
    float32 plus metadata.
:class:`SkeletonData`
    A whole dataset after preprocessing: fixed-length, zero-padded arrays
    ``joints (N, T, M, V, C)`` (possibly a read-only ``np.memmap``), per-sample metadata
    arrays, class names, the layout and the named splits (train/test masks computed
    from metadata alone).

Channel meaning (``coords``): ``xyz`` (3D, C = 3), ``xy`` (2D pixels or normalised
image coordinates, C = 2) or ``xy+score`` (2D with the pose estimator's confidence as a
third channel, C = 3). Every step that needs depth asks for it.

Metadata conventions: integers are ``-1`` where unknown; ``performance`` is a string that
is equal for the recordings of one take seen by several cameras (multi-viewpoint
sampling groups by it); ``name`` is the file stem or a unique id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np

from skelssl.errors import SkelsslError

COORDS = ("xyz", "xy", "xy+score")
COORD_CHANNELS = {"xyz": 3, "xy": 2, "xy+score": 3}


def check_coords(coords: str, channels: int, where: str | None = None) -> None:
    """Raise unless ``coords`` is known and has ``channels`` channels."""
    if coords not in COORD_CHANNELS:
        raise SkelsslError(f"unknown coords {coords!r} (known: {', '.join(COORDS)})", where)
    if COORD_CHANNELS[coords] != channels:
        raise SkelsslError(
            f"coords {coords} means C = {COORD_CHANNELS[coords]}, the joints have C = {channels}",
            where,
        )


@dataclass
class Sequence:
    """One variable-length sequence. ``joints`` has shape (T, M, V, C), float32."""

    joints: np.ndarray
    label: int
    name: str
    subject: int = -1
    view: int = -1
    setup: int = -1
    performance: str = ""
    split: str = ""  # "train"/"test" when the source fixes it (array format), else ""

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


@dataclass
class RawDataset:
    """What a reader returns: raw sequences plus what is needed to prepare them.

    ``splits`` maps a split name (``xview``, ``xsub``, ...) to a predicate on a
    :class:`Sequence` that is True for training samples; the first one is the default.
    """

    sequences: list[Sequence]
    class_names: list[str]
    layout: str
    source: str
    splits: dict[str, Callable[[Sequence], bool]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # "file: problem" of skipped bad files
    coords: str = "xyz"  # what the C channels mean: xyz | xy | xy+score


class RowSubset:
    """Rows ``index`` of a memory-mapped (N, ...) array, read only when indexed.

    What :meth:`SkeletonData.subset` keeps instead of copying the rows of a memmap, so a
    training split of a dataset larger than RAM stays on disk. Indexing (an int, a slice
    or an index array) returns a NumPy array; ``np.asarray`` reads every row.
    """

    def __init__(self, base, index: np.ndarray):
        self.base, self.index = base, np.asarray(index, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.base.shape[1:])

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self) -> int:
        return self.base.ndim

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item):
        rows = self.index[item]
        if np.ndim(rows) == 0:
            return np.asarray(self.base[int(rows)])
        order = np.argsort(rows, kind="stable")  # read the file forwards, then restore order
        values = np.asarray(self.base[rows[order]])
        restored = np.empty_like(values)
        restored[order] = values
        return restored

    def __array__(self, dtype=None, copy=None):
        values = self[:]
        return values if dtype is None else values.astype(dtype, copy=False)


def _take_rows(array, index: np.ndarray):
    """``array[index]``; lazily for memory-mapped arrays (see :class:`RowSubset`)."""
    if isinstance(array, RowSubset):
        return RowSubset(array.base, array.index[index])
    if isinstance(array, np.memmap):
        return RowSubset(array, index)
    return array[index]


_PER_SAMPLE = (
    "joints",
    "lengths",
    "labels",
    "subjects",
    "views",
    "setups",
    "performances",
    "names",
)


@dataclass
class SkeletonData:
    """A preprocessed dataset: fixed-length arrays and per-sample metadata.

    Attributes:
        joints: (N, T, M, V, C) float32, zero-padded after ``lengths[i]`` frames.
        lengths: (N,) int64 valid frames per sample (1..T).
        labels: (N,) int64 class index in ``0..len(class_names)-1``.
        subjects, views, setups: (N,) int64, -1 where unknown.
        performances, names: (N,) str.
        class_names: list of class names.
        layout: layout name (see :mod:`skelssl.skeleton`).
        source: dataset name it came from (``nw-ucla``, ``ntu60``, ``synthetic``, a path).
        splits: split name -> (N,) bool mask, True for training samples.
        coords: what the C channels mean (``xyz``, ``xy``, ``xy+score``).
    """

    joints: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    views: np.ndarray
    setups: np.ndarray
    performances: np.ndarray
    names: np.ndarray
    class_names: list[str]
    layout: str
    source: str
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    coords: str = "xyz"

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, ...]:
        """(N, T, M, V, C)."""
        return tuple(self.joints.shape)

    def subset(self, index: np.ndarray) -> SkeletonData:
        """The samples at ``index`` (int indices or a bool mask), splits sliced too.

        Joints that are memory-mapped stay on disk (a :class:`RowSubset`); the small
        metadata arrays are copied.
        """
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        values = {name: getattr(self, name)[index] for name in _PER_SAMPLE if name != "joints"}
        values["joints"] = _take_rows(self.joints, index)
        splits = {name: mask[index] for name, mask in self.splits.items()}
        return replace(self, **values, splits=splits)

    def split(self, name: str) -> tuple[SkeletonData, SkeletonData]:
        """(train, test) parts under a named split (e.g. ``xview``)."""
        is_train = self.split_mask(name)
        return self.subset(is_train), self.subset(~is_train)

    def split_mask(self, name: str) -> np.ndarray:
        if name not in self.splits:
            known = ", ".join(sorted(self.splits)) or "none"
            raise SkelsslError(f"dataset {self.source} has no split {name!r} (known: {known})")
        return self.splits[name]

    def validate(self) -> None:
        """Check shapes and label range; raise :class:`SkelsslError` naming the problem."""
        n = len(self)
        if self.joints.ndim != 5:
            raise SkelsslError(
                f"joints must be (N,T,M,V,C), got shape {self.joints.shape}", self.source
            )
        check_coords(self.coords, self.joints.shape[-1], self.source)
        for f in fields(self):
            if f.name in _PER_SAMPLE and getattr(self, f.name).shape[0] != n:
                raise SkelsslError(
                    f"{f.name} has {getattr(self, f.name).shape[0]} entries, expected {n}",
                    self.source,
                )
        if n and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise SkelsslError(
                f"labels out of range 0..{self.num_classes - 1}: "
                f"min {self.labels.min()}, max {self.labels.max()}",
                self.source,
            )


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its input: built from a :class:`SkeletonData`.

    ``channels`` is C of the batch (3 for xyz); ``frames`` is T; ``bodies`` is M;
    ``coords`` what the channels mean (``xyz``, ``xy``, ``xy+score``): augmentations that
    need depth ask it; ``stream`` the input view the encoder reads (``joint``, ``bone``,
    ``motion``, ``bone-motion``: :mod:`skelssl.data.streams`, a run's ``data.stream``).
    """

    layout: str
    num_classes: int
    frames: int
    bodies: int
    channels: int
    coords: str = "xyz"
    stream: str = "joint"

    @classmethod
    def of(cls, data: SkeletonData, stream: str = "joint") -> DataSpec:
        _, frames, bodies, _, channels = data.joints.shape
        return cls(data.layout, data.num_classes, frames, bodies, channels, data.coords, stream)
