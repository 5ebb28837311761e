"""pyskl / mmaction2 skeleton annotation pickles (``.pkl``), read without running code.

The layout pyskl's ``tools/data`` scripts write (``ntu_preproc.py``: 3D NTU;
``custom_2d_skeleton.py``: 2D COCO-17 from a video list) and mmaction2 reads:

- a dict ``{"split": {name: [frame_dir, ...]}, "annotations": [annotation, ...]}``, or
- the plain list of annotations (``custom_2d_skeleton.py``; no split);

each annotation a dict with ``frame_dir`` (str), ``keypoint`` ``(M, T, V, C)`` float
(float16 in pyskl's files; C = 2 pixels or C = 3 xyz), optional ``keypoint_score``
``(M, T, V)`` (2D), ``label`` (int; absent in an unlabelled video list: every sample is
then class 0, ``unlabelled``), ``total_frames`` (= T), and ``img_shape`` /
``original_shape`` (read, not needed). K400-style compressed annotations (``frame_inds``,
keypoints in per-file ``raw_file``) are refused.

Split names come in pairs: ``xsub_train``/``xsub_val`` becomes the split ``xsub``
(``xview``, ``xset`` alike), ``train``/``val`` (or ``test``) the split ``given``,
``train1``/``test1`` the split ``split1``. A pair that leaves samples out of both parts
(HMDB51's unused clips) is not offered, with a note on stderr.

The pickle is read by :func:`skelssl.data.safe_pickle.load_pickle`: containers and NumPy
arrays only, anything else refused before it runs.
"""

from __future__ import annotations

import os
import re
import sys
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

UNLABELLED = "unlabelled"


def read_pyskl(
    path: str | os.PathLike,
    *,
    layout: str | None = None,
    coords: str | None = None,
    score: str = "channel",
    quiet: bool = False,
) -> RawDataset:
    """The sequences of a pyskl annotation pickle (see the module docstring).

    Raises :class:`SkelsslError` naming the file (and the sample) for a refused global, a
    missing key, ragged keypoints (V or C differing between samples, T differing from
    ``total_frames`` or from the score's), a V without a layout, a bad label or NaN.
    """
    path = Path(path)
    content = load_pickle(path)
    annotations, split = _parts(content, path)
    sequences, labelled = [], []
    shape = None
    for index, annotation in enumerate(annotations):
        joints, name, label = _annotation(annotation, index, path)
        if shape is None:
            shape = joints.shape[2:]
        elif joints.shape[2:] != shape:
            raise SkelsslError(
                f"{name}: keypoint (+ score) has (V, C) = {joints.shape[2:]}, the first "
                f"sample {shape} (ragged keypoints, or keypoint_score on some samples only)",
                path,
            )
        sequences.append(Sequence(joints=joints, label=0, name=name))
        labelled.append(label)
    if not sequences:
        raise SkelsslError("no annotations", path)
    scored = all(a.get("keypoint_score") is not None and np.shape(a["keypoint"])[-1] == 2
                 for a in annotations)  # fmt: skip
    coords = coords or ("xy+score" if scored else None)
    layout_name, final_coords = interpret_sequences(sequences, layout, coords, score, path)
    class_names = _labels(sequences, labelled, path)
    for sequence in sequences:
        set_ntu_metadata(sequence)
    splits = _splits(split, [s.name for s in sequences], path, quiet)
    return RawDataset(sequences, class_names, layout_name, str(path), splits,
                      coords=final_coords)  # fmt: skip


