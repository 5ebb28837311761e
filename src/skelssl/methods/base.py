"""What every training method is: the hooks the run and the trainer call, with no-op defaults.

A method is built as ``cls(params, encoder_config, spec)`` by
:func:`skelssl.methods.build_method` and then driven in this order:

1. :meth:`Method.prepare` once, on the training split, before training (not on a resume);
2. :meth:`Method.train_dataset` once, to get the dataset the trainer's loader reads;
3. per step: :meth:`Method.loss` on a batch, the optimiser step (its parameter groups come
   from :meth:`Method.param_groups`), then :meth:`Method.after_step`.

Evaluation reads ``method.encoder`` only (MS²L's strategies also use its heads). Every
piece of state a method changes outside its optimiser (momentum encoders, queues, BN
statistics) must live in its ``state_dict`` to survive a resume.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn
from torch.utils.data import Dataset

from skelssl.data.sampling import TorchSkeletonDataset
from skelssl.data.types import SkeletonData


class Method(nn.Module):
    """Base class of the methods in :data:`skelssl.methods.METHODS`.

    Class attributes: ``Config`` (the dataclass of the paper's defaults; ``params`` is one)
    and ``default_encoder`` (a key of :data:`skelssl.models.ENCODER_PRESETS`, or None for
    ``EncoderConfig()``). Instance attribute: ``encoder``, an ``nn.Module`` mapping
    ``x (N, T, M, V, C), lengths (N,)`` to features ``(N, D)`` with ``out_dim = D``.
    """

    Config: ClassVar[type]
    default_encoder: ClassVar[str | None] = None
    # the trainer's collapse check (skelssl.diagnostics.CollapseMonitor) watches the
    # encoder's features; off for a method whose features may rightly span few
    # directions (a supervised classifier's features of K classes tend to K - 1)
    monitors_collapse: ClassVar[bool] = True
    encoder: nn.Module

    def loss(self, batch: dict) -> dict[str, Tensor]:
        """The training objective on one batch.

        ``batch``: ``joints (N, T, M, V, C)`` float32, ``lengths (N,)``, ``labels (N,)``,
        ``index (N,)`` (plus what :meth:`train_dataset` adds), ``generator`` (the trainer's
        ``torch.Generator`` for augmentations) and ``diagnostics`` (bool: this step is
        logged, so costlier diagnostics may be added). Returns scalars: ``"loss"`` is
        optimised, every other key is logged.
        """
        raise NotImplementedError(f"{type(self).__name__} must define loss(batch)")

    def prepare(self, data: SkeletonData) -> None:
        """Before the first step of a new run, with the training split (e.g. the random
        encoder's BatchNorm statistics). Default: nothing."""

    def train_dataset(self, data: SkeletonData, seed: int) -> Dataset:
        """The dataset the trainer samples batches from. Default: one item per sequence,
        ``{"joints": (T, M, V, C), "lengths", "labels", "index"}``."""
        return TorchSkeletonDataset(data)

    def param_groups(self) -> list[dict]:
        """Optimiser groups (see :mod:`skelssl.optim`: ``"params"``, optional ``"lr_scale"``,
        ``"lr"``, ``"weight_decay"``). Default: one group of every parameter."""
        return [{"params": list(self.parameters())}]

    def after_step(self, progress: float) -> None:
        """After every optimiser step; ``progress`` = steps done / planned steps, in
        [0, 1] (momentum schedules, queues). Default: nothing."""
