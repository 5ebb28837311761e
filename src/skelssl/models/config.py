"""Which encoder and its size: :class:`EncoderConfig`, read by every encoder, the method
builders and the run configuration. A leaf: imports nothing of skelssl."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EncoderConfig:
    """Which encoder and its size. GRU fields and ST-GCN fields are ignored by the other
    (:data:`ENCODER_FIELDS` names the fields each reads)."""

    name: str = "gru"  # "gru" | "stgcn"
    hidden_size: int = 256  # GRU units per direction
    num_layers: int = 2  # GRU layers
    bidirectional: bool = True
    dropout: float = 0.0  # GRU inter-layer dropout
    pooling: str = "mean"  # GRU: "mean" over valid frames | "last" (final states, both directions)
    # GRU weights at the start: "pytorch" (nn.GRU's uniform ±1/sqrt(hidden)) | "orthogonal"
    # (the MS²L authors' init_weights: Xavier-uniform input, orthogonal recurrent, zero bias)
    gru_init: str = "pytorch"
    width: float = 1.0  # ST-GCN width multiplier (0.25 .. 2)
    use_bones: bool = False  # ST-GCN input = joints concatenated with bone vectors (2C channels)
    temporal_kernel: int = 9  # ST-GCN temporal kernel (odd)
