"""Reader for Northwestern-UCLA Multiview Action 3D (Wang et al., CVPR 2014).

The release used here is a directory of JSON files ``aAA_sSS_eEE_vVV.json`` (action,
subject, episode, view), each ``{"file_name": ..., "skeletons": [[[x, y, z] * 20] * T]}``:
one body, 20 Kinect v1 joints in SDK order (layout ``kinect-v1-20``), metres.

The three cameras recorded simultaneously, so files sharing action, subject and episode
are one performance seen from several views. Protocol ``xview``: views 1 and 2 train,
view 3 tests.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from skelssl.data.types import RawDataset, Sequence
from skelssl.errors import SkelsslError

LAYOUT = "kinect-v1-20"
NUM_JOINTS = 20
SOURCE = "nw-ucla"
FILE_PATTERN = re.compile(r"^a(\d+)_s(\d+)_e(\d+)_v(\d+)\.json$")

# Action ids of the release (ids 7 and 10 are unused) -> class index 0..9.
ACTION_IDS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
CLASS_NAMES = [
    "pick up with one hand",
    "pick up with two hands",
    "drop trash",
    "walk around",
    "sit down",
    "stand up",
    "donning",
    "doffing",
    "throw",
    "carry",
]
LABEL_OF_ACTION = {action: label for label, action in enumerate(ACTION_IDS)}
XVIEW_TRAIN_VIEWS = (1, 2)


def is_xview_train(sequence: Sequence, train_views: tuple[int, ...] = XVIEW_TRAIN_VIEWS) -> bool:
    """Cross-view protocol: True for views 1 and 2 (training), False for view 3."""
    return sequence.view in train_views


def read_nwucla(
    root: str | os.PathLike, *, skip_bad: bool = False, quiet: bool = False
) -> RawDataset:
    """Read every ``aAA_sSS_eEE_vVV.json`` under ``root`` into a :class:`RawDataset`.

    Each sequence has joints of shape (T, 1, 20, 3) float32. A bad file raises
    :class:`SkelsslError` naming it, or with ``skip_bad`` is left out and recorded in
    ``RawDataset.skipped`` as ``"path: problem"``.
    """
    paths = find_files(root)
    sequences, skipped = [], not_regular_files(root)
    for path in tqdm(paths, desc="reading NW-UCLA", unit="file", disable=quiet):
        try:
            sequences.append(read_nwucla_file(path))
        except SkelsslError as error:
            if not skip_bad:
                raise
            skipped.append(str(error))
    if not sequences:
        raise SkelsslError(f"every file is bad ({len(skipped)}); first: {skipped[0]}", root)
    return RawDataset(
        sequences=sequences,
        class_names=list(CLASS_NAMES),
        layout=LAYOUT,
        source=SOURCE,
        splits={"xview": is_xview_train},
        skipped=skipped,
    )


def find_files(root: str | os.PathLike) -> list[Path]:
    """The NW-UCLA JSON files directly under ``root``, sorted by name; error if none.

    Only regular files (or links to them) are read: a FIFO would block the reader
    forever and a dangling link has nothing to read (:func:`not_regular_files`)."""
    root = Path(root)
    if not root.is_dir():
        raise SkelsslError("NW-UCLA directory not found", root)
    paths = sorted(p for p in root.iterdir() if FILE_PATTERN.match(p.name) and p.is_file())
    if not paths:
        raise SkelsslError("no NW-UCLA files (aAA_sSS_eEE_vVV.json) in directory", root)
    return paths


def not_regular_files(root: str | os.PathLike) -> list[str]:
    """``"path: problem"`` for each entry of ``root`` named like a sample that is not a
    regular file (a dangling link, a FIFO, a device, a folder): left out, and said."""
    skipped = []
    for path in sorted(Path(root).iterdir()):
        if FILE_PATTERN.match(path.name) and not path.is_file():
            if path.is_symlink() and not path.exists():
                what = "a dangling symbolic link"
            elif path.is_dir():
                what = "a folder"
            else:
                what = "not a regular file (a FIFO, socket or device)"
            skipped.append(f"{path}: {what}, not read")
    return skipped


def read_nwucla_file(path: str | os.PathLike) -> Sequence:
    """One NW-UCLA JSON file as a :class:`Sequence` with joints (T, 1, 20, 3) float32."""
    path = Path(path)
    match = FILE_PATTERN.match(path.name)
    if match is None:
        raise SkelsslError("file name is not aAA_sSS_eEE_vVV.json", path)
    action, subject, episode, view = (int(group) for group in match.groups())
    if action not in LABEL_OF_ACTION:
        known = ", ".join(map(str, ACTION_IDS))
        raise SkelsslError(f"unknown action id {action} (known: {known})", path)
    joints = _load_joints(path)
    return Sequence(
        joints=joints[:, None],  # one body: (T, 1, V, C)
        label=LABEL_OF_ACTION[action],
        name=path.stem,
        subject=subject,
        view=view,
        setup=-1,
        performance=f"a{action:02d}_s{subject:02d}_e{episode:02d}",
    )


def read_joints(path: str | os.PathLike) -> np.ndarray:
    """The joints of one NW-UCLA-format JSON file of any name, shape (T, 1, 20, 3) float32."""
    return _load_joints(Path(path))[:, None]


def _load_joints(path: Path) -> np.ndarray:
    """The ``skeletons`` array of a file, checked to be finite (T >= 1, 20, 3) float32."""
    if not path.is_file():  # a FIFO would block open() forever
        raise SkelsslError("not a regular file (a FIFO, socket, device or dangling link)", path)
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
    except json.JSONDecodeError as error:
        raise SkelsslError(f"corrupt JSON: {error.msg} at line {error.lineno}", path) from None
    except RecursionError:
        raise SkelsslError("corrupt JSON: nested too deeply", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SkelsslError(f"cannot read file: {error}", path) from None
    if not isinstance(content, dict) or "skeletons" not in content:
        raise SkelsslError('missing key "skeletons"', path)
    _check_numbers(content["skeletons"], path)
    try:
        joints = np.asarray(content["skeletons"], dtype=np.float32)
    except (ValueError, TypeError):
        raise SkelsslError(
            "skeletons is not a regular [frames][20 joints][x, y, z] array of numbers", path
        ) from None
    if joints.ndim >= 1 and joints.shape[0] == 0:
        raise SkelsslError("zero frames", path)
    if joints.ndim != 3 or joints.shape[2] != 3:
        raise SkelsslError(f"skeletons must have shape (frames, 20, 3), got {joints.shape}", path)
    if joints.shape[1] != NUM_JOINTS:
        raise SkelsslError(f"wrong joint count: expected {NUM_JOINTS}, got {joints.shape[1]}", path)
    _check_finite(joints, path)
    return joints


def _check_numbers(skeletons, path: Path) -> None:
    """Every leaf of the nested ``skeletons`` lists is a JSON number: numeric strings
    ("0.5") and booleans, which NumPy would convert silently, are refused."""
    pending = [(skeletons, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, list) and depth < 3:
            pending.extend((item, depth + 1) for item in value)
        elif depth == 3 and isinstance(value, int | float) and not isinstance(value, bool):
            continue
        elif depth == 3 or not isinstance(value, list):
            raise SkelsslError(
                f"skeletons holds {json.dumps(value)[:40]} where a coordinate (a number) is "
                "expected: [frames][20 joints][x, y, z]",
                path,
            )
        else:  # a list below the coordinates
            raise SkelsslError(
                "skeletons is not a regular [frames][20 joints][x, y, z] array of numbers", path
            )


def _check_finite(joints: np.ndarray, path: Path) -> None:
    bad = ~np.isfinite(joints)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0]) + 1
        raise SkelsslError(f"non-finite coordinate (NaN or inf) in frame {frame}", path)
