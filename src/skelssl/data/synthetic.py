"""The embedded default dataset: procedurally generated 3D human actions (``ntu-25``).

Each performance is built in four steps:

1. **Rest skeleton** — per-joint unit bone directions (body frame: x = the body's left,
   y = up, z = forward) scaled by per-subject bone lengths (height and proportions).
2. **Joint angles** — each class drives rotations at the root, spine, neck, shoulders,
   elbows, hips and knees along smooth trajectories (sinusoids, smooth-step
   envelopes) with per-take speed, amplitude and phase, plus a little idle motion.
3. **Forward kinematics** — local rotations composed down the kinematic tree; the body
   is lifted so that its lowest foot stands on the floor.
4. **Cameras** — every performance is seen by several cameras, each a rigid view
   transform in the Kinect convention (x to the sensor's left, y up, z away from the
   sensor): rotation about the vertical (-45..+45 degrees), a small tilt, a distance
   and offset; then gaussian sensor noise.

Randomness: one ``numpy.random.Generator`` per performance, seeded from
``(config.seed, class, subject, take)``, and one per subject for its body, so the same
seed gives identical arrays regardless of how many classes/subjects are requested.

Some class pairs are deliberately confusable (punching/reaching, waving/raising a hand,
squatting/bowing, walking in place/side-stepping/turning): they share poses and differ
mostly in dynamics.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from skelssl.data.types import RawDataset, Sequence
from skelssl.errors import SkelsslError
from skelssl.skeleton import NTU_25

CLASS_NAMES: tuple[str, ...] = (
    "waving",
    "clapping",
    "squatting",
    "kicking",
    "punching",
    "bowing",
    "jumping",
    "walking_in_place",
    "reaching",
    "turning",
    "raising_hand",
    "side_stepping",
    # Time-reversed pairs: the same poses in the opposite order, so a static (mean-pose)
    # feature cannot tell them apart — like NW-UCLA's sit down / stand up, donning / doffing.
    "sitting_down",
    "standing_up",
    "lifting_both_arms",
    "lowering_both_arms",
)

FPS = 30.0
_PROGRESS_BAR_MIN_SEQUENCES = 2000


@dataclass
class SyntheticConfig:
    """What to generate; ``classes * subjects * takes * cameras`` sequences in all."""

    classes: int = 16  # first N of CLASS_NAMES (>= 2)
    subjects: int = 10
    takes: int = 3  # takes per subject per class
    cameras: int = 3
    bodies: int = 1  # 1, or 2: a second person beside the first doing the same class
    min_frames: int = 40
    max_frames: int = 120
    noise_std: float = 0.01  # metres
    seed: int = 0

    @property
    def num_sequences(self) -> int:
        return self.classes * self.subjects * self.takes * self.cameras

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first bad field."""
        checks = [
            ("classes", 2 <= self.classes <= len(CLASS_NAMES), f"must be in 2..{len(CLASS_NAMES)}"),
            ("subjects", self.subjects >= 1, "must be >= 1"),
            ("takes", self.takes >= 1, "must be >= 1"),
            ("cameras", self.cameras >= 1, "must be >= 1"),
            ("bodies", self.bodies in (1, 2), "must be 1 or 2"),
            ("min_frames", self.min_frames >= 1, "must be >= 1"),
            ("max_frames", self.max_frames >= self.min_frames, "must be >= min_frames"),
            ("noise_std", self.noise_std >= 0, "must be >= 0"),
            ("seed", self.seed >= 0, "must be >= 0"),
        ]
        for name, ok, problem in checks:
            if not ok:
                raise SkelsslError(f"{problem}, got {getattr(self, name)!r}", f"synthetic.{name}")


# ----------------------------------------------------------------------------- skeleton

J = {name: index for index, name in enumerate(NTU_25.joint_names)}
V = NTU_25.num_joints

# Kinematic tree for forward kinematics, rooted at spine_base (the pelvis): joint -> parent.
# The same undirected bones as NTU_25.bones, so bone lengths are those of the layout.
_FK_PARENT = {
    "spine_mid": "spine_base",
    "spine_shoulder": "spine_mid",
    "neck": "spine_shoulder",
    "head": "neck",
    "left_shoulder": "spine_shoulder",
    "left_elbow": "left_shoulder",
    "left_wrist": "left_elbow",
    "left_hand": "left_wrist",
    "left_hand_tip": "left_hand",
    "left_thumb": "left_hand",
    "right_shoulder": "spine_shoulder",
    "right_elbow": "right_shoulder",
    "right_wrist": "right_elbow",
    "right_hand": "right_wrist",
    "right_hand_tip": "right_hand",
    "right_thumb": "right_hand",
    "left_hip": "spine_base",
    "left_knee": "left_hip",
    "left_ankle": "left_knee",
    "left_foot": "left_ankle",
    "right_hip": "spine_base",
    "right_knee": "right_hip",
    "right_ankle": "right_knee",
    "right_foot": "right_ankle",
}
_FK_PARENT_INDEX = np.array([J[_FK_PARENT.get(name, name)] for name in NTU_25.joint_names])


