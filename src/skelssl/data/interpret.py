"""What a file's content means, for the readers of the field's formats: the joint layout
from V (or ``data.layout``), the channel meaning from C (or ``data.coords``), the pose
score as a channel or a mask (``data.score``), labels and coordinates checked, and the
metadata an NTU-style sample name carries.
"""

from __future__ import annotations

import re

import numpy as np

from skelssl.errors import SkelsslError
from skelssl.skeleton import LAYOUT_BY_JOINT_COUNT, get_layout

# Layouts of 2D pose estimators: a third channel there is a score, not depth.
POSE_2D_LAYOUTS = ("coco-17", "openpose-18", "mediapipe-33")
SCORE_MODES = ("channel", "mask")
# data.score=mask: a joint whose score is below this is treated as not detected (xy = 0).
MASK_SCORE_THRESHOLD = 0.2


def resolve_layout(num_joints: int, requested: str | None, path) -> str:
    """``requested`` (a layout name or YAML path, checked against V) or the layout V implies."""
    if requested:
        layout = get_layout(requested)
        if layout.num_joints != num_joints:
            raise SkelsslError(
                f"layout {requested} has {layout.num_joints} joints, joints has V = {num_joints}",
                path,
            )
        return layout.name
    if num_joints not in LAYOUT_BY_JOINT_COUNT:
        known = ", ".join(f"{v} ({name})" for v, name in sorted(LAYOUT_BY_JOINT_COUNT.items()))
        raise SkelsslError(
            f"no layout given and none has {num_joints} joints (known: {known}); "
            "pass data.layout=NAME or data.layout=my_layout.yaml",
            path,
        )
    return LAYOUT_BY_JOINT_COUNT[num_joints]


def resolve_coords(channels: int, layout: str, requested: str | None, path) -> str:
    """What C channels mean: ``requested`` (checked), else C = 2: ``xy``; C = 3: ``xy+score``
    for a 2D pose layout (:data:`POSE_2D_LAYOUTS`), else ``xyz``."""
    from skelssl.data.types import check_coords

    if requested:
        check_coords(requested, channels, str(path))
        return requested
    if channels == 2:
        return "xy"
    if channels == 3:
        return "xy+score" if layout in POSE_2D_LAYOUTS else "xyz"
    raise SkelsslError(f"joints have C = {channels} channels; expected 2 (xy) or 3 "
                       "(xyz, or xy+score)", path)  # fmt: skip


def check_score_mode(mode: str) -> None:
    if mode not in SCORE_MODES:
        raise SkelsslError(f"unknown data.score {mode!r} (known: {', '.join(SCORE_MODES)})")


def apply_score(joints: np.ndarray, coords: str, mode: str) -> tuple[np.ndarray, str]:
    """``data.score``: ``channel`` keeps (x, y, score); ``mask`` zeroes the xy of joints whose
    score is below :data:`MASK_SCORE_THRESHOLD` and drops the score (C = 2, ``xy``).
    Shape: (..., V, 3) -> (..., V, 3) or (..., V, 2)."""
    check_score_mode(mode)
    if coords != "xy+score" or mode == "channel":
        return joints, coords
    kept = joints[..., 2:3] >= MASK_SCORE_THRESHOLD
    return np.where(kept, joints[..., :2], 0).astype(joints.dtype), "xy"


_NTU_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


def ntu_metadata(name: str) -> dict | None:
    """subject, view (camera), setup, performance and 0-based action of an NTU-style name
    (``S001C002P003R002A013``, as pyskl and AimCLR keep them); None for other names."""
    match = _NTU_NAME.search(name)
    if match is None:
        return None
    setup, camera, subject, replication, action = (int(g) for g in match.groups())
    return {
        "subject": subject,
        "view": camera,
        "setup": setup,
        "performance": f"S{setup:03d}P{subject:03d}R{replication:03d}A{action:03d}",
        "action": action - 1,
    }


def interpret_sequences(
    sequences: list, layout: str | None, coords: str | None, score: str, path
) -> tuple[str, str]:
    """The layout and channel meaning of ``sequences`` (all of one (V, C)), with
    ``data.score`` applied to each sequence's joints in place: ``(layout name, coords)``,
    the coords after the score mode (``mask`` turns ``xy+score`` into ``xy``).
    Shape: each ``sequence.joints`` (T, M, V, C)."""
    num_joints, channels = sequences[0].joints.shape[2:]
    layout_name = resolve_layout(num_joints, layout, path)
    kind = resolve_coords(channels, layout_name, coords, path)
    final = kind
    for sequence in sequences:
        sequence.joints, final = apply_score(sequence.joints, kind, score)
    return layout_name, final


def set_ntu_metadata(sequence) -> None:
    """Subject, view, setup and performance of ``sequence`` from its NTU-style name
    (:func:`ntu_metadata`); a name that is not NTU-style is its own performance."""
    meta = ntu_metadata(sequence.name)
    if meta is None:
        sequence.performance = sequence.name
        return
    sequence.subject, sequence.view = meta["subject"], meta["view"]
    sequence.setup, sequence.performance = meta["setup"], meta["performance"]


def check_label(label, where: str, path) -> int:
    """A label as a non-negative int; :class:`SkelsslError` otherwise."""
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        raise SkelsslError(f"{where}: label {label!r} is not an integer class index", path)
    if label < 0:
        raise SkelsslError(f"{where}: label {label} outside the classes (0..K-1)", path)
    return int(label)


def check_finite(joints: np.ndarray, where: str, path) -> None:
    if not np.isfinite(joints).all():
        raise SkelsslError(f"{where}: non-finite coordinate (NaN or inf)", path)
