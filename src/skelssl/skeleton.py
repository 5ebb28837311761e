"""Joint layouts: names, bones, left/right limbs, five body parts, reference joints.

Every augmentation, encoder graph and preprocessing step asks a :class:`Layout` for
joint indices; no dataset's joint order is baked in anywhere else.

Layouts
-------
``ntu-25``
    Kinect v2 as in NTU RGB+D and PKU-MMD (Shahroudy et al. 2016, Fig. 1 order).
``kinect-v1-20``
    Kinect SDK v1 order as in NW-UCLA, UTD-MHAD and MSR Action3D.
``coco-17``
    The 17 COCO keypoints of 2D pose estimators (HRNet, ViTPose, pyskl's 2D annotations).
``openpose-18``
    OpenPose's COCO-18 order (pyskl calls it ``openpose``).
``mediapipe-33``
    MediaPipe Pose's 33 landmarks.

A user's layout is a YAML file (:func:`load_layout_file`): ``get_layout("my_layout.yaml")``
reads it (safe YAML) and the layout's name is the file's resolved path.

:data:`LAYOUT_MAPS` gives, for a pair of layouts, the joints of the source layout that
fill each joint of the target (``-1``: no counterpart, filled with zeros), for transfer
between datasets: ``ntu-25``, ``kinect-v1-20`` and ``coco-17`` map into one another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skelssl.errors import SkelsslError

PART_NAMES = ("trunk", "left_arm", "right_arm", "left_leg", "right_leg")
# A left/right pair whose left joint is named with one of these goes to the legs, else the arms.
_LEG_WORDS = ("hip", "knee", "ankle", "foot", "heel", "toe", "leg")


@dataclass(frozen=True)
class Layout:
    """A named skeleton topology. All indices are 0-based joint indices.

    Attributes:
        name: layout name (``ntu-25``, ``kinect-v1-20``).
        joint_names: one name per joint, in the dataset's order.
        bones: ``(child, parent)`` pairs of a spanning tree rooted at ``center``.
        parts: the five body parts ``PART_NAMES`` -> joint indices.
        center: joint that is the origin after centring (spine middle) and the root of
            the bone tree (ST-GCN's partitions count hops to it).
        left_shoulder, right_shoulder: define the X axis of view normalisation.
        spine_base, spine_top: define the Y axis of view normalisation (None where the
            layout has no such joints: 2D pose layouts; 3D view normalisation then refuses).
        pairs: ``(left, right)`` joints swapped by a horizontal flip; empty: the arms' and
            legs' joints of the parts, paired in order.
    """

    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    parts: dict[str, tuple[int, ...]] = field(hash=False)
    center: int
    left_shoulder: int
    right_shoulder: int
    spine_base: int | None
    spine_top: int | None
    pairs: tuple[tuple[int, int], ...] = ()

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
    def left_right_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(left, right)`` joint pairs a horizontal flip swaps."""
        return self.pairs or tuple(zip(self.left, self.right))

    @property
    def mirror(self) -> np.ndarray:
        """Permutation swapping each left joint with its right counterpart, shape (V,)."""
        perm = np.arange(self.num_joints)
        for left, right in self.left_right_pairs:
            perm[left], perm[right] = right, left
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

_HEAD_WORDS = ("eye", "ear", "mouth")


def _named_pairs(names) -> tuple[tuple[int, int], ...]:
    """``(left, right)`` joints named ``left_*``/``right_*`` (or ``*_left``/``*_right``),
    in the order of the left joints."""
    pairs = []
    for v, name in enumerate(names):
        if name.startswith("left_"):
            partner = "right_" + name.removeprefix("left_")
        elif name.endswith("_left"):
            partner = name.removesuffix("_left") + "_right"
        else:
            continue
        if partner in names:
            pairs.append((v, names.index(partner)))
    return tuple(pairs)


def _infer_parts(pairs, names, trunk_words: tuple[str, ...] = ()) -> dict[str, tuple[int, ...]]:
    """The five parts from the flip pairs and the joint names: a pair's left joint named with
    one of :data:`_LEG_WORDS` puts the pair in the legs, else in the arms; the unpaired
    joints, and the pairs whose left joint is named with one of ``trunk_words``, in the
    trunk (in joint order)."""

    def named(v: int, words: tuple[str, ...]) -> bool:
        return any(word in names[v].lower() for word in words)

    limbs = [(left, right) for left, right in pairs if not named(left, trunk_words)]
    in_limbs = {v for pair in limbs for v in pair}
    parts = {part: [] for part in PART_NAMES}
    parts["trunk"] = [v for v in range(len(names)) if v not in in_limbs]
    for left, right in limbs:
        limb = "leg" if named(left, _LEG_WORDS) else "arm"
        parts[f"left_{limb}"].append(left)
        parts[f"right_{limb}"].append(right)
    return {part: tuple(joints) for part, joints in parts.items()}


def _pose_2d_layout(name: str, joint_names, bones, center: str) -> Layout:
    """A 2D pose estimator's layout, everything but its bones read from the joint names: the
    flip pairs (:func:`_named_pairs`), the parts (:func:`_infer_parts`: the head's pairs,
    eyes, ears and mouth, stay in the trunk), the shoulders; no spine joints (3D view
    normalisation refuses)."""
    pairs = _named_pairs(joint_names)
    return Layout(
        name=name,
        joint_names=joint_names,
        bones=bones,
        parts=_infer_parts(pairs, joint_names, trunk_words=_HEAD_WORDS),
        center=joint_names.index(center),
        left_shoulder=joint_names.index("left_shoulder"),
        right_shoulder=joint_names.index("right_shoulder"),
        spine_base=None,
        spine_top=None,
        pairs=pairs,
    )


# COCO keypoints (0-based): 0 nose, 1-4 left/right eye, left/right ear, 5-6 shoulders,
# 7-8 elbows, 9-10 wrists, 11-12 hips, 13-14 knees, 15-16 ankles (left before right).
# Bones rooted at the nose as in pyskl's ``coco`` graph (its ``inward`` pairs).
COCO_17 = _pose_2d_layout(
    name="coco-17",
    joint_names=(
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ),  # fmt: skip
    bones=(
        (15, 13),
        (13, 11),
        (16, 14),
        (14, 12),
        (11, 5),
        (12, 6),
        (9, 7),
        (7, 5),
        (10, 8),
        (8, 6),
        (5, 0),
        (6, 0),
        (1, 0),
        (3, 1),
        (2, 0),
        (4, 2),
    ),  # fmt: skip
    center="nose",
)

# OpenPose COCO-18 (0-based): 0 nose, 1 neck, 2-4 right shoulder/elbow/wrist, 5-7 left ...,
# 8-10 right hip/knee/ankle, 11-13 left ..., 14 right eye, 15 left eye, 16 right ear,
# 17 left ear. Bones rooted at the neck as in pyskl's ``openpose`` graph.
OPENPOSE_18 = _pose_2d_layout(
    name="openpose-18",
    joint_names=(
        "nose",
        "neck",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "right_hip",
        "right_knee",
        "right_ankle",
        "left_hip",
        "left_knee",
        "left_ankle",
        "right_eye",
        "left_eye",
        "right_ear",
        "left_ear",
    ),  # fmt: skip
    bones=(
        (4, 3),
        (3, 2),
        (7, 6),
        (6, 5),
        (13, 12),
        (12, 11),
        (10, 9),
        (9, 8),
        (11, 5),
        (8, 2),
        (5, 1),
        (2, 1),
        (0, 1),
        (15, 0),
        (14, 0),
        (17, 15),
        (16, 14),
    ),  # fmt: skip
    center="neck",
)

# MediaPipe Pose landmarks (0-based): 0 nose, 1-3 left eye inner/eye/outer, 4-6 right ...,
# 7-8 ears, 9-10 mouth, 11-12 shoulders, 13-14 elbows, 15-16 wrists, 17-18 pinkies,
# 19-20 index fingers, 21-22 thumbs, 23-24 hips, 25-26 knees, 27-28 ankles, 29-30 heels,
# 31-32 foot indices (left before right). MediaPipe's connections form cycles; the bones
# are a spanning tree of them rooted at the nose, the shoulders joined to the nose as in
# COCO (MediaPipe joins the head to nothing).
MEDIAPIPE_33 = _pose_2d_layout(
    name="mediapipe-33",
    joint_names=(
        "nose",
        "left_eye_inner",
        "left_eye",
        "left_eye_outer",
        "right_eye_inner",
        "right_eye",
        "right_eye_outer",
        "left_ear",
        "right_ear",
        "mouth_left",
        "mouth_right",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_pinky",
        "right_pinky",
        "left_index",
        "right_index",
        "left_thumb",
        "right_thumb",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
        "left_heel",
        "right_heel",
        "left_foot_index",
        "right_foot_index",
    ),  # fmt: skip
    bones=(
        (1, 0),
        (2, 1),
        (3, 2),
        (7, 3),
        (4, 0),
        (5, 4),
        (6, 5),
        (8, 6),
        (9, 0),
        (10, 0),
        (11, 0),
        (12, 0),
        (13, 11),
        (15, 13),
        (17, 15),
        (19, 15),
        (21, 15),
        (14, 12),
        (16, 14),
        (18, 16),
        (20, 16),
        (22, 16),
        (23, 11),
        (25, 23),
        (27, 25),
        (29, 27),
        (31, 27),
        (24, 12),
        (26, 24),
        (28, 26),
        (30, 28),
        (32, 28),
    ),  # fmt: skip
    center="nose",
)

LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (NTU_25, KINECT_V1_20, COCO_17, OPENPOSE_18, MEDIAPIPE_33)
}
LAYOUT_ALIASES = {"openpose": "openpose-18", "coco": "coco-17", "mediapipe": "mediapipe-33"}
# Layouts inferred from the joint count alone (20 and 25 too: no other built-in has them).
LAYOUT_BY_JOINT_COUNT: dict[int, str] = {
    layout.num_joints: name for name, layout in LAYOUTS.items()
}

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
# COCO-17 and the Kinect layouts share the limbs (shoulders, elbows, wrists, hips, knees,
# ankles) and the head (COCO's nose <-> Kinect's head); a Kinect hand or foot is filled from
# the COCO wrist or ankle, COCO's eyes and ears from the Kinect head; the Kinect spine
# joints have no COCO counterpart (-1: zeros).
_NTU_FOR_COCO = (3, 3, 3, 3, 3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18)
_KINECT_FOR_COCO = _NTU_FOR_COCO  # same indices: Kinect v1's first 20 joints mirror NTU's
_COCO_FOR_NTU = (-1, -1, -1, 0, 5, 7, 9, 9, 6, 8, 10, 10, 11, 13, 15, 15, 12, 14, 16, 16,
                 -1, 9, 9, 10, 10)  # fmt: skip
