"""Batched skeleton augmentations, each a small function citing its paper.

Every function takes a batch ``x`` of shape ``(N, T, M, V, C)`` (C = 3: xyz) on any
device and

- 2D input: the spatial functions take ``coords`` (``xyz``, ``xy``, ``xy+score``; None: xyz
  for C = 3, xy for C = 2) and then act on the xy channels only (a score channel passes
  unchanged, undetected joints, xy = 0, stay 0): :func:`rotate` rotates in the image plane
  (the z-axis angle), :func:`shear` shears in 2D, :func:`virtual_camera` keeps only the
  in-plane angle γ and shifts in the plane (α and β need depth); functions that cannot
  work without depth raise a clear error,

- draws randomness only from the optional ``generator`` (a :class:`torch.Generator` on
  ``x.device``; ``None`` uses torch's global generator),
- is vectorised over the batch (no Python loop over samples),
- keeps padded frames (``t >= lengths[i]``) and absent bodies (a body that is all zero in
  a frame) exactly zero,
- returns a new tensor and never modifies ``x`` in place.

Random numbers are drawn in float32 in a fixed order, so a seeded generator gives the
same augmentation whatever the dtype of ``x``.

Papers
------
- Rotation: CrosSCLR/SkeletonCLR (Li et al. 2021) and AimCLR (Guo et al. 2022).
- Shear: Skeleton BYOL (Moliner et al. 2022, Eq. 5), SkeletonCLR (magnitude 0.5).
- Left/right drop: Skeleton BYOL (Moliner et al. 2022).
- Temporal mask: MS²L (Lin et al. 2020), "temporally masked" view.
- Virtual camera: Gao, Yang, Du 2021, "Contrastive Self-Supervised Learning for Skeleton
  Action Recognition" (PMLR 148), Eq. (1) and (2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from skelssl.errors import SkelsslError
from skelssl.skeleton import Layout

ANGLE_NAMES = ("alpha", "beta", "gamma")
# "light" augmentation of the supervised baseline and of finetuning: rotation ±15° per axis
# (half the CrosSCLR/AimCLR pre-training range of 30°), then shear ±0.3 (below SkeletonCLR's 0.5)
LIGHT_ROTATION_DEGREES = 15.0
LIGHT_SHEAR = 0.3


# ---------------------------------------------------------------------------- helpers


def _check_batch(x: Tensor, *, xyz: bool = False) -> None:
    """Raise unless ``x`` is ``(N, T, M, V, C)`` (with C = 3 when ``xyz``)."""
    if x.ndim != 5:
        raise SkelsslError(
            f"augmentations expect a batch (N, T, M, V, C), got shape {tuple(x.shape)}"
        )
    if xyz and x.shape[-1] != 3:
        raise SkelsslError(f"this augmentation needs xyz coordinates (C=3), got C={x.shape[-1]}")


COORDS = ("xyz", "xy", "xy+score")


def resolve_coords(x: Tensor, coords: str | None) -> str:
    """``coords`` checked against C, or xyz for C = 3 and xy for C = 2 when None."""
    channels = x.shape[-1]
    if coords is None:
        if channels in (2, 3):
            return "xy" if channels == 2 else "xyz"
        raise SkelsslError(f"augmentations need C = 2 (xy) or 3 (xyz, xy+score), got C={channels}")
    expected = {"xyz": 3, "xy": 2, "xy+score": 3}.get(coords)
    if expected is None:
        raise SkelsslError(f"unknown coords {coords!r} (known: {', '.join(COORDS)})")
    if expected != channels:
        raise SkelsslError(f"coords {coords} means C = {expected}, the batch has C = {channels}")
    return coords


def _planar(x: Tensor, matrix: Tensor, shift: Tensor | None, lengths, coords: str) -> Tensor:
    """x'_xy = A x_xy - shift on the xy channels of 2D input; other channels unchanged;
    undetected joints (xy = 0) and padding stay 0. ``matrix`` (N, 2, 2) or (N, T, 2, 2),
    ``shift`` (N, 2). Shape: (N, T, M, V, C) -> same."""
    xy = x[..., :2]
    detected = (xy != 0).any(dim=-1, keepdim=True) & valid_mask(x, lengths)
    matrix = matrix.to(x.dtype)
    if matrix.ndim == 3:
        moved = torch.einsum("ntmvc,ndc->ntmvd", xy, matrix)
    else:
        moved = torch.einsum("ntmvc,ntdc->ntmvd", xy, matrix)
    if shift is not None:
        moved = moved - shift[:, None, None, None, :].to(x.dtype)
    moved = moved * detected
    return torch.cat([moved, x[..., 2:] * valid_mask(x, lengths)], dim=-1)


def _planar_rotation(radians: Tensor) -> Tensor:
    """2D rotation matrices ``(*S, 2, 2)`` for angles ``(*S,)``."""
    cos, sin = torch.cos(radians), torch.sin(radians)
    return torch.stack([cos, -sin, sin, cos], dim=-1).reshape(*radians.shape, 2, 2)


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise SkelsslError(f"{name} must be in [0, 1], got {value}")


def _check_layout(x: Tensor, layout: Layout) -> None:
    if x.shape[3] != layout.num_joints:
        raise SkelsslError(
            f"batch has {x.shape[3]} joints but layout {layout.name} has {layout.num_joints}"
        )


def _as_lengths(x: Tensor, lengths: Tensor | Sequence[int]) -> Tensor:
    """``lengths`` as an int64 tensor ``(N,)`` on ``x.device``, checked to be in 1..T."""
    lengths = torch.as_tensor(lengths, device=x.device).long()
    if lengths.shape != (x.shape[0],):
        raise SkelsslError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
    if lengths.numel() and (lengths.min() < 1 or lengths.max() > x.shape[1]):
        raise SkelsslError(f"lengths must be in 1..{x.shape[1]}, got {lengths.tolist()}")
    return lengths


def _uniform(shape, low, high, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Float32 uniform samples in [low, high] on ``x.device``; low/high broadcast to ``shape``."""
    unit = torch.rand(shape, generator=generator, device=x.device)
    return low + (high - low) * unit