def _parts(content, path: Path) -> tuple[list, dict | None]:
    if isinstance(content, list):
        return content, None
    if isinstance(content, dict) and "annotations" in content:
        split = content.get("split")
        if split is not None and not isinstance(split, dict):
            raise SkelsslError("'split' must map split names to lists of frame_dir", path)
        if not isinstance(content["annotations"], list):
            raise SkelsslError("'annotations' must be a list of dicts", path)
        return content["annotations"], split
    if isinstance(content, tuple) and len(content) == 2:
        raise SkelsslError("a (names, labels) pair: an AimCLR/ST-GCN label file; pass its "
                           "folder (with train_data.npy) as --data", path)  # fmt: skip
    raise SkelsslError("not a pyskl annotation file: expected a dict with 'annotations' "
                       "(and 'split') or a list of annotation dicts", path)  # fmt: skip


def _annotation(annotation, index: int, path: Path) -> tuple[np.ndarray, str, int | None]:
    """(joints (T, M, V, C[+1]) float32 with the score appended, name, label or None)."""
    if not isinstance(annotation, dict):
        raise SkelsslError(f"annotation {index} is a {type(annotation).__name__}, not a dict",
                           path)  # fmt: skip
    name = annotation.get("frame_dir")
    if not isinstance(name, str) or not name:
        raise SkelsslError(f"annotation {index} has no 'frame_dir' (str)", path)
    if "frame_inds" in annotation or "raw_file" in annotation:
        raise SkelsslError(f"{name}: K400-style compressed annotation (frame_inds/raw_file) "
                           "is not supported; store keypoint as (M, T, V, C)", path)  # fmt: skip
    if "keypoint" not in annotation:
        raise SkelsslError(f"{name}: missing key 'keypoint'", path)
    keypoint = annotation["keypoint"]
    if not isinstance(keypoint, np.ndarray) or keypoint.ndim != 4:
        got = keypoint.shape if isinstance(keypoint, np.ndarray) else type(keypoint).__name__
        raise SkelsslError(f"{name}: keypoint must be an (M, T, V, C) array, got {got}", path)
    if not np.issubdtype(keypoint.dtype, np.number):
        raise SkelsslError(f"{name}: keypoint must be numbers, got dtype {keypoint.dtype}", path)
    bodies, frames, num_joints, channels = keypoint.shape
    if min(bodies, frames, num_joints) == 0 or channels not in (2, 3):
        raise SkelsslError(f"{name}: keypoint has shape {keypoint.shape}; expected "
                           "(M >= 1, T >= 1, V >= 1, C = 2 or 3)", path)  # fmt: skip
    total = annotation.get("total_frames", frames)
    if not isinstance(total, (int, np.integer)) or int(total) != frames:
        raise SkelsslError(f"{name}: total_frames {total!r} but keypoint has T = {frames}", path)
    joints = np.asarray(keypoint, dtype=np.float32)
    if "keypoint_score" in annotation and channels == 2:
        score = annotation["keypoint_score"]
        if not isinstance(score, np.ndarray) or score.shape != keypoint.shape[:3]:
            got = score.shape if isinstance(score, np.ndarray) else type(score).__name__
            raise SkelsslError(f"{name}: keypoint_score must have shape "
                               f"{keypoint.shape[:3]} (M, T, V), got {got}", path)  # fmt: skip
        joints = np.concatenate([joints, np.asarray(score, np.float32)[..., None]], axis=-1)
    check_finite(joints, name, path)
    label = annotation.get("label")
    if label is not None:
        label = check_label(label, name, path)
    return np.ascontiguousarray(joints.transpose(1, 0, 2, 3)), name, label


def _labels(sequences: list[Sequence], labels: list, path: Path) -> list[str]:
    if all(label is None for label in labels):
        return [UNLABELLED]
    missing = [s.name for s, label in zip(sequences, labels) if label is None]
    if missing:
        raise SkelsslError(f"{missing[0]}: no 'label' while other samples have one", path)
    for sequence, label in zip(sequences, labels):
        sequence.label = label
    return class_names_for(labels, [s.name for s in sequences])


