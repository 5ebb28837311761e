"""3D Kinect skeletons seen as a 2D pose estimator would see them, for 2D-vs-3D comparisons.

:func:`project_to_2d` projects each joint through a pinhole camera to pixels
(``u = cx + f·x/z``, ``v = cy - f·y/z``: Kinect camera coordinates have y up, images v
down) and keeps the COCO-17 joints the Kinect skeleton shares: shoulders, elbows, wrists,
hips, knees, ankles, and the nose taken from the head joint (score 1). COCO's eyes and
ears have no Kinect counterpart: xy 0, score 0 (undetected). Absent bodies stay zero.
The result is ``coco-17``, ``xy+score``, pixel coordinates.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from skelssl.data.types import RawDataset
from skelssl.errors import SkelsslError
from skelssl.skeleton import LAYOUT_ALIASES

# Kinect v1 (640 x 480 depth/colour camera), focal length in pixels.
KINECT_FOCAL = 525.0
KINECT_IMAGE = (640, 480)
# COCO joint <- Kinect joint (the same indices in kinect-v1-20 and ntu-25); -1: no counterpart.
COCO_FROM_KINECT = (3, -1, -1, -1, -1, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18)
PROJECTABLE = ("kinect-v1-20", "ntu-25")


def project_joints(
    joints: np.ndarray,
    layout: str,
    *,
    focal: float = KINECT_FOCAL,
    image_size: tuple[int, int] = KINECT_IMAGE,
) -> np.ndarray:
    """Kinect joints in metres ``(T, M, V, 3)`` -> COCO-17 pixels with score ``(T, M, 17, 3)``.

    A body absent in a frame (all zero), or a joint at or behind the camera (z <= 0), gives
    zeros (score 0).
    """
    layout = LAYOUT_ALIASES.get(layout, layout)
    if layout not in PROJECTABLE:
        raise SkelsslError(f"can project {' or '.join(PROJECTABLE)} skeletons, not {layout}")
    if joints.ndim != 4 or joints.shape[-1] != 3:
        raise SkelsslError(f"projection needs (T, M, V, 3) xyz joints, got {joints.shape}")
    joints = np.asarray(joints, dtype=np.float64)
    index = np.asarray(COCO_FROM_KINECT)
    picked = joints[..., np.maximum(index, 0), :]  # (T, M, 17, 3)
    x, y, z = picked[..., 0], picked[..., 1], picked[..., 2]
    present = np.any(joints != 0, axis=(-1, -2))[..., None]  # (T, M, 1)
    seen = present & (z > 0) & (index >= 0)
    safe_z = np.where(seen, z, 1.0)
    cx, cy = image_size[0] / 2, image_size[1] / 2
    u = cx + focal * x / safe_z
    v = cy - focal * y / safe_z
    out = np.stack([u, v, np.ones_like(u)], axis=-1)
    return np.where(seen[..., None], out, 0.0).astype(np.float32)


def project_to_2d(
    raw: RawDataset,
    *,
    focal: float = KINECT_FOCAL,
    image_size: tuple[int, int] = KINECT_IMAGE,
) -> RawDataset:
    """``raw`` (``kinect-v1-20`` or ``ntu-25``, xyz in metres, camera coordinates, as the
    NW-UCLA/NTU readers give it) as a 2D ``coco-17`` ``xy+score`` dataset in pixels; labels,
    metadata and splits unchanged (:func:`project_joints` per sequence)."""
    if raw.coords != "xyz":
        raise SkelsslError(f"projection needs 3D (xyz) data, {raw.source} is {raw.coords}")
    sequences = [
        replace(
            s, joints=project_joints(s.joints, raw.layout, focal=focal, image_size=image_size)
        )  # fmt: skip
        for s in raw.sequences
    ]
    return replace(raw, sequences=sequences, layout="coco-17", coords="xy+score",
                   source=f"{raw.source} (2D coco-17 projection)")  # fmt: skip


__all__ = ["project_joints", "project_to_2d"]