_COCO_FOR_KINECT = _COCO_FOR_NTU[:20]

LAYOUT_MAPS: dict[tuple[str, str], tuple[int, ...]] = {
    ("ntu-25", "kinect-v1-20"): _NTU_FOR_KINECT,
    ("kinect-v1-20", "ntu-25"): _KINECT_FOR_NTU,
    ("ntu-25", "coco-17"): _NTU_FOR_COCO,
    ("kinect-v1-20", "coco-17"): _KINECT_FOR_COCO,
    ("coco-17", "ntu-25"): _COCO_FOR_NTU,
    ("coco-17", "kinect-v1-20"): _COCO_FOR_KINECT,
}

YAML_SUFFIXES = (".yaml", ".yml")
_FILE_LAYOUTS: dict[tuple[str, int], Layout] = {}


def get_layout(name: str) -> Layout:
    """The layout called ``name`` (or an alias, or a layout YAML file's path); a clear error
    naming the known ones otherwise."""
    name = LAYOUT_ALIASES.get(name, name)
    if name in LAYOUTS:
        return LAYOUTS[name]
    if str(name).lower().endswith(YAML_SUFFIXES):
        return load_layout_file(name)
    known = ", ".join(sorted(LAYOUTS))
    raise SkelsslError(f"unknown layout {name!r} (known: {known}, or a layout .yaml file)")


