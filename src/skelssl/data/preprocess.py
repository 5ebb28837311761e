"""Preprocessing: raw variable-length sequences -> fixed-length, normalised arrays.

The steps, in the order :func:`preprocess` applies them:

1. temporal: every sequence to ``frames`` frames (``resample`` / ``crop`` / ``repeat`` /
   ``at-most``: longer clips down-sampled to ``frames``, shorter ones kept at their native
   frame rate and zero-padded, as CRRL Sec. IV-A and MS²L Sec. 4.1 describe;
   ``at-most-stride``: the same, but a longer clip keeps every ⌊t / frames⌋-th frame from
   the first and the first ``frames`` of those, so its tail may be cut: the down-sampling
   of Predict & Cluster's NW-UCLA notebook, the public pipeline closest to CRRL's text);
2. bodies: keep ``M = min(max_bodies, largest body count in the dataset)`` bodies;
   units (3D, ``units=auto``): a sequence whose median bone length is 100x or more off a
   human's (about 0.2 m) is multiplied by the power of ten that puts it in metres (a clip
   in millimetres by 0.001, in centimetres or inches by 0.01; metres are left alone),
   because the recipes' augmentations are written in metres (SimCLR's unit distance 0.1,
   MS²L's noise 0.01, the synthetic generator); ``units=as-is`` keeps the numbers;
3. centre: subtract the centre joint of the first frame where the reference body is present;
4. view normalisation: rotate so X runs along the shoulders, Y along the spine (CRRL / NTU);
   ``view_axis=hips``: Y exactly along the spine, X along the hips made orthogonal to it
   (the transform of Predict & Cluster's view-invariant notebook);
5. min-max: each axis to [-1, 1] over the valid frames (CRRL), per body when asked.

2D input (``coords`` ``xy`` or ``xy+score``, see :mod:`skelssl.data.types`) has no depth to
view-normalise: step 3 centres the xy channels on the layout's centre joint of the reference
pose (the mean of its detected joints where the centre is missing) and step 4 becomes its 2D
counterpart, dividing xy by the body's size (the median over frames of the larger side of
the reference body's bounding box of detected joints), so pixels of any image size become
body units; min-max touches xy only. A joint that is not detected (xy exactly 0) stays 0,
and the score channel is never changed.

Every input goes through the same steps: a reader's sequences through :func:`preprocess`,
fixed-length arrays (a ``.npz``) through :func:`prepare_arrays` (the temporal step, then
the spatial ones unless the file says it holds arrays skelssl already prepared). A recipe
therefore sees centred, view-normalised input whatever format the data came in.

Each step is a small NumPy function. The spatial steps take one sequence ``(T, M, V, C)``
or a batch ``(..., T, M, V, C)`` and a presence mask ``(..., T, M)``; a body that is absent
in a frame (all joints zero) stays exactly zero through every step.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from skelssl.data.types import RawDataset, Sequence, SkeletonData
from skelssl.errors import SkelsslError
from skelssl.skeleton import Layout, get_layout

TEMPORAL_MODES = ("resample", "crop", "repeat", "at-most", "at-most-stride")
VIEW_AXES = ("shoulders", "hips")
UNITS = ("auto", "as-is")
TYPICAL_BONE_METRES = 0.2  # a Kinect skeleton's median bone (NW-UCLA, NTU: 0.15-0.25 m)
_CHUNK = 1024  # sequences per vectorised batch of the spatial steps


@dataclass
class PreprocessConfig:
    """How raw sequences become fixed-length arrays (see the module docstring)."""

    frames: int = 50
    temporal: str = "resample"
    center: bool = True
    center_joint: str | None = None
    view_normalize: bool = True
    view_axis: str = "shoulders"
    minmax: bool = False
    units: str = "auto"  # 3D: "auto" rescales mm/cm clips to metres; "as-is" keeps them
    separate_bodies: bool = True
    max_bodies: int = 2

    def validate(self) -> None:
        if self.frames < 1:
            raise SkelsslError(f"preprocess.frames must be >= 1, got {self.frames}")
        if self.temporal not in TEMPORAL_MODES:
            known = ", ".join(TEMPORAL_MODES)
            raise SkelsslError(f"unknown preprocess.temporal {self.temporal!r} (known: {known})")
        if self.view_axis not in VIEW_AXES:
            known = ", ".join(VIEW_AXES)
            raise SkelsslError(f"unknown preprocess.view_axis {self.view_axis!r} (known: {known})")
        if self.units not in UNITS:
            known = ", ".join(UNITS)
            raise SkelsslError(f"unknown preprocess.units {self.units!r} (known: {known})")
        if self.max_bodies < 1:
            raise SkelsslError(f"preprocess.max_bodies must be >= 1, got {self.max_bodies}")


# ---------------------------------------------------------------- presence


def body_presence(joints: np.ndarray) -> np.ndarray:
    """True where a body is present in a frame (any coordinate non-zero).

    Shape: (..., T, M, V, C) -> (..., T, M) bool.
    """
    return np.any(joints != 0, axis=(-1, -2))


# ---------------------------------------------------------------- temporal


def resample_frames(joints: np.ndarray, frames: int) -> np.ndarray:
    """Linear interpolation of all frames to exactly ``frames`` frames.

    The first and last frame are kept. Between a frame where a body is present and one
    where it is absent, the nearer frame is taken instead of blending with zeros, so
    absent bodies stay zero. Shape: (t, M, V, C) -> (frames, M, V, C).
    """
    length = joints.shape[0]
    position = np.linspace(0.0, length - 1, frames)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, length - 1)
    weight = (position - lower)[:, None, None, None]
    blended = (1.0 - weight) * joints[lower] + weight * joints[upper]
    present = body_presence(joints)
    both_present = (present[lower] & present[upper])[:, :, None, None]
    nearest = np.where(weight < 0.5, joints[lower], joints[upper])
    return np.where(both_present, blended, nearest).astype(joints.dtype)


def crop_or_pad(joints: np.ndarray, frames: int) -> np.ndarray:
    """The first ``frames`` frames; shorter sequences zero-padded at the end.

    Shape: (t, M, V, C) -> (frames, M, V, C).
    """
    out = np.zeros((frames,) + joints.shape[1:], dtype=joints.dtype)
    kept = min(frames, joints.shape[0])
    out[:kept] = joints[:kept]
    return out


def repeat_to_length(joints: np.ndarray, frames: int) -> np.ndarray:
    """The first ``frames`` frames; shorter sequences tiled by repeating them (Skeleton BYOL).

    Shape: (t, M, V, C) -> (frames, M, V, C).
    """
    index = np.arange(frames) % joints.shape[0]
    return joints[index]


def at_most_frames(joints: np.ndarray, frames: int) -> np.ndarray:
    """At most ``frames`` frames at the native rate: longer clips down-sampled, shorter padded.

    CRRL Sec. IV-A: "the skeleton sequences are downsampled to have at most 100 and 50
    frames"; MS²L Sec. 4.1 "temporally down-samples to 200 frames". A clip of ``t <= frames``
    frames is left as it is (no stretching) and zero-padded after its ``t`` frames.
    Shape: (t, M, V, C) -> (frames, M, V, C).
    """
    if joints.shape[0] > frames:
        return resample_frames(joints, frames)
    return crop_or_pad(joints, frames)


def strided_frames(joints: np.ndarray, frames: int) -> np.ndarray:
    """At most ``frames`` frames by an integer stride from the first frame, shorter clips padded.

    A clip of ``t > frames`` frames keeps frames 0, s, 2s, ... with s = ⌊t / frames⌋, the first
    ``frames`` of them: for ``frames < t < 2 frames`` that is the first ``frames`` frames,
    the rest cut. Predict & Cluster's NW-UCLA notebook (``downsample_ucla``) does this.
    Shape: (t, M, V, C) -> (frames, M, V, C).
    """
    step = max(1, joints.shape[0] // frames)
    return crop_or_pad(joints[::step], frames)


def fix_length(joints: np.ndarray, frames: int, mode: str) -> tuple[np.ndarray, int]:
    """Apply the temporal step ``mode`` (one of ``TEMPORAL_MODES``).

    Returns the (frames, M, V, C) sequence and its number of valid frames
    (``min(t, frames)`` for ``crop`` and the ``at-most`` modes, else ``frames``).
    """
    length = joints.shape[0]
    if length == 0:
        raise SkelsslError("sequence has no frames")
    if mode == "resample":
        return resample_frames(joints, frames), frames
    if mode == "crop":
        return crop_or_pad(joints, frames), min(length, frames)
    if mode == "repeat":
        return repeat_to_length(joints, frames), frames
    if mode == "at-most":
        return at_most_frames(joints, frames), min(length, frames)
    if mode == "at-most-stride":
        return strided_frames(joints, frames), min(length, frames)
    known = ", ".join(TEMPORAL_MODES)
    raise SkelsslError(f"unknown temporal mode {mode!r} (known: {known})")


# ---------------------------------------------------------------- bodies


def count_bodies(joints: np.ndarray) -> int:
    """1 + the index of the last body present in any frame (0 if none). (T, M, V, C) -> int."""
    present_bodies = np.flatnonzero(body_presence(joints).any(axis=0))
    return int(present_bodies[-1]) + 1 if present_bodies.size else 0


def select_bodies(joints: np.ndarray, bodies: int) -> np.ndarray:
    """Keep the first ``bodies`` bodies, zero-padding missing ones.

    Shape: (..., T, M, V, C) -> (..., T, bodies, V, C).
    """
    have = joints.shape[-3]
    if have >= bodies:
        return joints[..., :bodies, :, :]
    pad = [(0, 0)] * joints.ndim
    pad[-3] = (0, bodies - have)
    return np.pad(joints, pad)


# ---------------------------------------------------------------- spatial


def reference_frame_and_body(present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the normalising pose is taken: the first frame of the first body ever present.

    That is body 0 unless it is absent throughout. Shape: (..., T, M) -> two (...,) int
    arrays (frame, body); 0, 0 when no body is present at all.
    """
    body = np.argmax(present.any(axis=-2), axis=-1)
    present_of_body = np.take_along_axis(present, body[..., None, None], axis=-1)[..., 0]
    frame = np.argmax(present_of_body, axis=-1)
    return frame, body