def _fk_levels() -> list[np.ndarray]:
    """Joint indices grouped by depth below the root (depth 1, 2, ...), for batched FK."""
    depth = {"spine_base": 0}
    for name, parent in _FK_PARENT.items():  # parents are listed before their children
        depth[name] = depth[parent] + 1
    return [
        np.array([J[name] for name, d in depth.items() if d == level])
        for level in range(1, max(depth.values()) + 1)
    ]


_FK_LEVELS = _fk_levels()

# Rest bone (joint - parent) in the body frame for a 1.75 m adult: (left-side direction, metres).
# Right-side bones mirror the left ones (x negated).
_REST_BONES = {
    "spine_mid": ((0.0, 1.0, 0.0), 0.25),
    "spine_shoulder": ((0.0, 1.0, -0.05), 0.23),
    "neck": ((0.0, 1.0, 0.05), 0.07),
    "head": ((0.0, 1.0, 0.1), 0.14),
    "shoulder": ((1.0, -0.15, -0.05), 0.17),
    "elbow": ((0.0, -1.0, 0.0), 0.28),
    "wrist": ((0.0, -1.0, 0.0), 0.25),
    "hand": ((0.0, -1.0, 0.0), 0.07),
    "hand_tip": ((0.0, -1.0, 0.0), 0.07),
    "thumb": ((-0.3, -0.6, 0.7), 0.05),
    "hip": ((1.0, -0.4, 0.0), 0.09),
    "knee": ((0.0, -1.0, 0.0), 0.43),
    "ankle": ((0.0, -1.0, 0.0), 0.41),
    "foot": ((0.0, -0.3, 1.0), 0.12),
}
_SEGMENT = {  # which proportion factor scales each bone
    "spine_mid": "trunk", "spine_shoulder": "trunk", "neck": "trunk", "head": "head",
    "shoulder": "width", "hip": "width",
    "elbow": "arm", "wrist": "arm", "hand": "hand", "hand_tip": "hand", "thumb": "hand",
    "knee": "leg", "ankle": "leg", "foot": "foot",
}  # fmt: skip
_SEGMENTS = sorted(set(_SEGMENT.values()))


def _bone_key(joint_name: str) -> tuple[str, float]:
    """(key into _REST_BONES, x sign) for a joint: left/right share a key, right mirrors x."""
    for side, sign in (("left_", 1.0), ("right_", -1.0)):
        if joint_name.startswith(side):
            return joint_name[len(side) :], sign
    return joint_name, 1.0


def _rest_directions() -> np.ndarray:
    """Unit rest bone directions in the body frame, shape (V, 3); zero for the root."""
    directions = np.zeros((V, 3))
    for name in _FK_PARENT:
        key, sign = _bone_key(name)
        direction = np.array(_REST_BONES[key][0]) * (sign, 1.0, 1.0)
        directions[J[name]] = direction / np.linalg.norm(direction)
    return directions


_REST_DIRECTIONS = _rest_directions()


@dataclass(frozen=True)
class _Body:
    """A subject's body: rest bone offsets (V, 3) in metres and posture habits."""

    offsets: np.ndarray
    ankle_height: float
    stoop: float  # radians of forward lean of the upper back at rest
    arm_abduction: float  # radians the arms hang away from the body at rest


def _make_body(rng: np.random.Generator) -> _Body:
    """Per-subject bone lengths: overall height scale times per-segment proportions."""
    height = rng.uniform(0.86, 1.1)
    proportion = dict(zip(_SEGMENTS, rng.uniform(0.93, 1.07, len(_SEGMENTS))))
    lengths = np.zeros(V)
    for name in _FK_PARENT:
        key, _ = _bone_key(name)
        lengths[J[name]] = _REST_BONES[key][1] * proportion[_SEGMENT[key]]
    per_bone = rng.uniform(0.97, 1.03, V)  # small asymmetry-free jitter: same for left/right
    mirrored = per_bone[NTU_25.mirror]
    lengths *= height * (per_bone + mirrored) / 2
    return _Body(
        offsets=_REST_DIRECTIONS * lengths[:, None],
        ankle_height=0.07 * height,
        stoop=rng.uniform(-0.03, 0.1),
        arm_abduction=rng.uniform(0.05, 0.22),
    )


# ----------------------------------------------------------------------------- rotations


