"""Reader for PKU-MMD (Liu et al., 2017): part I (51 classes) and part II (41 classes).

PKU-MMD holds untrimmed videos, each seen by three cameras (left, middle, right):

- ``skeleton/VVVV-{L,M,R}.txt``: one line per frame, 150 floats = 2 bodies x 25 joints
  (NTU order, layout ``ntu-25``) x xyz in metres; an absent second body is all zeros.
- ``label/VVVV-{L,M,R}.txt``: one action instance per line, ``class,start,end,confidence``
  (class 1-based; start and end are frame indices, taken as 0-based and inclusive).
- ``splits/cross-subject.txt``, ``splits/cross-view.txt``: the official video lists
  (a ``Training videos:`` header, a comma-separated list, a validation header, a list);
  ``splits/actions.csv``: ``label,action`` class names. Part II ships its own split files
  in the same formats: pass their folder as ``splits``.

Every labelled instance is cut out of its video as one sequence named ``VVVV-C_iii``
(camera C, instance number iii counted from 1 in the label file); its performance is
``VVVV_iii``, so the three cameras of one instance form one performance. A second body
that is zero in every frame of an instance is dropped (M = 1).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from skelssl.data.readers.shards import ShardedSource, batches
from skelssl.data.types import RawDataset, Sequence
from skelssl.errors import SkelsslError

LAYOUT = "ntu-25"
NUM_JOINTS = 25
NUM_BODIES = 2
VALUES_PER_FRAME = NUM_BODIES * NUM_JOINTS * 3
CAMERAS = ("L", "M", "R")  # view 1, 2, 3
FILE_PATTERN = re.compile(r"^(.+)-([LMR])\.txt$")
SPLIT_FILES = {"xsub": "cross-subject.txt", "xview": "cross-view.txt"}
ACTIONS_FILE = "actions.csv"
VIDEOS_PER_SHARD = 3  # one video seen by three cameras


@dataclass(frozen=True)
class Part:
    """What distinguishes PKU-MMD part I from part II."""

    num_classes: int
    description: str


PARTS = {"pku-mmd": Part(51, "PKU-MMD part I"), "pku-mmd2": Part(41, "PKU-MMD part II")}


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SkelsslError("file not found", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SkelsslError(f"cannot read file as text: {error}", path) from None


def parse_pku_skeleton(path: str | os.PathLike) -> np.ndarray:
    """A skeleton file's joints, shape (T, 2, 25, 3) float32 (absent bodies are zeros)."""
    path = Path(path)
    lines = [line for line in _read_text(path).splitlines() if line.strip()]
    if not lines:
        raise SkelsslError("no frames", path)
    try:
        values = np.array(" ".join(lines).split(), dtype=np.float32)
    except ValueError:
        raise SkelsslError("a frame line is not all numbers", path) from None
    if values.size != len(lines) * VALUES_PER_FRAME:
        for number, line in enumerate(lines, start=1):
            count = len(line.split())
            if count != VALUES_PER_FRAME:
                raise SkelsslError(
                    f"frame {number} has {count} values, expected {VALUES_PER_FRAME}", path
                )
    if not np.isfinite(values).all():
        raise SkelsslError("non-finite coordinate (NaN or inf)", path)
    return values.reshape(len(lines), NUM_BODIES, NUM_JOINTS, 3)


def parse_pku_labels(path: str | os.PathLike, num_classes: int) -> np.ndarray:
    """A label file's instances, (K, 4) int64 rows ``class (1-based), start, end, confidence``."""
    path = Path(path)
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        try:
            row = [int(field) for field in fields]
        except ValueError:
            raise SkelsslError(f"line {number} is not 4 integers: {line[:40]!r}", path) from None
        if len(row) != 4:
            raise SkelsslError(f"line {number} has {len(row)} fields, expected 4", path)
        label, start, end, _ = row
        if not 1 <= label <= num_classes:
            raise SkelsslError(f"line {number}: class {label} out of range 1..{num_classes}", path)
        if start < 0 or end < start:
            raise SkelsslError(f"line {number}: bad frame range {start}..{end}", path)
        rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def read_split_file(path: str | os.PathLike) -> tuple[frozenset[str], frozenset[str]]:
    """(training videos, test videos) of an official split file, names like ``0036-L``."""
    path = Path(path)
    lists: dict[str, set[str]] = {"train": set(), "test": set()}
    current = None
    for line in _read_text(path).splitlines():
        text = line.strip()
        if text.endswith(":"):
            current = "train" if text.lower().startswith("train") else "test"
        elif text:
            if current is None:
                raise SkelsslError("video list before a 'Training videos:' header", path)
            lists[current].update(name.strip() for name in text.split(",") if name.strip())
    if not lists["train"] or not lists["test"]:
        raise SkelsslError("split file needs a training and a validation video list", path)
    return frozenset(lists["train"]), frozenset(lists["test"])


def read_class_names(path: str | os.PathLike, num_classes: int) -> list[str]:
    """Class names of ``actions.csv`` (``label,action``, labels 1..num_classes in order)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row and row[0].strip()]
    names = {}
    for row in rows[1:]:  # the first row is the header
        try:
            names[int(row[0])] = row[1].strip()
        except (ValueError, IndexError):
            raise SkelsslError(f"bad class row {','.join(row)[:40]!r}", path) from None
    if sorted(names) != list(range(1, num_classes + 1)):
        raise SkelsslError(f"expected class labels 1..{num_classes}, got {len(names)}", path)
    return [names[label] for label in range(1, num_classes + 1)]


# ---------------------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------------------


def video_of(sequence: Sequence) -> str:
    """The video-camera name (``0036-L``) a sequence was cut from."""
    return sequence.name.rsplit("_", 1)[0]


def is_video_in(sequence: Sequence, videos: frozenset[str]) -> bool:
    """Protocol predicate: True when the sequence's video is in the training list."""
    return video_of(sequence) in videos