def _pose_at(joints: np.ndarray, frame: np.ndarray, body: np.ndarray) -> np.ndarray:
    """joints[..., frame, body, :, :] per leading index. -> (..., V, C)."""
    at_frame = np.take_along_axis(joints, frame[..., None, None, None, None], axis=-4)[
        ..., 0, :, :, :
    ]
    return np.take_along_axis(at_frame, body[..., None, None, None], axis=-3)[..., 0, :, :]


def center_on_joint(
    joints: np.ndarray, joint: int, present: np.ndarray | None = None
) -> np.ndarray:
    """Subtract the ``joint`` of the reference pose from every present body.

    The reference pose is the first frame where the first present body (body 0 as a rule)
    is present; all bodies share this origin, keeping two persons' relative positions
    (NTU practice). Shape: (..., T, M, V, C) -> same; absent bodies stay zero.
    """
    present = body_presence(joints) if present is None else present
    frame, body = reference_frame_and_body(present)
    origin = _pose_at(joints, frame, body)[..., joint, :]  # (..., C)
    centred = joints - origin[..., None, None, None, :]
    return np.where(present[..., None, None], centred, 0).astype(joints.dtype)


def view_rotation(
    lateral: np.ndarray, spine: np.ndarray, exact: str = "lateral", eps: float = 1e-6
) -> np.ndarray:
    """Rotation whose rows are the new axes X (lateral), Y (spine), Z = X × Y.

    ``lateral`` points from the body's left to its right (right_shoulder - left_shoulder),
    ``spine`` upwards (spine_top - spine_base). ``exact="lateral"``: X along ``lateral``, Y
    the spine made orthogonal to X (CRRL / NTU); ``exact="spine"``: Y along ``spine``, X the
    lateral vector made orthogonal to Y (Predict & Cluster). Where either vector is
    degenerate the identity is returned. Shape: (..., 3) -> (..., 3, 3).
    """
    first, second = (lateral, spine) if exact == "lateral" else (spine, lateral)
    first_norm = np.linalg.norm(first, axis=-1, keepdims=True)
    first_axis = first / np.maximum(first_norm, eps)
    second_orthogonal = second - np.sum(second * first_axis, axis=-1, keepdims=True) * first_axis
    second_norm = np.linalg.norm(second_orthogonal, axis=-1, keepdims=True)
    second_axis = second_orthogonal / np.maximum(second_norm, eps)
    x_axis, y_axis = (first_axis, second_axis) if exact == "lateral" else (second_axis, first_axis)
    z_axis = np.cross(x_axis, y_axis)
    rotation = np.stack([x_axis, y_axis, z_axis], axis=-2)
    degenerate = ((first_norm[..., 0] < eps) | (second_norm[..., 0] < eps))[..., None, None]
    return np.where(degenerate, np.eye(3, dtype=rotation.dtype), rotation)