def _rot_x(angle: np.ndarray) -> np.ndarray:
    """Rotation about x (the body's left axis); positive turns up towards forward. (..., 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([one, zero, zero, zero, c, -s, zero, s, c], -1).reshape(*angle.shape, 3, 3)


def _rot_y(angle: np.ndarray) -> np.ndarray:
    """Rotation about y (vertical); positive turns forward towards the left. (..., 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([c, zero, s, zero, one, zero, -s, zero, c], -1).reshape(*angle.shape, 3, 3)


def _rot_z(angle: np.ndarray) -> np.ndarray:
    """Rotation about z (forward); positive turns down towards the left. (..., 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([c, -s, zero, s, c, zero, zero, zero, one], -1).reshape(*angle.shape, 3, 3)


def _euler_yzx(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``R_y(y) @ R_z(z) @ R_x(x)`` written out entry by entry (no matmul), (..., 3, 3)."""
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    out = np.empty(x.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = (
        cy * cz,
        sy * sx - cy * sz * cx,
        cy * sz * sx + sy * cx,
    )
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = sz, cz * cx, -cz * sx
    out[..., 2, 0], out[..., 2, 1], out[..., 2, 2] = (
        -sy * cz,
        sy * sz * cx + cy * sx,
        cy * cx - sy * sz * sx,
    )
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic smooth-step 3x^2 - 2x^3 on x clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _envelope(tau: np.ndarray, rise: tuple, fall: tuple) -> np.ndarray:
    """0 -> 1 over tau in [rise0, rise1], back to 0 over [fall0, fall1]; broadcasts."""
    up = _smoothstep((tau - rise[0]) / np.maximum(rise[1] - rise[0], 1e-6))
    down = _smoothstep((tau - fall[0]) / np.maximum(fall[1] - fall[0], 1e-6))
    return up * (1.0 - down)


def _repeated_bumps(tau: np.ndarray, count: np.ndarray, sharpness: np.ndarray) -> np.ndarray:
    """``count`` smooth 0 -> 1 -> 0 bumps over tau in [0, 1]; higher sharpness = longer holds."""
    bump = np.sin(np.pi * np.clip(tau * count, 0.0, count)) ** 2
    return np.clip(bump * sharpness, 0.0, 1.0)


# ----------------------------------------------------------------------------- poses


class _Pose:
    """Joint-angle trajectories of B bodies over T frames.

    ``x``, ``y``, ``z`` (B, T, V): rotation of the bone ending at each joint about its
    parent joint, applied as ``R_y @ R_z @ R_x`` in the parent's frame. ``yaw`` (B, T)
    and ``shift`` (B, T, 3) place the root; ``lift`` (B, T) is height above standing.
    Helpers take ``side`` = +1 for left, -1 for right, so left/right mirror each other.
    """

    # The bone whose rotation is the named joint's angle (rotation about its parent).
    BONE = {
        "lower_back": J["spine_mid"],
        "upper_back": J["spine_shoulder"],
        "neck": J["neck"],
        "head": J["head"],
    }
    LIMB = {  # joint name -> (left bone, right bone)
        "clavicle": (J["left_shoulder"], J["right_shoulder"]),
        "shoulder": (J["left_elbow"], J["right_elbow"]),
        "elbow": (J["left_wrist"], J["right_wrist"]),
        "wrist": (J["left_hand"], J["right_hand"]),
        "hip": (J["left_knee"], J["right_knee"]),
        "knee": (J["left_ankle"], J["right_ankle"]),
        "ankle": (J["left_foot"], J["right_foot"]),
    }

    def __init__(self, bodies: int, frames: int):
        self.x = np.zeros((bodies, frames, V))
        self.y = np.zeros((bodies, frames, V))
        self.z = np.zeros((bodies, frames, V))
        self.yaw = np.zeros((bodies, frames))
        self.shift = np.zeros((bodies, frames, 3))
        self.lift = np.zeros((bodies, frames))

    def _limb(self, joint: str, side: int) -> int:
        return self.LIMB[joint][0 if side > 0 else 1]

    def bend_trunk(self, angle, part: str = "lower_back") -> None:
        """Lean the trunk forward (positive) at the lower or upper back."""
        self.x[:, :, self.BONE[part]] += angle

    def raise_arm_forward(self, side: int, angle) -> None:
        """Shoulder flexion: the hanging arm swings forward and up."""
        self.x[:, :, self._limb("shoulder", side)] -= angle

    def raise_arm_sideways(self, side: int, angle) -> None:
        """Shoulder abduction: the hanging arm swings out to its side and up."""
        self.z[:, :, self._limb("shoulder", side)] += side * angle

    def swing_arm_outward(self, side: int, angle) -> None:
        """Horizontal abduction of a forward-raised arm (about the vertical)."""
        self.y[:, :, self._limb("shoulder", side)] += side * angle

    def bend_elbow(self, side: int, angle) -> None:
        self.x[:, :, self._limb("elbow", side)] -= angle

    def swing_forearm_sideways(self, side: int, angle) -> None:
        """Forearm rotation in the upper arm's frontal plane (outward positive)."""
        self.z[:, :, self._limb("elbow", side)] += side * angle

    def raise_leg_forward(self, side: int, angle) -> None:
        """Hip flexion: the thigh swings forward and up."""
        self.x[:, :, self._limb("hip", side)] -= angle

    def raise_leg_sideways(self, side: int, angle) -> None:
        """Hip abduction."""
        self.z[:, :, self._limb("hip", side)] += side * angle

    def bend_knee(self, side: int, angle) -> None:
        self.x[:, :, self._limb("knee", side)] += angle

    def level_feet(self) -> None:
        """Ankle angle that keeps each foot parallel to the pelvis in the sagittal plane."""
        for side in (1, -1):
            ankle = self._limb("ankle", side)
            self.x[:, :, ankle] = -(
                self.x[:, :, self._limb("hip", side)] + self.x[:, :, self._limb("knee", side)]
            )


def _u(rng: np.random.Generator, low: float, high: float, bodies: int) -> np.ndarray:
    """One uniform draw per body, shape (B, 1) to broadcast over frames."""
    return rng.uniform(low, high, (bodies, 1))


def _deg(rng: np.random.Generator, low: float, high: float, bodies: int) -> np.ndarray:
    """One uniform angle per body, given in degrees, returned in radians, shape (B, 1)."""
    return np.radians(_u(rng, low, high, bodies))


def _hold_envelope(rng, tau, bodies, rise=(0.05, 0.3), fall=(0.65, 0.95)) -> np.ndarray:
    """A rise-hold-fall envelope with random timing per body, shape (B, T)."""
    start = _u(rng, rise[0], rise[0] + 0.1, bodies)
    top = start + _u(rng, 0.1, rise[1] - rise[0], bodies)
    release = _u(rng, fall[0], fall[0] + 0.15, bodies)
    end = np.minimum(release + _u(rng, 0.1, fall[1] - fall[0], bodies), 1.0)
    return _envelope(tau, (start, top), (release, end))


def _oscillation(rng, seconds, bodies, low_hz, high_hz) -> np.ndarray:
    """sin(2 pi f t + phase) with a random frequency and phase per body, shape (B, T)."""
    frequency = _u(rng, low_hz, high_hz, bodies)
    phase = _u(rng, 0.0, 2 * np.pi, bodies)
    return np.sin(2 * np.pi * frequency * seconds + phase)


def _hand_up(pose, rng, side: int, envelope) -> None:
    """Upper arm out to the side, forearm pointing up in the frontal plane (waving pose)."""
    b = pose.x.shape[0]
    abduction = _deg(rng, 40, 110, b)
    forearm = np.clip(_deg(rng, 140, 180, b) - abduction, 0.0, None)  # forearm elevation
    pose.raise_arm_sideways(side, envelope * abduction)
    pose.raise_arm_forward(side, envelope * _deg(rng, 0, 30, b))
    pose.swing_forearm_sideways(side, envelope * forearm)


def _forward_arm_target(rng, bodies):
    """An arm stretched forward, shared by punching and reaching: (flex, outward, elbow)."""
    return _deg(rng, 60, 100, bodies), _deg(rng, -20, 15, bodies), _deg(rng, 0, 20, bodies)


def _free_arm_habit(pose, rng, side: int, envelope) -> None:
    """What an arm not used by the action does: hangs, rests on the hip or the belly."""
    b = pose.x.shape[0]
    habit = rng.integers(0, 3, (b, 1))
    on_hip, on_belly = (habit == 1) * envelope, (habit == 2) * envelope
    pose.raise_arm_sideways(side, on_hip * _deg(rng, 25, 45, b))
    pose.bend_elbow(side, on_hip * _deg(rng, 80, 110, b) + on_belly * _deg(rng, 70, 100, b))
    pose.raise_arm_forward(side, on_belly * _deg(rng, 10, 35, b))
    pose.swing_arm_outward(side, -on_belly * _deg(rng, 10, 35, b))


# Each class: (pose, rng, seconds (T,), tau (T,) in [0, 1]) -> None, adding to the pose.
# Right-handed actions use side -1 (the body's right).


def _waving(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    up = _hold_envelope(rng, tau, b)
    _hand_up(pose, rng, -1, up)
    wave = up * _oscillation(rng, seconds, b, 1.3, 2.8)  # side to side in the frontal plane
    pose.swing_forearm_sideways(-1, wave * _deg(rng, 15, 35, b))
    pose.raise_arm_sideways(-1, wave * _deg(rng, 0, 10, b))
    _free_arm_habit(pose, rng, 1, up)


def _clapping(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    up = _hold_envelope(rng, tau, b)
    clap = 0.5 * (1 + _oscillation(rng, seconds, b, 1.5, 3.0))
    forward, elbow = _deg(rng, 35, 80, b), _deg(rng, 30, 80, b)
    closed, opened = _deg(rng, -35, -15, b), _deg(rng, 5, 30, b)
    for side in (1, -1):
        pose.raise_arm_forward(side, up * forward)
        pose.bend_elbow(side, up * elbow)
        pose.swing_arm_outward(side, up * (closed + (opened - closed) * clap))


def _squatting(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    depth = _repeated_bumps(tau, rng.integers(1, 3, (b, 1)), _u(rng, 1.0, 2.0, b))
    depth = depth * _u(rng, 0.35, 1.0, b)
    hip, knee = _deg(rng, 70, 100, b), _deg(rng, 95, 125, b)
    arms_forward = _deg(rng, 0, 80, b)
    for side in (1, -1):
        pose.raise_leg_forward(side, depth * hip)
        pose.bend_knee(side, depth * knee)
        pose.raise_arm_forward(side, depth * arms_forward)
    pose.bend_trunk(depth * _deg(rng, 15, 50, b))


def _kicking(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    kick = _repeated_bumps(tau, rng.integers(1, 3, (b, 1)), _u(rng, 1.0, 1.3, b))
    pose.raise_leg_forward(-1, kick * _deg(rng, 35, 85, b))
    pose.bend_knee(-1, 4 * kick * (1 - kick) * _deg(rng, 30, 80, b))  # bent, then extended
    pose.bend_trunk(-kick * _deg(rng, 0, 15, b))
    for side in (1, -1):
        pose.raise_arm_sideways(side, kick * _deg(rng, 5, 30, b))


def _punching(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    guard = _hold_envelope(rng, tau, b)
    punch = np.maximum(_oscillation(rng, seconds, b, 1.0, 2.2), 0.0) ** 4 * guard  # sharp strikes
    left_guard = rng.random((b, 1)) < 0.6
    left_strikes = left_guard & (rng.random((b, 1)) < 0.5)
    left_punch = np.where(left_strikes, np.roll(punch, max(punch.shape[1] // 3, 1), 1), 0.0)
    for side, strike in ((-1, punch), (1, left_punch)):
        raised = guard if side < 0 else guard * left_guard
        guard_flex, guard_elbow = _deg(rng, 15, 45, b), _deg(rng, 80, 125, b)
        flex, outward, elbow = _forward_arm_target(rng, b)
        pose.raise_arm_forward(side, raised * guard_flex + strike * (flex - guard_flex))
        pose.bend_elbow(side, raised * guard_elbow - strike * (guard_elbow - elbow))
        pose.swing_arm_outward(side, strike * outward)
    _free_arm_habit(pose, rng, 1, guard * ~left_guard)
    pose.bend_trunk(guard * _deg(rng, 0, 15, b))


def _bowing(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    bow = _repeated_bumps(tau, rng.integers(1, 3, (b, 1)), _u(rng, 1.0, 2.0, b))
    lower, upper = _deg(rng, 15, 45, b), _deg(rng, 5, 25, b)
    pose.bend_trunk(bow * lower, "lower_back")
    pose.bend_trunk(bow * upper, "upper_back")
    pose.x[:, :, pose.BONE["neck"]] += bow * _deg(rng, 0, 20, b)
    hang = _u(rng, 0.3, 1.0, b)  # arms partly hang vertically while the trunk bends
    hip, knee = _deg(rng, 0, 30, b), _deg(rng, 0, 50, b)
    for side in (1, -1):
        pose.raise_arm_forward(side, bow * (lower + upper) * hang)
        pose.raise_leg_forward(side, bow * hip)
        pose.bend_knee(side, bow * knee)


def _jumping(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    count = rng.integers(1, 4, (b, 1))
    active = _hold_envelope(rng, tau, b, rise=(0.0, 0.15), fall=(0.85, 1.0)) > 0.5
    cycle = np.mod(tau * count + _u(rng, -0.1, 0.1, b), 1.0)
    crouch = np.exp(-(((cycle - 0.2) / 0.1) ** 2)) + np.exp(-(((cycle - 0.85) / 0.08) ** 2))
    flight = np.clip(np.sin(np.pi * (cycle - 0.35) / 0.4), 0.0, None) * (
        (cycle > 0.35) & (cycle < 0.75)
    )
    crouch, flight = crouch * active, flight * active
    depth = _u(rng, 0.3, 1.0, b)
    arm_swing, arm_back = _deg(rng, 0, 150, b), _deg(rng, 0, 30, b)
    for side in (1, -1):
        pose.raise_leg_forward(side, crouch * depth * _deg(rng, 45, 70, b))
        pose.bend_knee(side, crouch * depth * _deg(rng, 60, 90, b))
        pose.raise_arm_forward(side, flight * arm_swing - crouch * arm_back)
    pose.bend_trunk(crouch * depth * _deg(rng, 10, 30, b))
    pose.lift += flight * _u(rng, 0.05, 0.3, b)


def _walking_in_place(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    active = _hold_envelope(rng, tau, b, rise=(0.0, 0.15), fall=(0.85, 1.0))
    step = _oscillation(rng, seconds, b, 0.7, 1.3) * active
    hip, knee, arm = _deg(rng, 15, 55, b), _deg(rng, 30, 90, b), _deg(rng, 0, 35, b)
    for side in (1, -1):
        lifted = np.maximum(side * step, 0.0)
        pose.raise_leg_forward(side, lifted * hip)
        pose.bend_knee(side, lifted * knee)
        pose.raise_arm_forward(side, -side * step * arm)
        pose.bend_elbow(side, _deg(rng, 0, 40, b) * active)


def _reaching(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    reach = _hold_envelope(rng, tau, b)
    flex, outward, elbow = _forward_arm_target(rng, b)
    pose.raise_arm_forward(-1, reach * flex)
    pose.bend_elbow(-1, _deg(rng, 10, 60, b) * np.sin(np.pi * reach) + reach * elbow)
    pose.swing_arm_outward(-1, reach * outward)
    pose.bend_trunk(reach * _deg(rng, 0, 30, b))
    assist = rng.random((b, 1)) < 0.4  # the other hand comes up a little, or does its habit
    pose.raise_arm_forward(1, reach * assist * _deg(rng, 10, 45, b))
    pose.bend_elbow(1, reach * assist * _deg(rng, 30, 100, b))
    _free_arm_habit(pose, rng, 1, reach * ~assist)


def _turning(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    start = _u(rng, 0.05, 0.3, b)
    turn = _smoothstep((tau - start) / _u(rng, 0.3, 0.65, b))  # turns and stays turned
    direction = np.where(rng.random((b, 1)) < 0.5, -1.0, 1.0)
    pose.yaw += turn * direction * _deg(rng, 45, 180, b)
    shuffling = np.sin(np.pi * turn) * _oscillation(rng, seconds, b, 1.0, 1.8)
    for side in (1, -1):
        lifted = np.maximum(side * shuffling, 0.0)
        pose.raise_leg_forward(side, lifted * _deg(rng, 10, 30, b))
        pose.bend_knee(side, lifted * _deg(rng, 20, 45, b))
        _free_arm_habit(pose, rng, side, 1.0)


def _raising_hand(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    up = _hold_envelope(rng, tau, b)
    like_waving = rng.random((b, 1)) < 0.5  # the waving pose, held still; or arm overhead
    _hand_up(pose, rng, -1, up * like_waving)
    overhead = up * ~like_waving
    pose.raise_arm_forward(-1, overhead * _deg(rng, 90, 170, b))
    pose.raise_arm_sideways(-1, overhead * _deg(rng, 0, 40, b))
    pose.bend_elbow(-1, overhead * _deg(rng, 0, 40, b))
    _free_arm_habit(pose, rng, 1, up)


def _side_stepping(pose, rng, seconds, tau):
    b = pose.x.shape[0]
    count = rng.integers(1, 4, (b, 1))
    direction = 1 if rng.random() < 0.5 else -1  # the same for both bodies
    progress = np.clip(tau * count, 0.0, count.astype(float))
    within = progress - np.floor(np.minimum(progress, count - 1e-9))
    completed = np.floor(np.minimum(progress, count - 1e-9)) + _smoothstep(within)
    pose.shift[:, :, 0] += direction * completed * _u(rng, 0.2, 0.45, b)
    lead = np.sin(np.pi * np.clip(within * 2, 0, 1)) * (progress < count)
    trail = np.sin(np.pi * np.clip(within * 2 - 1, 0, 1)) * (progress < count)
    abduction = _deg(rng, 15, 35, b)
    for side in (1, -1):
        moving = lead if side == direction else trail  # the leading leg goes first
        pose.raise_leg_sideways(side, moving * abduction)
        pose.bend_knee(side, moving * _deg(rng, 5, 25, b))
        pose.raise_arm_sideways(side, moving * _deg(rng, 0, 20, b))
        _free_arm_habit(pose, rng, side, 1.0)


def _transition(rng, tau, bodies) -> np.ndarray:
    """One smooth 0 -> 1 change at a random time and speed per body, shape (B, T).

    Centred on the middle of the take (start 0.15-0.45, duration 0.2-0.4), so the two
    directions of a time-reversed pair spend about as long in each pose.
    """
    start = _u(rng, 0.15, 0.45, bodies)
    duration = _u(rng, 0.2, 0.4, bodies)
    return _smoothstep((tau - start) / duration)


def _seated_pose(pose, rng, depth) -> None:
    """Hips and knees flexed, trunk leaning, hands on the thighs, scaled by depth (B, T)."""
    b = pose.x.shape[0]
    hip, knee = _deg(rng, 75, 100, b), _deg(rng, 80, 110, b)
    for side in (1, -1):
        pose.raise_leg_forward(side, depth * hip)
        pose.bend_knee(side, depth * knee)
        pose.raise_arm_forward(side, depth * _deg(rng, 20, 50, b))
        pose.bend_elbow(side, depth * _deg(rng, 10, 50, b))
    pose.bend_trunk(depth * _deg(rng, 5, 30, b))


def _sitting_down(pose, rng, seconds, tau):
    _seated_pose(pose, rng, _transition(rng, tau, pose.x.shape[0]))


def _standing_up(pose, rng, seconds, tau):
    _seated_pose(pose, rng, 1.0 - _transition(rng, tau, pose.x.shape[0]))


def _arms_overhead(pose, rng, height) -> None:
    """Both arms raised forward-up to overhead, scaled by height (B, T)."""
    b = pose.x.shape[0]
    for side in (1, -1):
        pose.raise_arm_forward(side, height * _deg(rng, 120, 170, b))
        pose.raise_arm_sideways(side, height * _deg(rng, 0, 30, b))
        pose.bend_elbow(side, height * _deg(rng, 0, 30, b))


def _lifting_both_arms(pose, rng, seconds, tau):
    _arms_overhead(pose, rng, _transition(rng, tau, pose.x.shape[0]))


def _lowering_both_arms(pose, rng, seconds, tau):
    _arms_overhead(pose, rng, 1.0 - _transition(rng, tau, pose.x.shape[0]))


_CLASS_MOTIONS = {
    "waving": _waving,
    "clapping": _clapping,
    "squatting": _squatting,
    "kicking": _kicking,
    "punching": _punching,
    "bowing": _bowing,
    "jumping": _jumping,
    "walking_in_place": _walking_in_place,
    "reaching": _reaching,
    "turning": _turning,
    "raising_hand": _raising_hand,
    "side_stepping": _side_stepping,
    "sitting_down": _sitting_down,
    "standing_up": _standing_up,
    "lifting_both_arms": _lifting_both_arms,
    "lowering_both_arms": _lowering_both_arms,
}


def _add_rest_posture(pose: _Pose, bodies: list[_Body]) -> None:
    """Standing posture: arms hanging slightly away from the body, elbows a bit bent."""
    for index, body in enumerate(bodies):
        pose.x[index, :, pose.BONE["upper_back"]] += body.stoop
        for side in (1, -1):
            pose.z[index, :, pose._limb("shoulder", side)] += side * body.arm_abduction
            pose.x[index, :, pose._limb("elbow", side)] -= 0.15
            pose.x[index, :, pose._limb("knee", side)] += 0.03


def _add_idle_motion(pose: _Pose, rng: np.random.Generator, seconds: np.ndarray) -> None:
    """Small smooth random motion of every joint and a body sway (0.1..0.6 Hz)."""
    bodies, _, joints = pose.x.shape
    frequency = rng.uniform(0.1, 0.6, (3, bodies, 1, joints))
    phase = rng.uniform(0, 2 * np.pi, (3, bodies, 1, joints))
    amplitude = rng.uniform(0.0, 0.05, (3, bodies, 1, joints))
    wobble = amplitude * np.sin(2 * np.pi * frequency * seconds[:, None] + phase)  # (3, B, T, V)
    pose.x += wobble[0]
    pose.y += wobble[1]
    pose.z += wobble[2]
    frequency = rng.uniform(0.1, 0.5, (bodies, 1, 3))
    phase = rng.uniform(0, 2 * np.pi, (bodies, 1, 3))
    pose.shift += rng.uniform(0.0, 0.02, (bodies, 1, 3)) * np.sin(
        2 * np.pi * frequency * seconds[None, :, None] + phase
    )


# ----------------------------------------------------------------------------- kinematics


def _forward_kinematics(pose: _Pose, bodies: list[_Body]) -> np.ndarray:
    """World joint positions (B, T, V, 3), feet on the floor y = 0, body frame axes.

    Global rotation G_j = G_parent(j) @ R_j; position p_j = p_parent(j) + G_j @ offset_j.
    """
    joints_first = (2, 0, 1)  # (B, T, V) -> (V, B, T): contiguous per-joint slices
    local = _euler_yzx(*(angles.transpose(joints_first) for angles in (pose.x, pose.y, pose.z)))
    offsets = np.stack([body.offsets for body in bodies], 1)[:, :, None, :, None]  # (V, B, 1, 3, 1)
    glob = np.empty_like(local)
    glob[J["spine_base"]] = _rot_y(pose.yaw)
    positions = np.zeros(local.shape[:3] + (3,))  # (V, B, T, 3)
    for joints in _FK_LEVELS:  # all joints at one depth at once
        parents = _FK_PARENT_INDEX[joints]
        glob[joints] = glob[parents] @ local[joints]
        positions[joints] = positions[parents] + (glob[joints] @ offsets[joints])[..., 0]
    positions = positions.transpose(1, 2, 0, 3)  # (B, T, V, 3)
    feet = [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]]
    ankle_height = np.array([body.ankle_height for body in bodies])[:, None]
    floor_offset = ankle_height - positions[:, :, feet, 1].min(-1)  # lowest foot on the floor
    positions[..., 1] += (floor_offset + pose.lift)[..., None]
    positions += pose.shift[:, :, None, :]
    return positions


def _camera_views(world: np.ndarray, rng: np.random.Generator, cameras: int) -> np.ndarray:
    """Rigid views of the world (B, T, V, 3) -> (K, T, B, V, 3) in Kinect camera coordinates.

    Camera k sits at azimuth -45..+45 degrees around the performer (plus jitter), at height
    h and distance d, tilted slightly: p_cam = R_tilt @ (F @ R_y(-azimuth) @ p + (ox, -h, d))
    with F = diag(-1, 1, -1) turning the body frame (x left, z forward, facing the sensor)
    into the sensor frame (x to the sensor's left, z away from the sensor).
    """
    base = np.linspace(-45.0, 45.0, cameras) if cameras > 1 else np.zeros(1)
    azimuth = np.radians(base + rng.uniform(-5.0, 5.0, cameras))
    tilt = np.radians(rng.uniform(-10.0, 5.0, cameras))
    roll = np.radians(rng.uniform(-2.0, 2.0, cameras))
    height = rng.uniform(0.7, 1.3, cameras)
    distance = rng.uniform(2.5, 3.5, cameras)
    offset = rng.uniform(-0.3, 0.3, cameras)
    flip = np.diag([-1.0, 1.0, -1.0])
    rotation = _rot_z(roll) @ _rot_x(tilt) @ flip @ _rot_y(-azimuth)  # (K, 3, 3)
    translation = _rot_z(roll) @ _rot_x(tilt) @ np.stack([offset, -height, distance], -1)[..., None]
    bodies, frames, joints, _ = world.shape
    points = world.transpose(1, 0, 2, 3).reshape(1, -1, 3)  # (1, T*B*V, 3)
    views = points @ rotation.transpose(0, 2, 1) + translation.transpose(0, 2, 1)
    return views.reshape(cameras, frames, bodies, joints, 3)


# ----------------------------------------------------------------------------- dataset


def _seed(config: SyntheticConfig, *parts: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *parts])


_SUBJECT_STREAM, _PARTNER_STREAM, _PERFORMANCE_STREAM = 0, 1, 2


@functools.lru_cache(maxsize=64)
def _subject_bodies(seed: int, subject: int) -> tuple[_Body, _Body]:
    """The subject's body and the partner who stands beside them when bodies == 2."""
    own = _make_body(np.random.default_rng([seed, _SUBJECT_STREAM, subject]))
    partner = _make_body(np.random.default_rng([seed, _PARTNER_STREAM, subject]))
    return own, partner


def _perform(config: SyntheticConfig, label: int, subject: int, take: int) -> np.ndarray:
    """One take seen by every camera: (K, T, M, V, 3) float32 in metres."""
    rng = _seed(config, _PERFORMANCE_STREAM, label, subject, take)
    bodies = list(_subject_bodies(config.seed, subject)[: config.bodies])
    slowness = rng.uniform()
    frames = int(round(config.min_frames + (config.max_frames - config.min_frames) * slowness))
    seconds = np.arange(frames) / FPS
    tau = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    pose = _Pose(config.bodies, frames)
    _add_rest_posture(pose, bodies)
    _CLASS_MOTIONS[CLASS_NAMES[label]](pose, rng, seconds * rng.uniform(0.8, 1.25), tau)
    pose.level_feet()
    _add_idle_motion(pose, rng, seconds)
    if config.bodies == 2:  # the partner stands beside, facing roughly the same way
        side = 1.0 if rng.random() < 0.5 else -1.0
        pose.shift[1] += [side * rng.uniform(0.8, 1.3), 0.0, rng.uniform(-0.3, 0.3)]
        pose.yaw[1] += np.radians(rng.uniform(-20.0, 20.0))
    views = _camera_views(_forward_kinematics(pose, bodies), rng, config.cameras).astype(np.float32)
    if config.noise_std > 0:
        views += np.float32(config.noise_std) * rng.standard_normal(views.shape, dtype=np.float32)
    return views


def iter_sequences(config: SyntheticConfig) -> Iterator[Sequence]:
    """Yield every sequence, generated one performance (all its cameras) at a time.

    Order: class, subject, take, camera. Each performance's arrays depend only on
    ``(config.seed, class, subject, take)`` and the frame/camera/body settings.
    """
    config.validate()
    for label in range(config.classes):
        for subject in range(1, config.subjects + 1):
            for take in range(1, config.takes + 1):
                views = _perform(config, label, subject, take)
                performance = f"c{label + 1:02d}_s{subject:02d}_t{take}"
                for view in range(1, config.cameras + 1):
                    yield Sequence(
                        joints=views[view - 1],
                        label=label,
                        name=f"synthetic_{performance}_v{view}",
                        subject=subject,
                        view=view,
                        setup=take,
                        performance=performance,
                    )


def _is_train_xsub(sequence: Sequence) -> bool:
    return sequence.subject % 2 == 1


def _is_train_xview(sequence: Sequence, *, test_view: int) -> bool:
    return sequence.view != test_view


def splits(config: SyntheticConfig) -> dict:
    """``xsub``: odd subjects train; ``xview``: all cameras but the last train (if >= 2)."""
    result = {"xsub": _is_train_xsub}
    if config.cameras >= 2:
        result["xview"] = functools.partial(_is_train_xview, test_view=config.cameras)
    return result


def generate(config: SyntheticConfig, *, quiet: bool = False) -> RawDataset:
    """All sequences of ``config`` as a :class:`RawDataset` (layout ``ntu-25``).

    Joints are (T, M, 25, 3) float32 in metres, Kinect camera coordinates.
    """
    config.validate()
    show_bar = not quiet and config.num_sequences >= _PROGRESS_BAR_MIN_SEQUENCES
    sequences = list(
        tqdm(
            iter_sequences(config),
            total=config.num_sequences,
            desc="synthetic",
            disable=not show_bar,
        )
    )
    return RawDataset(
        sequences=sequences,
        class_names=list(CLASS_NAMES[: config.classes]),
        layout=NTU_25.name,
        source="synthetic",
        splits=splits(config),
    )
