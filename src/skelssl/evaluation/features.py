"""The evaluation toolbox: read batches, run a frozen encoder or a classifier over a
dataset, and the encoder + linear head every protocol trains.

Batches are read in order from the (memory-mapped) arrays and ``lengths`` are passed, so
features do not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluation.metrics import classification_accuracy


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device``, or cuda when available, else cpu."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_pair(train: SkeletonData, test: SkeletonData, encoder: nn.Module | None = None) -> None:
    """Raise :class:`SkelsslError` when a split is empty, the splits differ in (M, V, C), or
    ``encoder`` (when given) has no ``out_dim``."""
    for role, data in (("training", train), ("test", test)):
        if len(data) == 0:
            raise SkelsslError(f"the {role} split is empty", data.source)
    if train.joints.shape[2:] != test.joints.shape[2:]:
        raise SkelsslError(
            "train and test differ in bodies, joints or channels (M, V, C): "
            f"{train.joints.shape[2:]} vs {test.joints.shape[2:]}"
        )
    if encoder is not None and not hasattr(encoder, "out_dim"):
        raise SkelsslError(f"encoder {type(encoder).__name__} has no out_dim attribute")


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators inside the block and restore them after it.

    Used for what only draws from the global generator (``nn.Linear`` init, dropout).
    """
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def read_batch(data: SkeletonData, index, device: torch.device) -> tuple[Tensor, Tensor]:
    """Rows ``index`` (slice or sorted ints) of a (memmap) dataset -> joints (B, T, M, V, C)
    float32 and lengths (B,) int64 on ``device``."""
    joints = torch.from_numpy(np.array(data.joints[index], dtype=np.float32))
    lengths = torch.from_numpy(np.array(data.lengths[index], dtype=np.int64))
    return joints.to(device, non_blocking=True), lengths.to(device)


@torch.no_grad()
def forward_batches(
    module: nn.Module,
    data: SkeletonData,
    *,
    batch_size: int,
    device: torch.device,
    quiet: bool,
    desc: str,
) -> np.ndarray:
    """``module(joints, lengths)`` over the whole dataset in eval mode -> (N, D) float32."""
    if batch_size < 1:
        raise SkelsslError(f"batch size must be >= 1, got {batch_size}")
    was_training = module.training
    module.eval().to(device)
    outputs = []
    try:
        starts = range(0, len(data), batch_size)
        for start in tqdm(starts, desc=desc, disable=quiet, leave=False):
            joints, lengths = read_batch(data, slice(start, start + batch_size), device)
            outputs.append(module(joints, lengths).float().cpu())
    finally:
        module.train(was_training)
    if not outputs:
        return np.zeros((0, getattr(module, "out_dim", 0)), dtype=np.float32)
    return torch.cat(outputs).numpy()


def epoch_batches(
    count: int, batch_size: int, generator: torch.Generator, *, drop_singleton: bool
) -> list[Tensor]:
    """A shuffled epoch of index batches into ``range(count)``.

    With ``drop_singleton`` a trailing batch of one sample is dropped (BatchNorm cannot
    train on it); reshuffling each epoch still visits every sample.
    """
    order = torch.randperm(count, generator=generator)
    batches = list(order.split(batch_size))
    if drop_singleton and len(batches) > 1 and batches[-1].numel() == 1:
        batches.pop()
    return batches


def extract_features(
    encoder: nn.Module,
    data: SkeletonData,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """Frozen features of every sample, shape (N, D) float32.

    The encoder runs in eval mode without gradients on ``device`` (it is moved there)
    and is put back in its previous train/eval mode; batches are read from the (memmap)
    arrays in order and ``lengths`` are passed, so the result does not depend on
    ``batch_size``.
    """
    return forward_batches(
        encoder,
        data,
        batch_size=batch_size,
        device=resolve_device(device),
        quiet=quiet,
        desc="features",
    )


def predict(
    classifier: nn.Module,
    data: SkeletonData,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """Logits (N, K) of a classifier ``forward(x, lengths) -> (N, K)`` (e.g. :class:`Classifier`)."""
    return forward_batches(
        classifier,
        data,
        batch_size=batch_size,
        device=resolve_device(device),
        quiet=quiet,
        desc="predict",
    )


def accuracy_on(
    classifier: nn.Module, test: SkeletonData, *, batch_size: int = 256, device=None
) -> dict[str, float]:
    """Top-1 / top-5 (percent) of a classifier ``forward(x, lengths) -> (N, K)`` on ``test``."""
    logits = predict(classifier, test, batch_size=batch_size, device=device)
    return classification_accuracy(logits, test.labels)


def reset_parameters(module: nn.Module) -> None:
    """Fresh initialisation of every submodule that knows how (global generator)."""
    for submodule in module.modules():
        if callable(getattr(submodule, "reset_parameters", None)):
            submodule.reset_parameters()


class Classifier(nn.Module):
    """An encoder with a linear head: ``(N,T,M,V,C), lengths (N,) -> logits (N, K)``.

    ``feature_norm`` puts a parameter-free BatchNorm1d before the linear layer, so the
    head sees standardised features and large learning rates (Skeleton BYOL's 30) stay
    stable whatever the encoder's feature scale. Its running statistics are a cumulative
    average (``momentum=None``): with few labelled batches an exponential average would
    still remember its initial variance of 1.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, feature_norm: bool = False):
        super().__init__()
        self.encoder = encoder
        linear = nn.Linear(encoder.out_dim, num_classes)
        norm = nn.BatchNorm1d(encoder.out_dim, affine=False, momentum=None)
        self.head = nn.Sequential(norm, linear) if feature_norm else linear

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.head(self.encoder(x, lengths))