def _randint_upto(high: Tensor, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform integers in ``0..high`` (inclusive), one per entry of ``high`` (int64)."""
    unit = torch.rand(high.shape, generator=generator, device=x.device)
    return torch.minimum((unit * (high + 1).float()).long(), high)


def _bernoulli(n: int, p: float, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """``(n,)`` bool, each True with probability ``p``."""
    return torch.rand(n, generator=generator, device=x.device) < p


def _transform_points(x: Tensor, matrix: Tensor) -> Tensor:
    """x' = A x for every joint: ``matrix`` is ``(N, 3, 3)`` or per frame ``(N, T, 3, 3)``."""
    matrix = matrix.to(x.dtype)
    if matrix.ndim == 3:
        return torch.einsum("ntmvc,ndc->ntmvd", x, matrix)
    return torch.einsum("ntmvc,ntdc->ntmvd", x, matrix)


def valid_mask(x: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
    """Which (sample, frame, body) entries hold a real body.

    True where the frame is within ``lengths`` (all frames when ``lengths`` is None) and
    the body is not all zero. Shape: x ``(N, T, M, V, C)`` -> ``(N, T, M, 1, 1)`` bool.
    """
    _check_batch(x)
    present = (x != 0).any(dim=-1, keepdim=True).any(dim=-2, keepdim=True)
    if lengths is None:
        return present
    lengths = _as_lengths(x, lengths)
    frames = torch.arange(x.shape[1], device=x.device)
    in_sequence = frames[None, :] < lengths[:, None]
    return present & in_sequence[:, :, None, None, None]


def random_apply(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    p: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Apply ``fn`` to each sample with probability ``p`` (others pass through unchanged).

    ``fn`` maps ``(N, T, M, V, C)`` to the same shape; it runs on the whole batch and
    the per-sample choice is a mask, so there is no loop over samples.
    """
    _check_batch(x)
    _check_probability("p", p)
    chosen = _bernoulli(x.shape[0], p, x, generator)
    return torch.where(chosen[:, None, None, None, None], fn(x), x)


# ---------------------------------------------------------------------------- spatial


def rotation_matrix(alpha, beta, gamma) -> Tensor:
    """R = Rz(gamma) Ry(beta) Rx(alpha), angles in radians (virtual camera, Gao et al. Eq. (2)).

    ``alpha``, ``beta``, ``gamma`` are floats or tensors that broadcast together to a
    shape ``S``; returns ``(*S, 3, 3)``. A column vector p is rotated as ``R @ p``.
    """
    alpha, beta, gamma = torch.broadcast_tensors(*(_as_angle(a) for a in (alpha, beta, gamma)))
    ca, sa = torch.cos(alpha), torch.sin(alpha)
    cb, sb = torch.cos(beta), torch.sin(beta)
    cg, sg = torch.cos(gamma), torch.sin(gamma)
    one, zero = torch.ones_like(ca), torch.zeros_like(ca)
    rot_x = torch.stack([one, zero, zero, zero, ca, -sa, zero, sa, ca], dim=-1)
    rot_y = torch.stack([cb, zero, sb, zero, one, zero, -sb, zero, cb], dim=-1)
    rot_z = torch.stack([cg, -sg, zero, sg, cg, zero, zero, zero, one], dim=-1)
    shape = (*ca.shape, 3, 3)
    # Gao et al. Eq. (2): R = Rz(γ) · Ry(β) · Rx(α)
    return rot_z.reshape(shape) @ rot_y.reshape(shape) @ rot_x.reshape(shape)


def _as_angle(angle) -> Tensor:
    """A tensor of angles; Python numbers become default-dtype tensors."""
    return (
        angle if torch.is_tensor(angle) else torch.as_tensor(angle, dtype=torch.get_default_dtype())
    )


def rotate(
    x: Tensor,
    max_degrees: float | Sequence[float] = (30.0, 30.0, 30.0),
    *,
    lengths: Tensor | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    coords: str | None = None,
) -> Tensor:
    """Random rotation of each sequence about the origin (CrosSCLR / AimCLR rotation aug).

    Angles about x, y, z are uniform in ``[-max_degrees[k], max_degrees[k]]`` (a single
    float applies to all three axes), one draw per sequence; x' = R x with
    R = Rz Ry Rx (:func:`rotation_matrix`). 2D ``coords``: the same three draws, and only
    the z angle is applied, as an in-plane rotation of xy. Shape: ``(N, T, M, V, C)`` -> same.
    """
    _check_batch(x)
    coords = resolve_coords(x, coords)
    limits = torch.as_tensor(max_degrees, dtype=torch.float32, device=x.device)
    if limits.numel() not in (1, 3) or (limits < 0).any():
        raise SkelsslError(f"max_degrees must be one or three angles >= 0, got {max_degrees}")
    limits = limits.reshape(-1).expand(3)
    degrees = _uniform((x.shape[0], 3), -limits, limits, x, generator)
    angles = torch.deg2rad(degrees)
    if coords != "xyz":
        return _planar(x, _planar_rotation(angles[:, 2]), None, lengths, coords)
    rotation = rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    return _transform_points(x, rotation) * valid_mask(x, lengths)


def shear(
    x: Tensor,
    magnitude: float = 1.0,
    *,
    lengths: Tensor | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    coords: str | None = None,
) -> Tensor:
    """Random shear x' = S x per sequence (Skeleton BYOL Eq. (5); SkeletonCLR uses 0.5).

    S = [[1, s_xy, s_xz], [s_yx, 1, s_yz], [s_zx, s_zy, 1]] with the six factors uniform
    in ``[-magnitude, magnitude]``; ``magnitude=0`` is the identity. 2D ``coords``: the
    same draws, S's xy block [[1, s_xy], [s_yx, 1]] applied to xy.
    Shape: ``(N, T, M, V, C)`` -> same.
    """
    _check_batch(x)
    coords = resolve_coords(x, coords)
    if magnitude < 0:
        raise SkelsslError(f"shear magnitude must be >= 0, got {magnitude}")
    n = x.shape[0]
    factors = _uniform((n, 3, 3), -magnitude, magnitude, x, generator)
    eye = torch.eye(3, device=x.device, dtype=torch.bool)
    # Skeleton BYOL Eq. (5): ones on the diagonal, random factors off it
    matrix = torch.where(eye, torch.ones_like(factors), factors)
    if coords != "xyz":
        return _planar(x, matrix[:, :2, :2], None, lengths, coords)
    return _transform_points(x, matrix) * valid_mask(x, lengths)


def rotate_then_shear(
    x: Tensor,
    rotation_degrees: float = LIGHT_ROTATION_DEGREES,
    shear_magnitude: float = LIGHT_SHEAR,
    *,
    lengths: Tensor | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    coords: str | None = None,
) -> Tensor:
    """:func:`rotate` then :func:`shear`, each skipped when its magnitude is 0 (the light
    augmentation of the supervised baseline and of finetuning). (N,T,M,V,C) -> same."""
    if rotation_degrees > 0:
        x = rotate(x, rotation_degrees, lengths=lengths, generator=generator, coords=coords)
    if shear_magnitude > 0:
        x = shear(x, shear_magnitude, lengths=lengths, generator=generator, coords=coords)
    return x


def gaussian_noise(
    x: Tensor,
    std: float = 0.01,
    *,
    lengths: Tensor | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    coords: str | None = None,
) -> Tensor:
    """x' = x + ε, ε ~ N(0, std²) i.i.d. per coordinate (SkeletonCLR/AimCLR Gaussian noise).

    Noise is added only to present bodies in valid frames (and, for ``xy+score``, not to
    the score). Shape: ``(N, T, M, V, C)`` -> same.
    """
    _check_batch(x)
    coords = resolve_coords(x, coords)
    if std < 0:
        raise SkelsslError(f"noise std must be >= 0, got {std}")
    noise = torch.randn(x.shape, generator=generator, device=x.device) * std
    if coords == "xy+score":
        noise[..., 2] = 0
    return (x + noise.to(x.dtype)) * valid_mask(x, lengths)


def left_right_drop(
    x: Tensor,
    layout: Layout,
    *,
    p: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """With probability ``p`` zero one side's limbs (Skeleton BYOL left/right drop).

    For a chosen sample, the left arm+leg or the right arm+leg (``layout.left`` /
    ``layout.right``, each side equally likely) are set to zero in every frame and body.
    Shape: ``(N, T, M, V, C)`` -> same.
    """
    _check_batch(x)
    _check_layout(x, layout)
    _check_probability("p", p)
    n, v = x.shape[0], x.shape[3]
    applied = _bernoulli(n, p, x, generator)
    drop_left = _bernoulli(n, 0.5, x, generator)
    left = torch.zeros(v, dtype=torch.bool, device=x.device)
    left[list(layout.left)] = True
    right = torch.zeros(v, dtype=torch.bool, device=x.device)
    right[list(layout.right)] = True
    dropped = applied[:, None] & torch.where(drop_left[:, None], left, right)  # (N, V)
    return x * (~dropped)[:, None, None, :, None]


# ---------------------------------------------------------------------------- temporal


def temporal_crop_resize(
    x: Tensor,
    lengths: Tensor | Sequence[int],
    *,
    min_ratio: float = 0.5,
    max_ratio: float = 1.0,
    out_frames: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Random temporal crop of each valid sequence, linearly resampled to ``out_frames``.

    The crop covers ``round(r * lengths[i])`` frames (at least 1), r uniform in
    ``[min_ratio, max_ratio]``, at a uniform random start inside the valid frames
    (the crop/resize of SkeletonCLR-style pipelines). Output frame j samples the crop at
    ``start + j (crop - 1) / (out_frames - 1)`` by linear interpolation between the two
    neighbouring frames; a body absent at one neighbour takes the other neighbour's pose,
    and is zero when absent at both (or at the only neighbour with weight).

    Shapes: x ``(N, T, M, V, C)``, lengths ``(N,)`` -> ``(N, out_frames, M, V, C)`` and
    new lengths ``(N,)`` int64, all equal to ``out_frames`` (default T).
    """
    _check_batch(x)
    lengths = _as_lengths(x, lengths)
    if not 0.0 < min_ratio <= max_ratio <= 1.0:
        raise SkelsslError(f"need 0 < min_ratio <= max_ratio <= 1, got {min_ratio}, {max_ratio}")
    out_frames = x.shape[1] if out_frames is None else int(out_frames)
    if out_frames < 1:
        raise SkelsslError(f"out_frames must be >= 1, got {out_frames}")
    n = x.shape[0]
    ratio = _uniform(n, min_ratio, max_ratio, x, generator)
    crop = (
        torch.floor(ratio * lengths + 0.5).long().clamp(min=torch.ones_like(lengths), max=lengths)
    )
    start = _randint_upto(lengths - crop, x, generator)

    steps = torch.arange(out_frames, device=x.device, dtype=torch.float32) / max(out_frames - 1, 1)
    position = start[:, None] + steps[None, :] * (crop - 1)[:, None]  # (N, out_frames)
    low = position.floor().long().clamp(0, x.shape[1] - 1)
    high = torch.minimum(low + 1, (lengths - 1)[:, None])
    weight_high = (position - low).to(x.dtype)

    valid = valid_mask(x, lengths).to(x.dtype)
    x_low, x_high = _gather_frames(x, low), _gather_frames(x, high)
    w_low = (1 - weight_high)[:, :, None, None, None] * _gather_frames(valid, low)
    w_high = weight_high[:, :, None, None, None] * _gather_frames(valid, high)
    total = w_low + w_high
    safe_total = torch.where(total > 0, total, torch.ones_like(total))
    resampled = (w_low * x_low + w_high * x_high) / safe_total
    new_lengths = torch.full((n,), out_frames, dtype=torch.long, device=x.device)
    return resampled * (total > 0), new_lengths


def _gather_frames(x: Tensor, frame_index: Tensor) -> Tensor:
    """``x[i, frame_index[i, j]]`` for every i, j: ``(N, T, ...)``, ``(N, J)`` -> ``(N, J, ...)``."""
    index = frame_index.reshape(*frame_index.shape, *([1] * (x.ndim - 2)))
    return torch.gather(x, 1, index.expand(-1, -1, *x.shape[2:]))


def temporal_mask(
    x: Tensor,
    lengths: Tensor | Sequence[int],
    *,
    ratio: float = 0.25,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Zero a random contiguous span of ``round(ratio * lengths[i])`` valid frames (MS²L).

    The "temporally masked" view of MS²L (Lin et al. 2020): the span starts uniformly
    at random so that it lies inside the valid frames. Shape: ``(N, T, M, V, C)`` -> same.
    """
    _check_batch(x)
    lengths = _as_lengths(x, lengths)
    _check_probability("ratio", ratio)
    span = torch.floor(ratio * lengths.float() + 0.5).long().clamp(max=lengths)
    start = _randint_upto(lengths - span, x, generator)
    frames = torch.arange(x.shape[1], device=x.device)[None, :]
    masked = (frames >= start[:, None]) & (frames < (start + span)[:, None])  # (N, T)
    keep = valid_mask(x, lengths) & ~masked[:, :, None, None, None]
    return x * keep


# ---------------------------------------------------------------------------- virtual camera


def virtual_camera(
    x: Tensor,
    layout: Layout,
    *,
    lengths: Tensor | Sequence[int] | None = None,
    angle_step: float = 60.0,
    continuous: bool = False,
    max_degrees: float = 360.0,
    vary: Sequence[str] = ANGLE_NAMES,
    max_distance: int = 5,
    unit_distance: float = 0.1,
    per_frame: bool = False,
    generator: torch.Generator | None = None,
    coords: str | None = None,
) -> Tensor:
    """Look at the skeleton from a random virtual camera (Gao, Yang, Du 2021).

    1. Eq. (1): move the origin to the body centre ``layout.center`` of body 0 in the
       first frame where body 0 is present (frame 0 for a prepared sequence); the output
       is expressed in these coordinates, so a centred input is left as is.
    2. Eq. (2): rotate by R(α, β, γ) = Rz(γ) Ry(β) Rx(α). Each angle is drawn from the grid
       {0, angle_step, ..., < 360} degrees (default {0°, 60°, ..., 300°}) or, when
       ``continuous``, uniform in ``[-max_degrees/2, max_degrees/2]``; angles not named in
       ``vary`` stay 0.
    3. Distance: the paper moves the camera nearer to / further from the body. We read this
       as shifting the camera position by d·u with d = k·unit_distance, k uniform in
       {0, ..., max_distance}, and u a uniformly random unit vector; the skeleton seen from
       the moved camera is x - d·u. ``max_distance=0`` turns it off.

    ``per_frame=False`` (the paper) draws one rotation per sequence, so the whole sequence
    moves rigidly. ``per_frame=True`` draws independent angles for every frame (a camera
    that jumps between views each frame; bone lengths are kept, motion is not); the
    distance shift stays one per sequence.

    2D ``coords`` (its 2D counterpart; a camera cannot move around a flat pose): the same
    draws, of which only γ (about the viewing axis) rotates xy in the image plane and the
    distance shift's xy components move the pose in the plane; α and β are dropped.
    Shape: ``(N, T, M, V, C)`` -> same.
    """
    _check_batch(x)
    coords = resolve_coords(x, coords)
    _check_layout(x, layout)
    unknown = set(vary) - set(ANGLE_NAMES)
    if unknown:
        raise SkelsslError(f"vary names unknown angles {sorted(unknown)} (known: {ANGLE_NAMES})")
    if max_distance < 0 or unit_distance < 0:
        raise SkelsslError(
            f"max_distance and unit_distance must be >= 0, got {max_distance}, {unit_distance}"
        )
    valid = valid_mask(x, lengths)
    centred = (x - _first_frame_centre(x, valid, layout.center)) * valid  # Gao et al. Eq. (1)

    n, t = x.shape[:2]
    angle_shape = (n, t) if per_frame else (n,)
    degrees = _camera_degrees(angle_shape, x, angle_step, continuous, max_degrees, generator)
    held = torch.tensor([name not in vary for name in ANGLE_NAMES], device=x.device)
    radians = torch.deg2rad(degrees.masked_fill(held, 0.0))
    steps = _randint_upto(torch.full((n,), int(max_distance), device=x.device), x, generator)
    direction = torch.randn((n, 3), generator=generator, device=x.device)
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    camera_shift = (steps.float() * unit_distance)[:, None] * direction  # (N, 3)
    if coords != "xyz":
        detected = (x[..., :2] != 0).any(-1, keepdim=True)
        planar_xy = torch.where(detected, centred[..., :2], torch.zeros_like(centred[..., :2]))
        planar = torch.cat([planar_xy, x[..., 2:]], dim=-1) * valid
        rotation = _planar_rotation(radians[..., 2])
        return _planar(planar, rotation, camera_shift[:, :2], lengths, coords)
    rotation = rotation_matrix(radians[..., 0], radians[..., 1], radians[..., 2])
    rotated = _transform_points(centred, rotation)  # Gao et al. Eq. (2)
    return (rotated - camera_shift[:, None, None, None, :].to(x.dtype)) * valid


CAMERA_VIEW_OPTIONS = (
    "angle_step", "continuous", "max_degrees", "vary", "max_distance", "unit_distance",
    "per_frame", "crop_min_ratio", "shear_magnitude", "noise_std",
)  # fmt: skip


def camera_view(
    x: Tensor,
    layout: Layout,
    *,
    lengths: Tensor | Sequence[int] | None = None,
    crop_min_ratio: float = 1.0,
    shear_magnitude: float = 0.0,
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
    coords: str | None = None,
    **camera,
) -> tuple[Tensor, Tensor | Sequence[int] | None]:
    """One view of the view/distance SimCLR (Gao, Yang, Du 2021): an optional temporal
    crop-resize to [crop_min_ratio, 1] of each length, :func:`virtual_camera` (``camera``
    are its keyword arguments), then optional shear and Gaussian noise (the extras are not
    from that paper; 1 / 0 = off).

    Shape: (N, T, M, V, 3) -> same, with the view's lengths (N,) (changed by the crop).
    """
    if crop_min_ratio < 1.0:
        x, lengths = temporal_crop_resize(
            x, lengths, min_ratio=crop_min_ratio, max_ratio=1.0, generator=generator
        )
    view = virtual_camera(x, layout, lengths=lengths, generator=generator, coords=coords,
                          **camera)  # fmt: skip
    if shear_magnitude > 0:
        view = shear(view, shear_magnitude, lengths=lengths, generator=generator, coords=coords)
    if noise_std > 0:
        view = gaussian_noise(view, noise_std, lengths=lengths, generator=generator,
                              coords=coords)  # fmt: skip
    return view, lengths


def _first_frame_centre(x: Tensor, valid: Tensor, center: int) -> Tensor:
    """Centre joint of body 0 in its first present frame: ``(N, 1, 1, 1, C)`` (zero if never)."""
    body0_present = valid[:, :, 0, 0, 0]  # (N, T)
    first = body0_present.int().argmax(dim=1)  # first True, or 0 when none
    centre = x[torch.arange(x.shape[0], device=x.device), first, 0, center]  # (N, C)
    return centre[:, None, None, None, :]


def _camera_degrees(
    shape: tuple[int, ...],
    x: Tensor,
    angle_step: float,
    continuous: bool,
    max_degrees: float,
    generator: torch.Generator | None,
) -> Tensor:
    """Angles (α, β, γ) in degrees, ``(*shape, 3)``: grid multiples or continuous uniform."""
    if continuous:
        if max_degrees < 0:
            raise SkelsslError(f"max_degrees must be >= 0, got {max_degrees}")
        return _uniform((*shape, 3), -max_degrees / 2, max_degrees / 2, x, generator)
    if not 0 < angle_step <= 360:
        raise SkelsslError(f"angle_step must be in (0, 360], got {angle_step}")
    grid_size = math.ceil(360.0 / angle_step - 1e-9)  # {0, step, ..., < 360}
    high = torch.full((*shape, 3), grid_size - 1, device=x.device)
    return _randint_upto(high, x, generator).float() * angle_step


# ---------------------------------------------------------------------------- Skeleton BYOL


def resample(
    x: Tensor,
    lengths: Tensor | Sequence[int],
    *,
    min_rate: float = 0.7,
    max_rate: float = 1.3,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Play each sequence at a random speed (Skeleton BYOL resampling, rate in [0.7, 1.3]).

    With rate r uniform in ``[min_rate, max_rate]`` (one per sequence), output frame j is
    the input at time ``j·r``, linearly interpolated between its two neighbouring valid
    frames; the new length is ``min(T, floor((L - 1) / r) + 1)`` (a faster sequence gets
    shorter, a slower one is cut at T). ``r = 1`` is the identity.

    Shapes: x ``(N, T, M, V, C)``, lengths ``(N,)`` -> same shape and new lengths ``(N,)``.
    """
    _check_batch(x)
    lengths = _as_lengths(x, lengths)
    if not 0 < min_rate <= max_rate:
        raise SkelsslError(f"need 0 < min_rate <= max_rate, got {min_rate}, {max_rate}")
    n, t = x.shape[:2]
    rate = _uniform(n, min_rate, max_rate, x, generator)  # (N,)
    last = (lengths - 1).float()
    new_lengths = torch.minimum(
        torch.floor(last / rate + 1e-6).long() + 1, torch.full_like(lengths, t)
    )
    position = torch.arange(t, device=x.device, dtype=torch.float32)[None, :] * rate[:, None]
    position = torch.minimum(position, last[:, None])  # (N, T), only frames < new length kept
    low = position.floor().long()
    high = torch.minimum(low + 1, (lengths - 1)[:, None])
    weight_high = (position - low).to(x.dtype)[:, :, None, None, None]
    valid = valid_mask(x, lengths).to(x.dtype)
    w_low = (1 - weight_high) * _gather_frames(valid, low)
    w_high = weight_high * _gather_frames(valid, high)
    total = w_low + w_high
    safe_total = torch.where(total > 0, total, torch.ones_like(total))
    resampled = (w_low * _gather_frames(x, low) + w_high * _gather_frames(x, high)) / safe_total
    keep = (torch.arange(t, device=x.device)[None, :] < new_lengths[:, None])[
        :, :, None, None, None
    ]
    return resampled * (total > 0) * keep, new_lengths


def savgol_filter(
    x: Tensor,
    lengths: Tensor | Sequence[int],
    *,
    window: int = 15,
    order: int = 2,
    p: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Savitzky–Golay smoothing along time with probability ``p`` (Skeleton BYOL: order 2,
    window 15, p = 0.5).

    Coefficients come from :func:`scipy.signal.savgol_coeffs`. Frames whose whole window
    lies inside the valid frames are filtered by one batched depthwise ``conv1d`` over all
    coordinates; the first and last ``window // 2`` valid frames take the value at their
    position of the polynomial fitted to the first / last window (scipy's ``mode="interp"``),
    so a polynomial of degree <= ``order`` passes through unchanged. Sequences shorter than
    ``window`` are left as they are. Shape: ``(N, T, M, V, C)`` -> same.
    """
    from scipy.signal import savgol_coeffs

    _check_batch(x)
    lengths = _as_lengths(x, lengths)
    _check_probability("p", p)
    if window < 1 or window % 2 == 0 or not 0 <= order < window:
        raise SkelsslError(f"need an odd window > order >= 0, got window {window}, order {order}")
    n, t = x.shape[:2]
    half = window // 2
    chosen = _bernoulli(n, p, x, generator)
    # coefficients[pos, k]: weight of window frame k for the output at window position pos
    coefficients = torch.from_numpy(
        np.stack([savgol_coeffs(window, order, pos=pos, use="dot") for pos in range(window)])
    ).to(device=x.device, dtype=x.dtype)
    channels = x.permute(0, 2, 3, 4, 1).reshape(-1, 1, t)  # (N·M·V·C, 1, T)
    centre = torch.conv1d(channels, coefficients[half].view(1, 1, window), padding=half)
    centre = centre.reshape(n, *x.shape[2:], t).permute(0, 4, 1, 2, 3)  # (N, T, M, V, C)
    # scipy "interp" edges: the first / last half frames take the polynomial fitted to the
    # first / last window, at their position in it (only for sequences with L >= window)
    long_enough = lengths.clamp(min=window)
    positions = torch.arange(half, device=x.device)
    edge_frames = torch.cat(
        [positions[None, :].expand(n, -1), (long_enough - half)[:, None] + positions], 1
    )
    window_start = torch.cat([torch.zeros(n, half, dtype=torch.long, device=x.device),
                              (long_enough - window)[:, None].expand(-1, half)], 1)  # fmt: skip
    taps = window_start[:, :, None] + torch.arange(window, device=x.device)  # (N, 2h, window)
    taps = taps.clamp(max=t - 1)
    weights = coefficients[edge_frames - window_start]  # (N, 2h, window)
    window_values = _gather_frames(x, taps.reshape(n, -1)).reshape(
        n, 2 * half, window, *x.shape[2:]
    )
    edge_values = torch.einsum("nek...,nek->ne...", window_values, weights)
    index = edge_frames.clamp(max=t - 1).reshape(n, -1, 1, 1, 1).expand(-1, -1, *x.shape[2:])
    smoothed = centre.scatter(1, index, edge_values)
    apply = chosen & (lengths >= window)
    return torch.where(apply[:, None, None, None, None], smoothed * valid_mask(x, lengths), x)


def cyclic_shift(
    x: Tensor,
    lengths: Tensor | Sequence[int],
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Rotate each sequence's valid frames by a random offset (Skeleton BYOL cyclic shift).

    Output frame t is input frame ``(t + o) mod L`` for t < L, o uniform in ``0..L-1``
    (an offset of L is the same as 0). Padding stays zero. Shape: ``(N, T, M, V, C)`` -> same.
    """
    _check_batch(x)
    lengths = _as_lengths(x, lengths)
    offset = _randint_upto(lengths - 1, x, generator)
    frames = torch.arange(x.shape[1], device=x.device)[None, :]
    source = torch.remainder(frames + offset[:, None], lengths[:, None])
    inside = (frames < lengths[:, None])[:, :, None, None, None]
    return _gather_frames(x, source) * inside
