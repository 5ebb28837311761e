"""Recurrent skeleton encoder: a multi-layer (bidirectional) GRU over flattened frames.

The encoder of MS²L (Lin et al., ACM MM 2020) and CRRL (Wang et al. 2021): every frame
``(M, V, C)`` is flattened to one vector of ``M·V·C`` numbers, the GRU runs over the
valid frames only, and the sequence feature is the mean of the per-frame states over
valid frames (``pooling="mean"``) or the final hidden states of the last layer, both
directions concatenated (``pooling="last"``). A batch without padded samples runs the
plain GRU kernels. One with padded samples goes through ``pack_padded_sequence`` on a GPU
(cuDNN runs packed batches natively) and through :func:`padded_gru` on the CPU, the same
result without packing: PyTorch's packed GRU backward on the CPU grows faster than the
sequence length (``benchmarks/encoders.py``).
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
    from skelssl.models.config import EncoderConfig

POOLINGS = ("mean", "last")
GRU_INITS = ("pytorch", "orthogonal")
GRU_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # nn.GRU's, per layer


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


def reverse_within(x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Each sequence's valid frames in reverse order, padded frames where they were, and
    the frame index that did it (its own inverse). Shapes: (N, T, D), (N,) -> (N, T, D),
    (N, T)."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return x.gather(1, index[:, :, None].expand_as(x)), index


def padded_gru(gru: nn.GRU, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """What ``gru`` (batch_first) gives on ``pack_padded_sequence(x, lengths)``, without
    packing: each layer and direction runs the plain kernel over the padded batch, the
    reverse direction over each sequence reversed within its length, so a valid frame never
    reads a padded one. Returns the per-frame states of the last layer, zero on padded
    frames, and the final hidden states. Shapes: x (N, T, F), lengths (N,) int64 ->
    (N, T, D·H), (layers·D, N, H) with D directions, as ``nn.GRU`` orders them."""
    n, t = x.shape[:2]
    rows = torch.arange(n, device=x.device)
    valid = (torch.arange(t, device=x.device)[None, :] < lengths[:, None])[:, :, None]
    start = x.new_zeros(1, n, gru.hidden_size)
    layer_input, finals = x, []
    for layer in range(gru.num_layers):
        if layer > 0 and gru.dropout > 0:  # nn.GRU: dropout on every layer's output but the last
            layer_input = nn.functional.dropout(layer_input, gru.dropout, gru.training)
        outputs = []
        for suffix in ("", "_reverse")[: 2 if gru.bidirectional else 1]:
            kinds = GRU_WEIGHTS if gru.bias else GRU_WEIGHTS[:2]
            weights = [getattr(gru, f"{kind}_l{layer}{suffix}") for kind in kinds]
            sequence, index = layer_input, None
            if suffix:
                sequence, index = reverse_within(layer_input, lengths)
            # one layer, one direction, batch_first: nn.GRU's own kernel (torch.gru)
            states, _ = torch.gru(
                sequence, start, weights, gru.bias, 1, 0.0, gru.training, False, True
            )
            finals.append(states[rows, lengths - 1])  # (N, H): after the last valid frame
            if index is not None:
                states = states.gather(1, index[:, :, None].expand_as(states))
            outputs.append(states)
        layer_input = torch.cat(outputs, dim=2) * valid
    return layer_input, torch.stack(finals)


def packed_gru(gru: nn.GRU, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """``gru`` (batch_first) on the packed batch: per-frame states (zero on padded frames)
    and final hidden states. Shapes: x (N, T, F), lengths (N,) on the host -> (N, T, D·H),
    (layers·D, N, H)."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    packed_states, last_hidden = gru(packed)
    states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=x.shape[1])
    return states, last_hidden


def gru_over_valid_frames(gru: nn.GRU, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """``gru`` (batch_first) over each sequence's first ``lengths`` frames: per-frame states,
    zero on padded frames, and final hidden states, as ``nn.GRU`` gives them on a packed
    batch. Unpadded batches run the plain kernels; padded ones :func:`padded_gru` on the CPU
    (a train step 1.2-1.9x faster than packing, ``benchmarks/encoders.py --padded``) and
    packing on a GPU (cuDNN's packed kernels) or when traced for export, where lengths vary.
    Shapes: x (N, T, F), lengths (N,) int64 -> (N, T, D·H), (layers·D, N, H)."""
    t = x.shape[1]
    lengths_on_host = lengths.cpu()  # packing needs them there (one sync on a GPU)
    padded = bool((lengths_on_host < t).any())
    if torch.jit.is_tracing() or (padded and x.device.type != "cpu"):
        return packed_gru(gru, x, lengths_on_host)
    if not padded:  # the plain (faster) GRU kernels, same result as packed
        return gru(x)
    longest = int(lengths_on_host.max())  # frames after it are padding in every row
    states, last_hidden = padded_gru(gru, x[:, :longest], lengths)
    return nn.functional.pad(states, (0, 0, 0, t - longest)), last_hidden


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
        states, last_hidden = gru_over_valid_frames(self.gru, frames, lengths)
        if self.pooling == "mean":
            features = states.sum(dim=1) / lengths[:, None].to(states.dtype)
        else:
            # last layer's final state of each direction: (directions, N, H) -> (N, directions·H)
            features = last_hidden[-self.directions :].transpose(0, 1).reshape(n, -1)
        if return_sequence:
            return features, states
        return features
