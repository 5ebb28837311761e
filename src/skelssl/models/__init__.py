"""Skeleton encoders and the MLP head builder.

Every encoder maps a batch ``x (N, T, M, V, C)`` (zero-padded after ``lengths``) to
features ``(N, out_dim)``; ``forward(x, lengths, return_sequence=True)`` also returns
per-frame states ``(N, T', seq_dim)``. :func:`build_encoder` makes one from an
:class:`EncoderConfig` and the data's :class:`~skelssl.data.types.DataSpec`.

Presets (:data:`ENCODER_PRESETS`) quote the papers:

``gru-ms2l``
    MS²L (Lin et al., ACM MM 2020): one bidirectional GRU layer, 30 units per direction.
``gru-crrl``
    CRRL (Wang et al. 2021): two bidirectional GRU layers of 256 units, dropout 0.2.
``stgcn``, ``stgcn-0.5``, ``stgcn-0.25``
    ST-GCN (Yan et al. 2018) at full, half and quarter width, joint coordinates only.
``stgcn-byol-0.5``, ``stgcn-byol-0.25``
    The narrow ST-GCNs of skeleton BYOL (Moliner et al., CVPR-W 2022), which we read
    as taking joints concatenated with bone vectors (``use_bones=True``, 2C input
    channels). Set ``use_bones=False`` to feed joints only.

``use_bones`` fuses joints and bones early, inside one ST-GCN; ``data.stream`` (joint,
bone, motion, bone-motion; :mod:`skelssl.data.streams`) picks the one view a run's encoder
reads, for late fusion of several runs' scores (``skelssl evaluate RUN RUN --ensemble``).
With both, ``use_bones`` concatenates the stream with the stream's own bone vectors.
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.models.config import EncoderConfig
from skelssl.models.gru import GRUEncoder
from skelssl.models.heads import mlp
from skelssl.models.stgcn import STGCN
from skelssl.models.streams import StreamEncoder

ENCODERS: dict[str, type[nn.Module]] = {"gru": GRUEncoder, "stgcn": STGCN}
# the EncoderConfig fields each encoder reads (the GRU reads use_bones to refuse it); a
# field not named here for an encoder cannot change that encoder's weights
ENCODER_FIELDS: dict[str, tuple[str, ...]] = {
    "gru": ("hidden_size", "num_layers", "bidirectional", "dropout", "pooling", "gru_init",
            "use_bones"),
    "stgcn": ("width", "use_bones", "temporal_kernel"),
}  # fmt: skip

_STGCN = EncoderConfig(name="stgcn")
ENCODER_PRESETS: dict[str, EncoderConfig] = {
    "gru-ms2l": EncoderConfig(name="gru", hidden_size=30, num_layers=1, bidirectional=True),
    "gru-crrl": EncoderConfig(
        name="gru", hidden_size=256, num_layers=2, bidirectional=True, dropout=0.2
    ),
    "stgcn": _STGCN,
    "stgcn-0.5": replace(_STGCN, width=0.5),
    "stgcn-0.25": replace(_STGCN, width=0.25),
    "stgcn-byol-0.5": replace(_STGCN, width=0.5, use_bones=True),
    "stgcn-byol-0.25": replace(_STGCN, width=0.25, use_bones=True),
}


def encoder_preset(name: str) -> EncoderConfig:
    """A fresh copy of the preset called ``name``; a clear error naming the known ones."""
    try:
        return replace(ENCODER_PRESETS[name])
    except KeyError:
        known = ", ".join(ENCODER_PRESETS)
        raise SkelsslError(f"unknown encoder preset {name!r} (known: {known})") from None


def build_encoder(config: EncoderConfig, spec: DataSpec) -> nn.Module:
    """The encoder ``config.name`` for data described by ``spec``.

    The module has ``forward(x, lengths=None, return_sequence=False)``, ``out_dim`` and
    ``seq_dim``. When ``spec.stream`` is not ``joint`` the encoder is wrapped in a
    :class:`~skelssl.models.streams.StreamEncoder` that converts its input first.
    Raises :class:`SkelsslError` on an unknown name or a bad setting.
    """
    try:
        encoder_class = ENCODERS[config.name]
    except KeyError:
        known = ", ".join(ENCODERS)
        raise SkelsslError(f"unknown encoder {config.name!r} (known: {known})") from None
    if not 0.0 <= config.dropout < 1.0:
        raise SkelsslError(f"dropout must be in [0, 1), got {config.dropout}")
    encoder = encoder_class(config, spec)
    stream = getattr(spec, "stream", "joint")
    return encoder if stream == "joint" else StreamEncoder(encoder, spec, stream)


__all__ = [
    "ENCODERS",
    "ENCODER_FIELDS",
    "ENCODER_PRESETS",
    "STGCN",
    "EncoderConfig",
    "StreamEncoder",
    "GRUEncoder",
    "build_encoder",
    "encoder_preset",
    "mlp",
]
