"""Recurrent skeleton encoder: a multi-layer (bidirectional) GRU over flattened frames.

The encoder of MS²L (Lin et al., ACM MM 2020) and CRRL (Wang et al. 2021): every frame
``(M, V, C)`` is flattened to one vector of ``M·V·C`` numbers, the GRU runs over the
valid frames only, and the sequence feature is the mean of the per-frame states over
valid frames (``pooling="mean"``) or the final hidden states of the last layer, both
directions concatenated (``pooling="last"``). A batch with padded samples goes through
``pack_padded_sequence``; a batch without any runs the plain GRU kernels, which give
the same result about 1.4x faster on CPU (``benchmarks/encoders.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from skelssl.errors import SkelsslError
from skelssl.skeleton import get_layout

if TYPE_CHECKING:
    from skelssl.data.types import DataSpec
    from skelssl.models import EncoderConfig

POOLINGS = ("mean", "last")
GRU_INITS = ("pytorch", "orthogonal")


def orthogonal_init(gru: nn.GRU) -> None:
    """The MS²L authors' GRU initialisation (github.com/LanglandsLin/MS2L, ``model.py``,
    ``init_weights``): Xavier-uniform input weights, orthogonal recurrent weights (each
    stacked (3H, H) matrix, as there), zero biases."""
    for name, parameter in gru.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(parameter)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(parameter)
        else:
            nn.init.zeros_(parameter)


def valid_lengths(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Valid frames per sample as int64 on ``x.device``, clamped to 1..T. Shape: (N,)."""
    n, t = x.shape[:2]
    if lengths is None:
        return torch.full((n,), t, dtype=torch.int64, device=x.device)
    lengths = torch.as_tensor(lengths, device=x.device).to(torch.int64)
    if lengths.shape != (n,):
        raise SkelsslError(f"lengths must have shape ({n},), got {tuple(lengths.shape)}")
    return lengths.clamp(1, t)


def check_input(x: Tensor, bodies: int, joints: int, channels: int) -> None:
    """Raise :class:`SkelsslError` unless ``x`` is (N, T, bodies, joints, channels)."""
    if x.ndim != 5 or tuple(x.shape[2:]) != (bodies, joints, channels):
        raise SkelsslError(
            f"encoder expects a batch (N, T, {bodies}, {joints}, {channels}), "
            f"got shape {tuple(x.shape)}"
        )


def frame_mask(lengths: Tensor, frames: int) -> Tensor:
    """True for frames ``t < lengths[i]``. Shape: (N,) -> (N, frames) bool."""
    return torch.arange(frames, device=lengths.device) < lengths[:, None]


class GRUEncoder(nn.Module):
    """Multi-layer (bi)GRU encoder.

    Shape: ``x`` (N, T, M, V, C), ``lengths`` (N,) -> features (N, D), and with
    ``return_sequence`` also per-frame states (N, T, D) that are zero on padded frames.
    ``out_dim = seq_dim = hidden_size * (2 if bidirectional else 1)``.
    """

    def __init__(self, config: EncoderConfig, spec: DataSpec):
        super().__init__()
        if config.pooling not in POOLINGS:
            raise SkelsslError(f"unknown GRU pooling {config.pooling!r} (known: mean, last)")
        if config.use_bones:
            raise SkelsslError("use_bones is an ST-GCN option; the GRU reads joints only")
        if config.hidden_size < 1 or config.num_layers < 1:
            raise SkelsslError("GRU hidden_size and num_layers must be at least 1")
        if config.gru_init not in GRU_INITS:
            raise SkelsslError(
                f"unknown GRU init {config.gru_init!r} (known: pytorch, orthogonal)",
                "encoder.gru_init",
            )
        self.bodies = spec.bodies
        self.joints = get_layout(spec.layout).num_joints
        self.channels = spec.channels
        self.pooling = config.pooling
        self.directions = 2 if config.bidirectional else 1
        self.gru = nn.GRU(
            input_size=self.bodies * self.joints * self.channels,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        if config.gru_init == "orthogonal":
            orthogonal_init(self.gru)
        self.out_dim = config.hidden_size * self.directions
        self.seq_dim = self.out_dim

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, return_sequence: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        check_input(x, self.bodies, self.joints, self.channels)
        n, t = x.shape[:2]
        lengths = valid_lengths(x, lengths)
        frames = x.reshape(n, t, -1)  # (N, T, M·V·C)
        lengths_on_host = lengths.cpu()  # packing needs them there (one sync on a GPU)
        if torch.jit.is_tracing() or bool((lengths_on_host < t).any()):  # (export: lengths vary)
            packed = pack_padded_sequence(
                frames, lengths_on_host, batch_first=True, enforce_sorted=False
            )
            packed_states, last_hidden = self.gru(packed)
            states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=t)
        else:  # no padding: the plain (faster) GRU kernels, same result as packed
            states, last_hidden = self.gru(frames)
        if self.pooling == "mean":
            features = states.sum(dim=1) / lengths[:, None].to(states.dtype)
        else:
            # last layer's final state of each direction: (directions, N, H) -> (N, directions·H)
            features = last_hidden[-self.directions :].transpose(0, 1).reshape(n, -1)
        if return_sequence:
            return features, states
        return features