def load_layout_file(path: str | os.PathLike) -> Layout:
    """A user's layout from a YAML file (safe YAML; read once per file version).

    Keys: ``joints`` (list of names), ``edges`` (pairs of joint names or indices; a
    connected graph: its breadth-first spanning tree from the centre becomes the bones),
    ``center`` (a joint), optional ``pairs`` (``[left, right]`` joints swapped by a flip),
    optional ``parts`` (``trunk``, ``left_arm``, ``right_arm``, ``left_leg``,
    ``right_leg`` -> joint lists; default: the pairs' left and right joints, those named
    like hips, knees, ankles, feet, heels or toes in the legs, the others in the arms,
    unpaired joints in the trunk), optional ``shoulders`` (``[left, right]``) and
    ``spine`` (``[base, top]``) for 3D view normalisation. The layout's name is the file's
    resolved path, so a run's data config finds it again.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise SkelsslError("layout file not found", path)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _FILE_LAYOUTS:
        _FILE_LAYOUTS[key] = _parse_layout(_read_yaml(path), path)
    return _FILE_LAYOUTS[key]


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        tree = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SkelsslError(f"not a readable layout YAML: {problem}", path) from None
    if not isinstance(tree, dict):
        raise SkelsslError("a layout YAML must be a mapping with joints, edges, center", path)
    return tree


def _parse_layout(tree: dict, path: Path) -> Layout:
    known = {"name", "joints", "edges", "center", "pairs", "parts", "shoulders", "spine"}
    unknown = sorted(set(tree) - known)
    if unknown:
        raise SkelsslError(f"unknown layout key(s) {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(known))})", path)  # fmt: skip
    for key in ("joints", "edges", "center"):
        if key not in tree:
            raise SkelsslError(f"layout YAML misses the key {key!r}", path)
    names = tree["joints"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SkelsslError("joints must be a non-empty list of joint names", path)
    if len(set(names)) != len(names):
        raise SkelsslError("joints has a repeated name", path)

    def joint(value, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise SkelsslError(f"{key}: {value!r} is not a joint name or index", path)
        if isinstance(value, int):
            if not 0 <= value < len(names):
                raise SkelsslError(f"{key}: joint index {value} outside 0..{len(names) - 1}", path)
            return value
        if value not in names:
            raise SkelsslError(f"{key}: unknown joint {value!r}", path)
        return names.index(value)

    def joint_pairs(values, key: str) -> list[tuple[int, int]]:
        if not isinstance(values, list) or not all(
            isinstance(pair, list) and len(pair) == 2 for pair in values
        ):
            raise SkelsslError(f"{key} must be a list of [joint, joint] pairs", path)
        return [(joint(a, key), joint(b, key)) for a, b in values]

    center = joint(tree["center"], "center")
    bones = _spanning_tree(len(names), joint_pairs(tree["edges"], "edges"), center, path)
    pairs = tuple(joint_pairs(tree.get("pairs") or [], "pairs"))
    parts = _layout_parts(tree.get("parts"), pairs, names, joint, path)
    shoulders = joint_pairs([tree["shoulders"]], "shoulders")[0] if "shoulders" in tree else None
    spine = joint_pairs([tree["spine"]], "spine")[0] if "spine" in tree else (None, None)
    if shoulders is None:
        shoulders = tuple(names.index(n) if n in names else -1
                          for n in ("left_shoulder", "right_shoulder"))  # fmt: skip
    return Layout(
        name=str(path),
        joint_names=tuple(names),
        bones=bones,
        parts=parts,
        center=center,
        left_shoulder=shoulders[0],
        right_shoulder=shoulders[1],
        spine_base=spine[0],
        spine_top=spine[1],
        pairs=pairs,
    )


def _spanning_tree(
    count: int, edges: list[tuple[int, int]], center: int, path: Path
) -> tuple[tuple[int, int], ...]:
    """(child, parent) bones of the breadth-first tree from ``center`` over ``edges``."""
    neighbours: dict[int, list[int]] = {v: [] for v in range(count)}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    parent = {center: center}
    queue = [center]
    for v in queue:
        for w in neighbours[v]:
            if w not in parent:
                parent[w] = v
                queue.append(w)
    if len(parent) != count:
        lonely = sorted(set(range(count)) - set(parent))
        raise SkelsslError(f"edges leave joint(s) {lonely} unconnected to the centre", path)
    return tuple((v, parent[v]) for v in queue[1:])


def _layout_parts(tree, pairs, names, joint, path) -> dict[str, tuple[int, ...]]:
    if tree is not None:
        if not isinstance(tree, dict) or set(tree) != set(PART_NAMES):
            raise SkelsslError(f"parts must map exactly {', '.join(PART_NAMES)} to joints", path)
        return {part: tuple(joint(v, f"parts.{part}") for v in tree[part]) for part in PART_NAMES}
    return _infer_parts(pairs, names)


def map_layout(joints: np.ndarray, source: str, target: str) -> np.ndarray:
    """Re-order joints ``(..., V_source, C)`` of layout ``source`` into layout ``target``.

    A target joint without a source counterpart (index -1 in :data:`LAYOUT_MAPS`) is zero.
    """
    source, target = LAYOUT_ALIASES.get(source, source), LAYOUT_ALIASES.get(target, target)
    if source == target:
        return joints
    try:
        index = np.asarray(LAYOUT_MAPS[(source, target)])
    except KeyError:
        raise SkelsslError(f"no joint mapping from layout {source!r} to {target!r}") from None
    mapped = joints[..., np.maximum(index, 0), :]
    if (index < 0).any():
        mapped = np.where((index >= 0)[:, None], mapped, 0).astype(joints.dtype, copy=False)
    return mapped
