"""Joint layouts: names, bones, left/right limbs, five body parts, reference joints.

Every augmentation, encoder graph and preprocessing step asks a :class:`Layout` for
joint indices; no dataset's joint order is baked in anywhere else.

Layouts
-------
``ntu-25``
    Kinect v2 as in NTU RGB+D and PKU-MMD (Shahroudy et al. 2016, Fig. 1 order).
``kinect-v1-20``
    Kinect SDK v1 order as in NW-UCLA, UTD-MHAD and MSR Action3D.

:data:`LAYOUT_MAPS` gives, for a pair of layouts, the joints of the source layout that
fill each joint of the target (the 20 joints both share), for transfer between datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skelssl.errors import SkelsslError

PART_NAMES = ("trunk", "left_arm", "right_arm", "left_leg", "right_leg")


@dataclass(frozen=True)
class Layout:
    """A named skeleton topology. All indices are 0-based joint indices.

    Attributes:
        name: layout name (``ntu-25``, ``kinect-v1-20``).
        joint_names: one name per joint, in the dataset's order.
        bones: ``(child, parent)`` pairs of a spanning tree rooted at ``center``.
        parts: the five body parts ``PART_NAMES`` -> joint indices.
        center: joint that is the origin after centring (spine middle).
        left_shoulder, right_shoulder: define the X axis of view normalisation.
        spine_base, spine_top: define the Y axis of view normalisation.
    """

    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    parts: dict[str, tuple[int, ...]] = field(hash=False)
    center: int
    left_shoulder: int
    right_shoulder: int
    spine_base: int
    spine_top: int

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def left(self) -> tuple[int, ...]:
        """Joints of the left arm and leg."""
        return self.parts["left_arm"] + self.parts["left_leg"]

    @property
    def right(self) -> tuple[int, ...]:
        """Joints of the right arm and leg."""
        return self.parts["right_arm"] + self.parts["right_leg"]

    @property
    def mirror(self) -> np.ndarray:
        """Permutation swapping each left joint with its right counterpart, shape (V,)."""
        perm = np.arange(self.num_joints)
        perm[list(self.left)] = self.right
        perm[list(self.right)] = self.left
        return perm

    def index(self, joint_name: str) -> int:
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise SkelsslError(f"layout {self.name} has no joint {joint_name!r}") from None

    def bone_parents(self) -> np.ndarray:
        """Parent of each joint (the centre is its own parent), shape (V,).

        Bone vectors are ``x[..., v, :] - x[..., parent[v], :]``; the root's bone is zero.
        """
        parent = np.arange(self.num_joints)
        for child, par in self.bones:
            parent[child] = par
        return parent


def _zero_based(pairs):
    return tuple((a - 1, b - 1) for a, b in pairs)


# NTU RGB+D joint order (1-based in the paper): 1 spine base, 2 spine mid, 3 neck,
# 4 head, 5-8 left shoulder/elbow/wrist/hand, 9-12 right ..., 13-16 left hip/knee/
# ankle/foot, 17-20 right ..., 21 spine shoulder, 22 left hand tip, 23 left thumb,
# 24 right hand tip, 25 right thumb.
NTU_25 = Layout(
    name="ntu-25",
    joint_names=(
        "spine_base",
        "spine_mid",
        "neck",
        "head",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "left_hand",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "right_hand",
        "left_hip",
        "left_knee",
        "left_ankle",
        "left_foot",
        "right_hip",
        "right_knee",
        "right_ankle",
        "right_foot",
        "spine_shoulder",
        "left_hand_tip",
        "left_thumb",
        "right_hand_tip",
        "right_thumb",
    ),  # fmt: skip
    # (child, parent) in 1-based indices, rooted at spine_mid (2); tips/thumbs to hands.
    bones=_zero_based(
        [
            (1, 2),
            (21, 2),
            (3, 21),
            (4, 3),
            (5, 21),
            (6, 5),
            (7, 6),
            (8, 7),
            (22, 8),
            (23, 8),
            (9, 21),
            (10, 9),
            (11, 10),
            (12, 11),
            (24, 12),
            (25, 12),
            (13, 1),
            (14, 13),
            (15, 14),
            (16, 15),
            (17, 1),
            (18, 17),
            (19, 18),
            (20, 19),
        ]
    ),  # fmt: skip
    parts={
        "trunk": (0, 1, 2, 3, 20),
        "left_arm": (4, 5, 6, 7, 21, 22),
        "right_arm": (8, 9, 10, 11, 23, 24),
        "left_leg": (12, 13, 14, 15),
        "right_leg": (16, 17, 18, 19),
    },
    center=1,
    left_shoulder=4,
    right_shoulder=8,
    spine_base=0,
    spine_top=20,
)

# Kinect SDK v1 order (0-based): 0 hip_center, 1 spine, 2 shoulder_center, 3 head,
# 4-7 left shoulder/elbow/wrist/hand, 8-11 right ..., 12-15 left hip/knee/ankle/foot,
# 16-19 right ...
KINECT_V1_20 = Layout(
    name="kinect-v1-20",
    joint_names=(
        "hip_center",
        "spine",
        "shoulder_center",
        "head",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "left_hand",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "right_hand",
        "left_hip",
        "left_knee",
        "left_ankle",
        "left_foot",
        "right_hip",
        "right_knee",
        "right_ankle",
        "right_foot",
    ),  # fmt: skip
    bones=(
        (0, 1),
        (2, 1),
        (3, 2),
        (4, 2),
        (5, 4),
        (6, 5),
        (7, 6),
        (8, 2),
        (9, 8),
        (10, 9),
        (11, 10),
        (12, 0),
        (13, 12),
        (14, 13),
        (15, 14),
        (16, 0),
        (17, 16),
        (18, 17),
        (19, 18),
    ),  # fmt: skip
    parts={
        "trunk": (0, 1, 2, 3),
        "left_arm": (4, 5, 6, 7),
        "right_arm": (8, 9, 10, 11),
        "left_leg": (12, 13, 14, 15),
        "right_leg": (16, 17, 18, 19),
    },
    center=1,
    left_shoulder=4,
    right_shoulder=8,
    spine_base=0,
    spine_top=2,
)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (NTU_25, KINECT_V1_20)}

# For each (source, target): source joint index feeding each target joint, shape (V_target,).
# The 20 joints both Kinect layouts share; the NTU-only hand tips and thumbs are dropped
# (ntu -> kinect) or filled from the hand joint (kinect -> ntu).
_NTU_FOR_KINECT = (0, 1, 20, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)
_KINECT_FOR_NTU = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    2,
    7,
    7,
    11,
    11,
)
LAYOUT_MAPS: dict[tuple[str, str], tuple[int, ...]] = {
    ("ntu-25", "kinect-v1-20"): _NTU_FOR_KINECT,
    ("kinect-v1-20", "ntu-25"): _KINECT_FOR_NTU,
}


def get_layout(name: str) -> Layout:
    """The layout called ``name``; a clear error naming the known ones otherwise."""
    try:
        return LAYOUTS[name]
    except KeyError:
        known = ", ".join(sorted(LAYOUTS))
        raise SkelsslError(f"unknown layout {name!r} (known: {known})") from None


def map_layout(joints: np.ndarray, source: str, target: str) -> np.ndarray:
    """Re-order joints ``(..., V_source, C)`` of layout ``source`` into layout ``target``."""
    if source == target:
        return joints
    try:
        index = LAYOUT_MAPS[(source, target)]
    except KeyError:
        raise SkelsslError(f"no joint mapping from layout {source!r} to {target!r}") from None
    return joints[..., list(index), :]
