"""ST-GCN: spatial temporal graph convolutional network (Yan et al., AAAI 2018).

The skeleton graph comes from the layout's bones. Neighbours (1 hop, plus the joint
itself) are split by the *spatial configuration partitioning* (Yan et al. Sec. 3.6,
Eq. (4)-(5)) into three subsets by their hop distance ``r`` to the layout's centre joint:

- root: ``r_j == r_i`` (in a tree this is the joint itself),
- centripetal: ``r_j < r_i`` (neighbour closer to the centre),
- centrifugal: ``r_j > r_i``.

Each subset's adjacency is hop-normalised by the joint's degree (``Λ^-1 A``, as in the
authors' code), so over the three subsets every row sums to 1. Ten blocks of graph
convolution (Eq. (10)) with learnable edge importance (Sec. 3.6), temporal convolution,
and residual connections map ``(N·M, C, T, V)`` to ``(N·M, D, T/4, V)``; features are
averaged over valid frames and joints, then over the bodies present.

Padded frames never influence the features: the input of every temporal convolution is
zeroed beyond the valid length (``ceil(length / stride)`` after striding), and pooling
only averages valid frames. (In training mode BatchNorm statistics still see the padding.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.functional import conv2d

from skelssl.errors import SkelsslError
from skelssl.models.gru import check_input, frame_mask, valid_lengths
from skelssl.skeleton import Layout, get_layout

if TYPE_CHECKING:
    from skelssl.data.types import DataSpec
    from skelssl.models.config import EncoderConfig

# Yan et al. Sec. 4.2: nine layers after the first, channels 64 x4, 128 x3, 256 x3,
# temporal stride 2 at the 4th and 7th of them (blocks 5 and 8, 1-based).
BLOCK_CHANNELS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
STRIDED_BLOCKS = (4, 7)  # 0-based
MIN_CHANNELS = 8


def hop_distances(layout: Layout) -> np.ndarray:
    """Shortest path length in bones between every pair of joints. Shape: (V, V) int."""
    v = layout.num_joints
    unreachable = v + 1
    distance = np.full((v, v), unreachable, dtype=np.int64)
    np.fill_diagonal(distance, 0)
    for child, parent in layout.bones:
        distance[child, parent] = distance[parent, child] = 1
    for middle in range(v):  # Floyd-Warshall
        distance = np.minimum(distance, distance[:, middle : middle + 1] + distance[middle])
    return distance


def spatial_partitions(layout: Layout) -> np.ndarray:
    """Spatial configuration partitioning (Yan et al. Eq. (5)), hop-normalised.

    ``A[k, i, j]`` is the weight of neighbour ``j`` in the aggregation for joint ``i``
    under subset ``k`` (0 root, 1 centripetal, 2 centrifugal); ``A.sum(0)`` has rows
    summing to 1. Shape: (3, V, V) float32.
    """
    distance = hop_distances(layout)
    neighbours = distance <= 1  # includes the joint itself
    degree = neighbours.sum(axis=1, keepdims=True)
    normalised = neighbours / degree  # Λ^-1 A (row i divided by the degree of joint i)
    to_center = distance[:, layout.center]
    r_i, r_j = to_center[:, None], to_center[None, :]
    subsets = (r_j == r_i, r_j < r_i, r_j > r_i)
    return np.stack([np.where(subset, normalised, 0.0) for subset in subsets]).astype(np.float32)


def concat_bones(x: Tensor, parents: Tensor) -> Tensor:
    """Joints and bone vectors ``x[v] - x[parent[v]]`` on channels.

    Shape: (N, T, M, V, C) -> (N, T, M, V, 2C); the root's bone is zero.
    """
    return torch.cat([x, x - x[..., parents, :]], dim=-1)


class GraphConv(nn.Module):
    """Yan et al. Eq. (10): ``f_out = Σ_k A_k f_in W_k`` with a 1x1 conv per subset.

    Computed as the same sum in the cheaper order when ``C_in <= C_out`` (always in
    ST-GCN): first one matmul over joints gathers each joint's neighbours per subset,
    ``z[i, k] = Σ_j A_k[i, j] f_in[j]`` (a ``(V·K, V)`` matrix against every frame), then
    one matmul over ``(k, C_in)`` with the subsets' kernels folded side by side,
    ``W' = [W_1 … W_K]``. The 1x1 conv's bias ``b_k`` passes through the aggregation as
    ``Σ_k b_k · Σ_j A_k[i, j]``, a per-joint bias. Parameters keep the names and shapes
    of the conv-then-aggregate form (``conv``: ``(K·C_out, C_in, 1, 1)``), so
    checkpoints of either form load into the other.

    Shape: (B, C_in, T, V), adjacency (K, V, V) -> (B, C_out, T, V); fastest with ``x``
    in ``torch.channels_last`` (memory ``(B, T, V, C)``), and the output is channels-last.
    """

    def __init__(self, in_channels: int, out_channels: int, partitions: int):
        super().__init__()
        self.out_channels = out_channels
        self.partitions = partitions
        self.conv = nn.Conv2d(in_channels, out_channels * partitions, kernel_size=1)

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        b, c, t, v = x.shape
        k, out = self.partitions, self.out_channels
        frames = x.permute(0, 2, 3, 1).reshape(b * t, v, c)  # a view when channels-last
        gather = adjacency.transpose(0, 1).reshape(v * k, v)  # rows (i, k), columns j
        # (B·T, V·K, C): z[i, k] = Σ_j A_k[i, j] x_j, one batched GEMM without copies
        neighbours = torch.bmm(gather.expand(b * t, v * k, v), frames)
        neighbours = neighbours.view(b, t, v, k * c).permute(0, 3, 1, 2)  # (B, K·C, T, V)
        weight = self.conv.weight.view(k, out, c, 1, 1).transpose(0, 1).reshape(out, k * c, 1, 1)
        joint_bias = self.conv.bias.view(k, out).t() @ adjacency.sum(dim=2)  # (C_out, V)
        return conv2d(neighbours, weight) + joint_bias[:, None, :]  # channels-last memory


class STGCNBlock(nn.Module):
    """Graph conv -> BN -> ReLU -> temporal conv (k x 1, stride) -> BN, + residual, ReLU.

    Shape: (B, C_in, T, V), mask (B, 1, T, 1) -> (B, C_out, ceil(T / stride), V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency_shape: tuple[int, int, int],
        temporal_kernel: int,
        stride: int,
        residual: bool,
    ):
        super().__init__()
        self.stride = stride
        self.graph_conv = GraphConv(in_channels, out_channels, adjacency_shape[0])
        self.edge_importance = nn.Parameter(torch.ones(adjacency_shape))  # Yan et al. Sec. 3.6
        self.graph_norm = nn.BatchNorm2d(out_channels)
        self.temporal_conv = nn.Conv2d(
            out_channels,
            out_channels,
            kernel_size=(temporal_kernel, 1),
            stride=(stride, 1),
            padding=((temporal_kernel - 1) // 2, 0),
        )
        self.temporal_norm = nn.BatchNorm2d(out_channels)
        self.residual = self._residual(in_channels, out_channels, stride, residual)

    @staticmethod
    def _residual(
        in_channels: int, out_channels: int, stride: int, residual: bool
    ) -> nn.Module | None:
        if not residual:
            return None
        if in_channels == out_channels and stride == 1:
            return nn.Identity()
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: Tensor, adjacency: Tensor, mask: Tensor | None) -> Tensor:
        y = torch.relu(self.graph_norm(self.graph_conv(x, adjacency * self.edge_importance)))
        if mask is not None:
            y = y * mask  # padded frames read as zeros
        y = self.temporal_norm(self.temporal_conv(y))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)


