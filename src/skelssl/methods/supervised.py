"""The two baselines every self-supervised number is read against.

``supervised``
    The encoder trained from scratch with labels: encoder + linear classifier,
    cross-entropy, optional light augmentation (random rotation, then shear).
``random``
    The untrained encoder: its random weights are the "features". Nothing is optimised;
    the CLI pre-trains it with ``epochs=0`` so the initial weights are saved. Its
    BatchNorm statistics are estimated on the training split first (``bn_statistics:
    train``, the default; ``init`` keeps them as initialised), so that it is compared
    like for like with trained encoders, which all carry their data's statistics.

The supervised augmentation defaults are the ones :mod:`skelssl.evaluation` uses when it
finetunes a pre-trained encoder (rotation ±15° per axis — half the CrosSCLR/AimCLR
pre-training range of 30° — then shear in ±0.3, below SkeletonCLR's 0.5), so the
from-scratch baseline and the finetuned encoders see the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from skelssl.augment import LIGHT_ROTATION_DEGREES, LIGHT_SHEAR, rotate_then_shear
from skelssl.data.sampling import TorchSkeletonDataset
from skelssl.data.types import DataSpec, SkeletonData
from skelssl.errors import SkelsslError
from skelssl.methods.base import Method
from skelssl.models import EncoderConfig, build_encoder
from skelssl.models.batchnorm import estimate_batch_norm_statistics


@dataclass
class SupervisedConfig:
    """Light augmentation of the supervised baseline; 0 turns a part off."""

    rotation_degrees: float = LIGHT_ROTATION_DEGREES  # angles uniform in ±this, per axis
    shear_magnitude: float = LIGHT_SHEAR  # shear factors uniform in ±this
    label_smoothing: float = 0.0

    def validate(self) -> None:
        if self.rotation_degrees < 0 or self.shear_magnitude < 0:
            raise SkelsslError(
                f"params.rotation_degrees and shear_magnitude must be >= 0, "
                f"got {self.rotation_degrees}, {self.shear_magnitude}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise SkelsslError(
                f"params.label_smoothing must be in [0, 1), got {self.label_smoothing}"
            )


class Supervised(Method):
    """Encoder + linear classifier trained with cross-entropy on the labels."""

    Config = SupervisedConfig
    default_encoder = "gru-crrl"
    monitors_collapse = False  # labels, not a self-supervised objective

    def __init__(self, params: SupervisedConfig, encoder_config: EncoderConfig, spec: DataSpec):
        super().__init__()
        params.validate()
        self.params = params
        self.coords = spec.coords  # what the channels mean: the augmentations ask
        self.encoder = build_encoder(encoder_config, spec)
        self.classifier = nn.Linear(self.encoder.out_dim, spec.num_classes)

    def augment(self, x: Tensor, lengths: Tensor | None, generator) -> Tensor:
        """Random rotation then shear, each skipped when its magnitude is 0. (N,T,M,V,3) -> same."""
        p = self.params
        return rotate_then_shear(
            x, p.rotation_degrees, p.shear_magnitude, lengths=lengths, generator=generator,
            coords=self.coords,
        )  # fmt: skip

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Class logits. Shape: (N, T, M, V, C) -> (N, num_classes)."""
        return self.classifier(self.encoder(x, lengths))

    def loss(self, batch: dict) -> dict[str, Tensor]:
        """Cross-entropy on ``batch["labels"]``; also logs the (detached) batch accuracy."""
        x, lengths, labels = batch["joints"], batch.get("lengths"), batch["labels"]
        if self.training:
            x = self.augment(x, lengths, batch.get("generator"))
        logits = self(x, lengths)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.params.label_smoothing)
        accuracy = (logits.detach().argmax(dim=1) == labels).float().mean()
        return {"loss": loss, "accuracy": accuracy}


BN_STATISTICS = ("train", "init")


@dataclass
class RandomInitConfig:
    """What the untrained encoder's BatchNorm layers normalise with.

    ``train`` (default): statistics estimated on the training split (one pass, train
    mode, cumulative average, no gradient; :func:`skelssl.models.batchnorm.
    estimate_batch_norm_statistics`) — what every trained encoder has, so comparisons use
    this row. ``init``: the initial statistics (mean 0, variance 1: BN does nothing).
    """

    bn_statistics: str = "train"  # "train" | "init"
    bn_batch_size: int = 256  # batch of the estimation pass

    def validate(self) -> None:
        if self.bn_statistics not in BN_STATISTICS:
            raise SkelsslError(
                f"params.bn_statistics must be one of {', '.join(BN_STATISTICS)}, "
                f"got {self.bn_statistics!r}"
            )
        if self.bn_batch_size < 1:
            raise SkelsslError(f"params.bn_batch_size must be >= 1, got {self.bn_batch_size}")


class RandomInit(Method):
    """An encoder left at its random initialisation (the lower bound of every table)."""

    Config = RandomInitConfig
    default_encoder = "gru-crrl"

    def __init__(self, params: RandomInitConfig, encoder_config: EncoderConfig, spec: DataSpec):
        super().__init__()
        params.validate()
        self.params = params
        self.encoder = build_encoder(encoder_config, spec)

    def prepare(self, data: SkeletonData) -> None:
        """Before the (empty) training: estimate BN statistics on ``data`` (the training
        split) when ``bn_statistics="train"``; nothing for ``"init"`` or encoders without BN."""
        if self.params.bn_statistics != "train":
            return
        device = next(self.encoder.parameters()).device
        loader = DataLoader(TorchSkeletonDataset(data), batch_size=self.params.bn_batch_size)
        batches = ((b["joints"].to(device), b["lengths"].to(device)) for b in loader)
        estimate_batch_norm_statistics(self.encoder, batches)

    def loss(self, batch: dict) -> dict[str, Tensor]:
        raise SkelsslError(
            "method 'random' has nothing to optimise: it is trained with epochs=0 "
            "(`skelssl pretrain random` does this) so its initial weights are saved"
        )