def cut_instances(joints: np.ndarray, instances: np.ndarray, stem: str) -> list[Sequence]:
    """Every labelled instance of a video as a :class:`Sequence`.

    ``joints`` (T, 2, 25, 3); ``instances`` (K, 4) from :func:`parse_pku_labels`. An end
    frame past the video is clipped to its last frame; a start past it is an error.
    """
    video, camera = stem.rsplit("-", 1)
    total = joints.shape[0]
    sequences = []
    for number, (label, start, end, _) in enumerate(instances.tolist(), start=1):
        if start >= total:
            raise SkelsslError(
                f"instance {number} starts at frame {start}, video has {total}", stem
            )
        cut = joints[start : min(end, total - 1) + 1]
        if not cut[:, 1].any():  # the second body is absent throughout
            cut = cut[:, :1]
        sequences.append(
            Sequence(
                joints=np.ascontiguousarray(cut),
                label=label - 1,
                name=f"{stem}_{number:03d}",
                view=CAMERAS.index(camera) + 1,
                performance=f"{video}_{number:03d}",
            )
        )
    return sequences


def read_video(skeleton_path: Path, label_path: Path, num_classes: int) -> list[Sequence]:
    """The instances of one video-camera file pair; problems raise naming the file."""
    instances = parse_pku_labels(label_path, num_classes)
    joints = parse_pku_skeleton(skeleton_path)
    try:
        return cut_instances(joints, instances, skeleton_path.stem)
    except SkelsslError as error:
        raise SkelsslError(error.problem, label_path) from None


def read_videos(
    pairs: list[tuple[Path, Path]], num_classes: int, skip_bad: bool
) -> tuple[list[Sequence], list[str]]:
    """Shard reader: instances of several videos and the "file: problem" of skipped ones."""
    sequences, skipped = [], []
    for skeleton_path, label_path in pairs:
        try:
            sequences.extend(read_video(skeleton_path, label_path, num_classes))
        except SkelsslError as error:
            if not skip_bad:
                raise
            skipped.append(str(error))
    return sequences, skipped


# ---------------------------------------------------------------------------------------
# A dataset folder
# ---------------------------------------------------------------------------------------


def video_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(skeleton file, label file) of every video with a skeleton file, sorted by name."""
    skeleton_dir, label_dir = root / "skeleton", root / "label"
    for folder in (skeleton_dir, label_dir):
        if not folder.is_dir():
            raise SkelsslError(f"PKU-MMD folder has no {folder.name}/ directory", root)
    names = sorted(p.name for p in skeleton_dir.iterdir() if FILE_PATTERN.match(p.name))
    if not names:
        raise SkelsslError("no skeleton files (VVVV-{L,M,R}.txt)", skeleton_dir)
    return [(skeleton_dir / name, label_dir / name) for name in names]


def splits_from(splits: Path) -> dict:
    """``xsub`` / ``xview`` predicates from the split files present in ``splits``."""
    found = {}
    for name, file_name in SPLIT_FILES.items():
        if (splits / file_name).is_file():
            train, _ = read_split_file(splits / file_name)
            found[name] = partial(is_video_in, videos=train)
    if not found:
        raise SkelsslError(f"no split file ({', '.join(SPLIT_FILES.values())}) found", splits)
    return found


def pku_source(
    root: str | os.PathLike,
    *,
    variant: str = "pku-mmd",
    splits: str | os.PathLike | None = None,
    skip_bad: bool = False,
) -> ShardedSource:
    """PKU-MMD under ``root`` as a :class:`ShardedSource` (one video's cameras per shard).

    ``splits`` is the folder of the split files and ``actions.csv`` (default
    ``root/splits``); part II (``pku-mmd2``) passes its own.
    """
    if variant not in PARTS:
        raise SkelsslError(f"unknown PKU-MMD variant {variant!r} (known: {', '.join(PARTS)})")
    root = Path(root)
    if not root.is_dir():
        raise SkelsslError("PKU-MMD folder not found", root)
    splits = root / "splits" if splits is None else Path(splits)
    if not splits.is_dir():
        raise SkelsslError("split folder not found", splits)
    num_classes = PARTS[variant].num_classes
    class_names = read_class_names(splits / ACTIONS_FILE, num_classes)
    train_predicates = splits_from(splits)
    shards = [
        partial(read_videos, pairs, num_classes, skip_bad)
        for pairs in batches(video_pairs(root), VIDEOS_PER_SHARD)
    ]
    return ShardedSource(shards, class_names, LAYOUT, variant, train_predicates)


def read_pku(
    root: str | os.PathLike,
    *,
    variant: str = "pku-mmd",
    splits: str | os.PathLike | None = None,
    skip_bad: bool = False,
    quiet: bool = False,
) -> RawDataset:
    """Read PKU-MMD (``pku-mmd`` part I or ``pku-mmd2`` part II) into memory.

    Joints (T, M, 25, 3) float32, M = 2 when the second body appears in the instance, else
    1. A bad file raises :class:`SkelsslError` naming it, or with ``skip_bad`` is left out
    and recorded in ``skipped``. For large folders use :func:`pku_source` (streaming).
    """
    del quiet  # reading a few videos needs no progress bar; load_dataset shows one
    raw = pku_source(root, variant=variant, splits=splits, skip_bad=skip_bad).read_all()
    if not raw.sequences:
        first = raw.skipped[0] if raw.skipped else "no labelled instance"
        raise SkelsslError(f"no usable instance; first problem: {first}", root)
    return raw