def split_pairs(names) -> dict[str, tuple[str, str]]:
    """Our split name -> (train part, test part) for the pairs among pyskl's split names.

    ``xsub_train``/``xsub_val`` -> ``xsub``; ``train``/``val`` or ``test`` -> ``given``;
    ``train1``/``test1`` -> ``split1``. Names without a partner are left out.
    """
    names = list(names)
    pairs = {}
    for name in names:
        digits = re.fullmatch(r"train(\d+)", name)
        if name == "train":
            ours, partners = "given", ("val", "test")
        elif name.endswith("_train") and len(name) > 6:
            base = name[: -len("_train")]
            ours, partners = base, (f"{base}_val", f"{base}_test")
        elif digits:
            ours, partners = (
                f"split{digits.group(1)}",
                tuple(f"{other}{digits.group(1)}" for other in ("val", "test")),
            )
        else:
            continue
        partner = next((p for p in partners if p in names), None)
        if partner is not None:
            pairs[ours] = (name, partner)
    return pairs


def _splits(split: dict | None, names: list[str], path: Path, quiet: bool) -> dict:
    if not split:
        return {}
    if len(set(names)) != len(names):
        seen, repeated = set(), None
        for name in names:
            if name in seen:
                repeated = name
                break
            seen.add(name)
        raise SkelsslError(f"frame_dir {repeated!r} appears twice: splits name samples by it",
                           path)  # fmt: skip
    splits = {}
    for ours, (train, test) in split_pairs(split).items():
        train_names, test_names = set(_names(split, train, path)), set(_names(split, test, path))
        left_out = sum(1 for name in names if name not in train_names | test_names)
        if left_out:
            if not quiet:
                print(f"skelssl: {path}: split {ours} ({train}/{test}) not offered: {left_out} "
                      "samples are in neither part", file=sys.stderr)  # fmt: skip
            continue
        splits[ours] = _in(frozenset(train_names))
    return splits


def _names(split: dict, key: str, path: Path) -> list[str]:
    value = split[key]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SkelsslError(f"split {key!r} must be a list of frame_dir strings", path)
    return list(value)


class _in:
    """Picklable predicate: a sequence is in training when its name is in ``names``."""

    def __init__(self, names: frozenset[str]):
        self.names = names

    def __call__(self, sequence: Sequence) -> bool:
        return sequence.name in self.names


def write_pyskl(data, path: str | os.PathLike) -> Path:
    """``data`` (a :class:`SkeletonData`) as a pyskl annotation pickle, for comparing runs
    with pyskl: keypoint ``(M, T_i, V, C)`` float32 over each sample's valid frames (the
    score channel of ``xy+score`` as ``keypoint_score``), every split as
    ``<name>_train``/``<name>_val`` (``given`` as ``train``/``val``). Plain containers and
    arrays only, so :func:`read_pyskl` (and pyskl) read it back. Written atomically."""
    import pickle

    data.validate()
    path = Path(path)
    annotations = []
    for i in range(len(data)):
        length = int(data.lengths[i])
        joints = np.asarray(data.joints[i][:length], dtype=np.float32).transpose(1, 0, 2, 3)
        annotation = {
            "frame_dir": str(data.names[i]),
            "label": int(data.labels[i]),
            "total_frames": length,
        }
        if data.coords == "xy+score":
            annotation["keypoint"] = np.ascontiguousarray(joints[..., :2])
            annotation["keypoint_score"] = np.ascontiguousarray(joints[..., 2])
        else:
            annotation["keypoint"] = np.ascontiguousarray(joints)
        annotations.append(annotation)
    split = {}
    names = [str(n) for n in data.names]
    for name, mask in data.splits.items():
        prefix = "" if name == "given" else f"{name}_"
        split[f"{prefix}train"] = [n for n, m in zip(names, mask) if m]
        split[f"{prefix}val"] = [n for n, m in zip(names, mask) if not m]
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            pickle.dump({"split": split, "annotations": annotations}, handle, protocol=4)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise SkelsslError(f"cannot write file: {error.strerror or error}", path) from None
    return path