def view_normalize(
    joints: np.ndarray,
    layout: Layout,
    present: np.ndarray | None = None,
    axis: str = "shoulders",
) -> np.ndarray:
    """Rotate every body by the rotation of the reference pose (CRRL / NTU view normalisation).

    ``axis="shoulders"``: afterwards the reference pose's shoulder vector is parallel to +X
    and its spine lies in the XY-plane with a positive Y component. ``axis="hips"``: its
    spine is parallel to +Y and its hip vector lies in the XY-plane with a positive X
    component (Predict & Cluster's transform: the spine exact, the hips made orthogonal to
    it; its spine vector runs from the hip centre to the spine joint, ours from
    ``spine_base`` to ``spine_top``, the same direction up the torso). Rotation is about the
    origin, so centre first.
    Shape: (..., T, M, V, 3) -> same; absent bodies stay zero.
    """
    if joints.shape[-1] != 3:
        raise SkelsslError(f"view normalisation needs 3-D coordinates, got C={joints.shape[-1]}")
    if layout.spine_base is None or layout.spine_top is None:
        raise SkelsslError(
            f"layout {layout.name} names no spine joints for 3D view normalisation: "
            "set preprocess.view_normalize=false"
        )
    present = body_presence(joints) if present is None else present
    frame, body = reference_frame_and_body(present)
    pose = _pose_at(joints, frame, body).astype(np.float64)  # (..., V, 3)
    if axis == "hips":
        left, right, exact = layout.index("left_hip"), layout.index("right_hip"), "spine"
    else:
        left, right, exact = layout.left_shoulder, layout.right_shoulder, "lateral"
    lateral = pose[..., right, :] - pose[..., left, :]
    spine = pose[..., layout.spine_top, :] - pose[..., layout.spine_base, :]
    rotation = view_rotation(lateral, spine, exact).astype(joints.dtype)  # (..., 3, 3)
    # p' = R p for every joint; a linear map, so absent (all-zero) bodies stay zero.
    return joints @ np.swapaxes(rotation, -1, -2)[..., None, None, :, :]


