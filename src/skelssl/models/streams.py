"""An encoder that reads one input stream (bone, motion, bone-motion) of the joints.

:func:`skelssl.models.build_encoder` wraps the encoder in :class:`StreamEncoder` when the
data's ``stream`` (``data.stream`` of a run) is not ``joint``, so every method, every
evaluation protocol, ``embed``, ``predict`` and the exported TorchScript module convert the
(augmented) joints the same way (:func:`skelssl.data.streams.stream_of`) before encoding.
A ``joint`` run's encoder is not wrapped: its weights keep their names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from skelssl.data.streams import check_stream, layout_parents, stream_of

if TYPE_CHECKING:
    from skelssl.data.types import DataSpec

# channels an encoder's stream transforms, by what the channels mean (the pose score passes)
COORDINATE_CHANNELS = {"xyz": 3, "xy": 2, "xy+score": 2}


class StreamEncoder(nn.Module):
    """``forward(x, lengths, return_sequence)`` = ``encoder(stream_of(x, lengths), ...)``.

    Shape: (N, T, M, V, C), lengths (N,) -> what ``encoder`` returns. ``out_dim``,
    ``seq_dim`` and the inner encoder's other attributes (``bodies``, ``joints``,
    ``channels``, ...) read through. Parameters live under ``encoder.``.
    """

    def __init__(self, encoder: nn.Module, spec: DataSpec, stream: str):
        super().__init__()
        self.encoder = encoder
        self.stream = check_stream(stream)
        self.coordinate_channels = COORDINATE_CHANNELS.get(
            getattr(spec, "coords", "xyz"), spec.channels
        )
        parents = torch.as_tensor(layout_parents(spec.layout), dtype=torch.int64)
        # from the layout, not saved (a joint run's state dict and this one's match)
        self.register_buffer("stream_parents", parents, persistent=False)

    def forward(self, x: Tensor, lengths: Tensor | None = None, return_sequence: bool = False):
        converted = stream_of(
            x, lengths, self.stream_parents, self.stream, self.coordinate_channels
        )
        if return_sequence:
            return self.encoder(converted, lengths, return_sequence=True)
        return self.encoder(converted, lengths)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)  # parameters, buffers, submodules
        except AttributeError:
            inner = self.__dict__.get("_modules", {}).get("encoder")
            if inner is None:  # half-built (copying, unpickling): nothing to read through
                raise
            return getattr(inner, name)  # out_dim, seq_dim, bodies, ...

    def extra_repr(self) -> str:
        return f"stream={self.stream}"