class STGCN(nn.Module):
    """ST-GCN encoder (Yan et al. 2018) with width multiplier and optional bone input.

    Shape: ``x`` (N, T, M, V, C), ``lengths`` (N,) -> features (N, D), and with
    ``return_sequence`` also per-frame states (N, T', D), ``T' = ceil(T / 4)``, zero on
    padded frames. ``out_dim = seq_dim = D`` = channels of the last block.
    """

    def __init__(self, config: EncoderConfig, spec: DataSpec):
        super().__init__()
        if not 0.25 <= config.width <= 2:
            raise SkelsslError(f"ST-GCN width must be in 0.25..2, got {config.width}")
        if config.temporal_kernel < 1 or config.temporal_kernel % 2 == 0:
            raise SkelsslError(f"temporal_kernel must be odd, got {config.temporal_kernel}")
        layout = get_layout(spec.layout)
        self.bodies, self.joints, self.channels = spec.bodies, layout.num_joints, spec.channels
        self.use_bones = config.use_bones
        in_channels = self.channels * (2 if config.use_bones else 1)
        self.register_buffer("adjacency", torch.from_numpy(spatial_partitions(layout)))
        self.register_buffer("parents", torch.from_numpy(layout.bone_parents()))
        # data normalisation over the M·V·C input channels (Yan et al. Sec. 4.2)
        self.data_norm = nn.BatchNorm1d(self.bodies * self.joints * in_channels)
        widths = [max(MIN_CHANNELS, round(c * config.width)) for c in BLOCK_CHANNELS]
        self.blocks = nn.ModuleList()
        for index, out_channels in enumerate(widths):
            self.blocks.append(
                STGCNBlock(
                    in_channels,
                    out_channels,
                    tuple(self.adjacency.shape),
                    config.temporal_kernel,
                    stride=2 if index in STRIDED_BLOCKS else 1,
                    residual=index > 0,
                )
            )
            in_channels = out_channels
        self.out_dim = widths[-1]
        self.seq_dim = widths[-1]

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, return_sequence: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        check_input(x, self.bodies, self.joints, self.channels)
        n, t, m, v, _ = x.shape
        lengths = valid_lengths(x, lengths)
        present = present_bodies(x)  # (N, M)
        if self.use_bones:
            x = concat_bones(x, self.parents)
        h = self._normalise_input(x)  # (N·M, C, T, V)
        lengths = lengths.repeat_interleave(m)
        # on CPU, skip the masks when no sample is padded (asking would sync a GPU; a
        # traced export keeps them, since lengths are one of its inputs)
        padded = torch.jit.is_tracing() or x.device.type != "cpu" or bool((lengths < t).any())
        for block in self.blocks:
            mask = frame_mask(lengths, h.shape[2])[:, None, :, None] if padded else None
            h = block(h, self.adjacency, mask)
            if block.stride > 1:
                lengths = (lengths + block.stride - 1) // block.stride  # ceil
        valid = frame_mask(lengths, h.shape[2]).to(h.dtype)  # (N·M, T')
        per_frame = h.mean(dim=3) * valid[:, None]  # (N·M, D, T'), joints averaged
        per_body = per_frame.sum(dim=2) / lengths[:, None].to(h.dtype)  # (N·M, D)
        features = mean_over_present(per_body.view(n, m, -1), present)
        if return_sequence:
            states = mean_over_present(per_frame.view(n, m, *per_frame.shape[1:]), present)
            return features, states.transpose(1, 2)  # (N, T', D)
        return features

    def _normalise_input(self, x: Tensor) -> Tensor:
        """BatchNorm over M·V·C, then fold bodies into the batch.

        Shape: (N, T, M, V, C) -> (N·M, C, T, V) in ``torch.channels_last`` memory
        (``(N·M, T, V, C)``), the layout every block keeps: the 1x1 and temporal
        convolutions then run as plain matrix products without reordering copies.
        """
        n, t, m, v, c = x.shape
        h = x.permute(0, 2, 3, 4, 1).reshape(n, m * v * c, t)
        h = self.data_norm(h).view(n, m, v, c, t).permute(0, 1, 4, 2, 3)
        return h.contiguous().view(n * m, t, v, c).permute(0, 3, 1, 2)  # the one copy


def present_bodies(x: Tensor) -> Tensor:
    """True for bodies with any non-zero coordinate; the first body when none is.

    Shape: (N, T, M, V, C) -> (N, M) bool.
    """
    present = x.detach().abs().amax(dim=(1, 3, 4)) > 0
    is_first = torch.arange(present.shape[1], device=present.device) == 0  # (M,)
    return present | (~present.any(dim=1, keepdim=True) & is_first)  # no in-place: ONNX-exportable


def mean_over_present(values: Tensor, present: Tensor) -> Tensor:
    """Mean over the bodies present. Shape: (N, M, ...), (N, M) -> (N, ...)."""
    weights = present.to(values.dtype)
    weights = weights / weights.sum(dim=1, keepdim=True)
    return torch.einsum("nm...,nm->n...", values, weights)