def minmax_normalize(
    joints: np.ndarray, present: np.ndarray | None = None, separate_bodies: bool = True
) -> np.ndarray:
    """Per-sample, per-axis min-max to [-1, 1] over the frames where a body is present (CRRL).

    ``x' = 2 (x - min) / (max - min) - 1``; an axis with no extent maps to 0. With
    ``separate_bodies`` each body has its own min and max. Padding frames and absent bodies
    stay zero. Shape: (..., T, M, V, C) -> same.
    """
    present = body_presence(joints) if present is None else present
    mask = np.broadcast_to(present[..., None, None], joints.shape)
    reduce_axes = (-4, -2) if separate_bodies else (-4, -3, -2)
    low = np.min(np.where(mask, joints, np.inf), axis=reduce_axes, keepdims=True)
    high = np.max(np.where(mask, joints, -np.inf), axis=reduce_axes, keepdims=True)
    extent = high - low
    valid_extent = np.isfinite(extent) & (extent > 0)
    scaled = (
        2.0 * (joints - np.where(valid_extent, low, 0)) / np.where(valid_extent, extent, 1) - 1.0
    )
    scaled = np.where(valid_extent, scaled, 0.0)
    return np.where(mask, scaled, 0).astype(joints.dtype)


def normalize_space(
    joints: np.ndarray, layout: Layout, config: PreprocessConfig, coords: str = "xyz"
) -> np.ndarray:
    """Centre, view-normalise and min-max a sequence or batch as ``config`` asks.

    ``coords`` ``xy``/``xy+score``: the 2D steps instead (:func:`normalize_2d`).
    Presence is taken once, before any step. Shape: (..., T, M, V, C) -> same.
    """
    if coords != "xyz":
        return normalize_2d(joints, layout, config)
    present = body_presence(joints)
    if config.units == "auto":
        scale = metre_scale(joints, layout, present)
        joints = (joints * scale[..., None, None, None, None]).astype(joints.dtype)
    if config.center:
        joint = layout.center if config.center_joint is None else layout.index(config.center_joint)
        joints = center_on_joint(joints, joint, present)
    if config.view_normalize:
        joints = view_normalize(joints, layout, present, config.view_axis)
    if config.minmax:
        joints = minmax_normalize(joints, present, config.separate_bodies)
    return joints


