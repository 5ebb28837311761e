"""Input streams: the views of a skeleton sequence an encoder can read.

``joint``
    The joint coordinates themselves.
``bone``
    ``x[v] - x[parent(v)]`` for every joint, with the parent from the layout's bones (a
    tree rooted at the centre joint, whose bone is zero).
``motion``
    The frame difference ``x[t + 1] - x[t]``, zero at and after the last valid frame
    (``t >= length - 1``) and where a body is absent in frame t or t + 1 (its appearing
    or leaving is not a movement).
``bone-motion``
    The motion of the bone stream.

The two-stream / multi-stream ensembles of skeleton action recognition (2s-AGCN, Shi et
al. CVPR 2019, Sec. 3.4: bones as ``x_child - x_parent``; MS-G3D, CTR-GCN and AimCLR's
3s-ensembles add joint and bone motion) train one encoder per stream and fuse their class
scores; :mod:`skelssl.evaluation.ensemble` does the fusion.

A run's ``data.stream`` (config.yaml) names its stream. It is applied after
preprocessing and augmentation (rotation, shear and the virtual camera are defined on
joint coordinates), right before the encoder: :class:`skelssl.models.streams.StreamEncoder`
wraps the encoder, so training, evaluation, ``embed``, ``predict`` and ``export`` all apply
it the same way, through :func:`stream_of`, the one definition.

Channels: with ``coordinate_channels`` given (2D input with a pose score: 2 of C = 3),
only the first channels are transformed and the rest (the score) pass through.
Padding frames and absent bodies (all-zero frames) stay zero in every stream.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from skelssl.errors import SkelsslError
from skelssl.skeleton import Layout, get_layout

STREAMS = ("joint", "bone", "motion", "bone-motion")


def check_stream(stream: str, where: str | None = None) -> str:
    """``stream`` if it is one of :data:`STREAMS`, else a :class:`SkelsslError` naming them."""
    if stream not in STREAMS:
        raise SkelsslError(f"unknown data.stream {stream!r} (known: {', '.join(STREAMS)})", where)
    return stream


def layout_parents(layout: Layout | str) -> np.ndarray:
    """The parent of each joint in ``layout`` (a :class:`Layout` or its name); shape (V,)."""
    if isinstance(layout, str):
        layout = get_layout(layout)
    return layout.bone_parents()


def bones(joints: Tensor, parents: Tensor) -> Tensor:
    """``x[..., v, :] - x[..., parent[v], :]``; the root (its own parent) gets zero.

    Shape: (N, T, M, V, C), parents (V,) int64 -> (N, T, M, V, C).
    """
    return joints - joints[..., parents, :]


def motion(joints: Tensor, lengths: Tensor | None) -> Tensor:
    """``x[t + 1] - x[t]`` for ``t < length - 1`` where the body is present in both frames,
    zero elsewhere (the last valid frame, padding, a body appearing or leaving).

    Shape: (N, T, M, V, C), lengths (N,) -> (N, T, M, V, C).
    """
    n, t = joints.shape[:2]
    present = joints.abs().amax(dim=(3, 4)) > 0  # (N, T, M)
    step = joints[:, 1:] - joints[:, :-1]  # (N, T - 1, M, V, C)
    both = present[:, 1:] & present[:, :-1]  # (N, T - 1, M)
    if lengths is not None:
        frames = torch.arange(t - 1, device=joints.device)
        both = both & (frames[None, :] < (lengths.to(joints.device)[:, None] - 1))[:, :, None]
    step = step * both[..., None, None].to(step.dtype)
    return torch.cat([step, torch.zeros_like(joints[:, :1])], dim=1)


def stream_of(
    joints: Tensor,
    lengths: Tensor | None,
    parents: Tensor,
    stream: str,
    coordinate_channels: int | None = None,
) -> Tensor:
    """The ``stream`` view of ``joints`` with the layout's ``parents`` (V,) int64.

    Shape: (N, T, M, V, C), lengths (N,) or None (every frame valid) -> (N, T, M, V, C).
    """
    if stream == "joint":
        return joints
    check_stream(stream)
    c = joints.shape[-1] if coordinate_channels is None else coordinate_channels
    coords, rest = joints[..., :c], joints[..., c:]
    if stream in ("bone", "bone-motion"):
        coords = bones(coords, parents)
    if stream in ("motion", "bone-motion"):
        coords = motion(coords, lengths)
    return torch.cat([coords, rest], dim=-1) if rest.shape[-1] else coords


def to_stream(
    joints: Tensor | np.ndarray,
    lengths: Tensor | np.ndarray | None,
    layout: Layout | str,
    stream: str,
    *,
    coordinate_channels: int | None = None,
) -> Tensor:
    """The ``stream`` view of a batch of ``joints`` in ``layout`` (see the module docstring).

    Shape: (N, T, M, V, C), lengths (N,) -> (N, T, M, V, C) float tensor.
    """
    check_stream(stream)
    joints = torch.as_tensor(joints)
    parents = torch.as_tensor(layout_parents(layout), dtype=torch.int64, device=joints.device)
    if parents.shape[0] != joints.shape[3]:
        raise SkelsslError(
            f"layout has {parents.shape[0]} joints, the batch has V = {joints.shape[3]}"
        )
    lengths = None if lengths is None else torch.as_tensor(lengths, device=joints.device)
    return stream_of(joints, lengths, parents, stream, coordinate_channels)