def median_bone_length(joints: np.ndarray, layout: Layout, present: np.ndarray) -> np.ndarray:
    """Median length of the layout's bones (both ends found) over the frames and bodies
    present; NaN for a sequence with no body. Shape: (..., T, M, V, 3), presence (..., T, M) -> (...,)."""
    parents = layout.bone_parents()
    child = np.flatnonzero(parents != np.arange(len(parents)))
    vectors = joints[..., child, :] - joints[..., parents[child], :]
    length = np.linalg.norm(vectors.astype(np.float64), axis=-1)  # (..., T, M, bones)
    found = np.any(joints != 0, axis=-1)  # (..., T, M, V): a missing joint is all zeros
    both = found[..., child] & found[..., parents[child]] & present[..., None]
    length = np.where(both, length, np.nan)
    flat = length.reshape(*length.shape[:-3], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no body present
        return np.nanmedian(flat, axis=-1)


def metre_scale(joints: np.ndarray, layout: Layout, present: np.ndarray) -> np.ndarray:
    """The power of ten that brings each sequence's median bone length nearest to
    :data:`TYPICAL_BONE_METRES`, applied only when it is at least 100 (0.01 for centimetres,
    0.001 for millimetres, 0.01 for inches): a median bone of 0.02-2 units is taken as
    metres already and keeps factor 1, as does a sequence without a body or bones.
    Shape: (..., T, M, V, 3) -> (...,)."""
    bone = median_bone_length(joints, layout, present)
    usable = np.isfinite(bone) & (bone > 0)
    power = np.round(np.log10(TYPICAL_BONE_METRES / np.where(usable, bone, 1.0)))
    return np.where(usable & (np.abs(power) >= 2), 10.0**power, 1.0)


def normalize_2d(joints: np.ndarray, layout: Layout, config: PreprocessConfig) -> np.ndarray:
    """The 2D spatial steps on the xy channels (module docstring): centre on the layout's
    centre joint (``config.center``), divide by body size (``config.view_normalize``, the
    2D counterpart of view normalisation), min-max (``config.minmax``). Channels after the
    first two (a score) are kept as they are; undetected joints (xy = 0) stay 0.
    Shape: (..., T, M, V, C >= 2) -> same.
    """
    xy = joints[..., :2].astype(np.float64)
    detected = np.any(xy != 0, axis=-1)  # (..., T, M, V)
    present = detected.any(axis=-1)  # (..., T, M)
    frame, body = reference_frame_and_body(present)
    if config.center:
        joint = layout.center if config.center_joint is None else layout.index(config.center_joint)
        xy = xy - _reference_origin(xy, detected, frame, body, joint)[..., None, None, None, :]
    if config.view_normalize:
        xy = xy / _body_size(xy, detected, body)[..., None, None, None, None]
    xy = np.where(detected[..., None], xy, 0.0)
    if config.minmax:
        xy = minmax_normalize(xy, present, config.separate_bodies)
    return np.concatenate([xy.astype(joints.dtype), joints[..., 2:]], axis=-1)


def _reference_origin(xy, detected, frame, body, joint: int) -> np.ndarray:
    """The reference pose's ``joint``, or the mean of its detected joints where ``joint``
    is not detected. Shape: (..., 2)."""
    pose = _pose_at(xy, frame, body)  # (..., V, 2)
    found = _pose_at(detected[..., None].astype(xy.dtype), frame, body)[..., 0]  # (..., V)
    mean = (pose * found[..., None]).sum(-2) / np.maximum(found.sum(-1), 1)[..., None]
    return np.where(found[..., joint, None] > 0, pose[..., joint, :], mean)


def _body_size(xy, detected, body, eps: float = 1e-6) -> np.ndarray:
    """Median over frames of the larger bounding-box side of body ``body``'s detected
    joints; 1 where it has no extent. Shape: (...,)."""
    index = body[..., None, None, None, None]
    body_xy = np.take_along_axis(xy, index, axis=-3)[..., 0, :, :]  # (..., T, V, 2)
    body_found = np.take_along_axis(detected, index[..., 0], axis=-2)[..., 0, :]  # (..., T, V)
    mask = body_found[..., None]
    low = np.min(np.where(mask, body_xy, np.inf), axis=-2)
    high = np.max(np.where(mask, body_xy, -np.inf), axis=-2)
    side = np.max(high - low, axis=-1)  # (..., T); -inf where no joint found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no frame, handled below
        size = np.nanmedian(np.where(np.isfinite(side) & (side > eps), side, np.nan), axis=-1)
    return np.where(np.isfinite(size) & (size > eps), size, 1.0)


# ---------------------------------------------------------------- whole datasets


def preprocess(raw: RawDataset, config: PreprocessConfig, *, quiet: bool = False) -> SkeletonData:
    """Prepare a reader's :class:`RawDataset` as fixed-length :class:`SkeletonData`.

    Output joints have shape (N, frames, M, V, C) float32 with
    ``M = min(max_bodies, largest body count in the dataset)``; split masks come from
    the reader's predicates.
    """
    config.validate()
    layout = get_layout(raw.layout)
    sequences = raw.sequences
    if not sequences:
        raise SkelsslError("dataset has no sequences", raw.source)
    bodies = max(1, min(config.max_bodies, max(count_bodies(s.joints) for s in sequences)))
    channels = sequences[0].joints.shape[-1]
    progress = tqdm(sequences, desc=f"preprocess {raw.source}", disable=quiet, leave=False)
    joints, lengths = prepare_sequences(
        progress, len(sequences), layout, config, bodies, channels, raw.coords
    )
    data = SkeletonData(
        joints=joints,
        lengths=lengths,
        labels=np.array([s.label for s in sequences], dtype=np.int64),
        subjects=np.array([s.subject for s in sequences], dtype=np.int64),
        views=np.array([s.view for s in sequences], dtype=np.int64),
        setups=np.array([s.setup for s in sequences], dtype=np.int64),
        performances=np.array([s.performance for s in sequences], dtype=str),
        names=np.array([s.name for s in sequences], dtype=str),
        class_names=list(raw.class_names),
        layout=raw.layout,
        source=raw.source,
        splits=split_masks(raw),
        coords=raw.coords,
    )
    data.validate()
    return data


def prepare_sequences(
    sequences: Iterable[Sequence],
    count: int,
    layout: Layout,
    config: PreprocessConfig,
    bodies: int,
    channels: int,
    coords: str = "xyz",
) -> tuple[np.ndarray, np.ndarray]:
    """Temporal step, body selection and spatial normalisation of ``count`` sequences.

    Every sequence gets exactly ``bodies`` bodies (extra ones dropped, missing ones zero).
    Returns joints (count, frames, bodies, V, channels) float32 and lengths (count,) int64;
    :func:`preprocess` and the streaming cache builder both prepare data through here.
    """
    joints = np.zeros((count, config.frames, bodies, layout.num_joints, channels), np.float32)
    lengths = np.zeros(count, dtype=np.int64)
    for i, sequence in enumerate(sequences):
        check_sequence_shape(sequence.joints, layout, channels, sequence.name)
        kept = select_bodies(np.asarray(sequence.joints, dtype=np.float32), bodies)
        try:
            joints[i], lengths[i] = fix_length(kept, config.frames, config.temporal)
        except SkelsslError as err:
            raise SkelsslError(err.problem, sequence.name) from None
    for start in range(0, count, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        joints[chunk] = normalize_space(joints[chunk], layout, config, coords)
    return joints, lengths


def check_sequence_shape(joints: np.ndarray, layout: Layout, channels: int, name: str) -> None:
    """Raise :class:`SkelsslError` unless ``joints`` is (T, M, layout joints, channels)."""
    if joints.ndim != 4 or joints.shape[2] != layout.num_joints or joints.shape[3] != channels:
        raise SkelsslError(
            f"joints must be (T, M, {layout.num_joints}, {channels}), got {joints.shape}", name
        )


def split_masks(raw: RawDataset) -> dict[str, np.ndarray]:
    """Each split predicate evaluated on every sequence: name -> (N,) bool, True = train."""
    return {
        name: np.array([bool(is_train(s)) for s in raw.sequences], dtype=bool)
        for name, is_train in raw.splits.items()
    }


def prepare_arrays(
    data: SkeletonData, config: PreprocessConfig, *, prepared: bool = False
) -> SkeletonData:
    """Fixed-length arrays (a ``.npz``) through the same steps as a reader's sequences.

    The temporal step and the body count (:func:`retime`), then, unless ``prepared`` (the
    arrays are skelssl's own output of these steps), the spatial steps of ``config``
    (:func:`normalize_space`): raw camera coordinates in a user's file are centred and
    view-normalised exactly as the same clips read from their original files.
    """
    data = retime(data, config)
    if prepared:
        return data
    joints = normalize_space(data.joints, get_layout(data.layout), config, data.coords)
    data.joints = np.ascontiguousarray(joints, dtype=np.float32)
    return data


def retime(data: SkeletonData, config: PreprocessConfig) -> SkeletonData:
    """Re-cast already prepared arrays (e.g. from a ``.npz``) to float32 and ``config``'s shape.

    Only the temporal step (on each sample's valid frames) and the body count are changed,
    and only when they differ; no spatial normalisation is applied.
    """
    config.validate()
    joints = np.asarray(data.joints, dtype=np.float32)
    lengths = np.asarray(data.lengths, dtype=np.int64)
    if joints.shape[2] > config.max_bodies:
        joints = np.ascontiguousarray(select_bodies(joints, config.max_bodies))
    if joints.shape[1] != config.frames:
        fixed = np.zeros((joints.shape[0], config.frames) + joints.shape[2:], np.float32)
        new_lengths = np.zeros_like(lengths)
        for i, (sequence, length) in enumerate(zip(joints, lengths)):
            valid = sequence[: max(1, int(length))]
            try:
                fixed[i], new_lengths[i] = fix_length(valid, config.frames, config.temporal)
            except SkelsslError as err:
                raise SkelsslError(err.problem, str(data.names[i])) from None
        joints, lengths = fixed, new_lengths
    return SkeletonData(
        joints=joints,
        lengths=lengths,
        labels=np.asarray(data.labels, dtype=np.int64),
        subjects=np.asarray(data.subjects, dtype=np.int64),
        views=np.asarray(data.views, dtype=np.int64),
        setups=np.asarray(data.setups, dtype=np.int64),
        performances=np.asarray(data.performances, dtype=str),
        names=np.asarray(data.names, dtype=str),
        class_names=list(data.class_names),
        layout=data.layout,
        source=data.source,
        splits={name: np.asarray(mask, dtype=bool) for name, mask in data.splits.items()},
        coords=data.coords,
    )
