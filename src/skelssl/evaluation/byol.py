"""Evaluation protocols of Skeleton BYOL (Moliner, Huang, Åström, CVPR-W 2022).

:func:`linear_evaluation`
    Frozen encoder, linear classifier; SGD momentum 0.9, no weight decay, base lr 30,
    ×0.1 at 60 % and 80 % of the epochs; conservative augmentation (resampling) only
    (``augment=False``: frozen features computed once, a cheaper variant).
:func:`semi_supervised`
    Class-balanced 1 / 5 / 10 % label fractions, several label samplings (mean ± std);
    encoder frozen for the first third of the iterations, then its lr = the head's × 1e-3,
    cosine to 0.
:func:`distill`
    Knowledge distillation (Eq. (6)): a finetuned teacher trains a randomly initialised
    student on the whole training set without labels, cross-entropy between
    temperature-softened outputs (τ = 1). :func:`train_from_scratch` is the "without KD"
    row: the same student trained on the labelled fraction only.
Transfer (an encoder pre-trained on one dataset finetuned with all labels on another) is
``skelssl evaluate RUN --data OTHER --protocol byol-semi --label-fraction 1 --seeds 1``:
the semi-supervised schedule at fraction 1 on the other dataset, its joints mapped by
:func:`skelssl.evaluation.run.evaluate_run`.

Every function draws its randomness from ``seed`` and never selects anything on the test
split (final-epoch numbers). Batches are read from the (memory-mapped) arrays.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelssl.augment import resample
from skelssl.data.sampling import check_label_fraction, label_fraction_indices
from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluation.features import (
    Classifier,
    accuracy_on,
    check_pair,
    extract_features,
    read_batch,
    resolve_device,
    seeded,
)
from skelssl.losses import soft_target_distillation


@dataclass
class ProtocolConfig:
    """Settings of the Skeleton BYOL protocols (paper values where given, else ours)."""

    batch_size: int = 64
    augment: bool = True  # conservative augmentation: resampling, rate in [min_rate, max_rate]
    min_rate: float = 0.7
    max_rate: float = 1.3
    linear_epochs: int = 100
    linear_lr: float = 30.0  # paper
    linear_milestones: list[float] = field(default_factory=lambda: [0.6, 0.8])  # paper, × 0.1
    # ours: BatchNorm1d(affine=False) before every linear head (linear, semi-supervised,
    # distillation), so the paper's lr 30 is stable on unnormalised features
    feature_norm: bool = True
    semi_epochs: int = 100
    # head lr (ours; the issue gives none): at 30 the head's weights grow so large that the
    # encoder, once unfrozen at 30 × 1e-3, diverges (NW-UCLA semi-supervised fell to chance)
    semi_lr: float = 0.1
    encoder_lr_ratio: float = 1e-3  # paper
    frozen_fraction: float = 1 / 3  # paper: encoder frozen for the first third
    fractions: list[float] = field(default_factory=lambda: [0.01, 0.05, 0.1])  # paper
    samplings: int = 5  # paper: five label samplings
    distill_epochs: int = 100
    distill_lr: float = 0.1  # our choice (student from scratch, SGD, cosine)
    temperature: float = 1.0  # τ of Eq. (6), paper default
    weight_decay: float = 0.0

    def validate(self) -> None:
        if self.batch_size < 2:
            raise SkelsslError(f"batch_size must be >= 2, got {self.batch_size}")
        if self.temperature <= 0:
            raise SkelsslError(f"temperature must be > 0, got {self.temperature}")
        if not 0 <= self.frozen_fraction < 1:
            raise SkelsslError(f"frozen_fraction must be in [0, 1), got {self.frozen_fraction}")
        for fraction in self.fractions:
            check_label_fraction(fraction)
        if self.samplings < 1:
            raise SkelsslError(f"samplings must be >= 1, got {self.samplings}")


# ---------------------------------------------------------------------------- helpers


def _checked(
    config: ProtocolConfig | None, train: SkeletonData, test: SkeletonData, encoder, device
) -> tuple[ProtocolConfig, torch.device]:
    """The validated config (default if None) and device, after checking the data pair."""
    config = config or ProtocolConfig()
    config.validate()
    check_pair(train, test, encoder)
    return config, resolve_device(device)


def _generators(seed: int, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """Seeded generators: batch order (CPU), augmentation (on ``device``)."""
    return torch.Generator().manual_seed(seed), torch.Generator(device=device).manual_seed(seed)


def _conservative(
    joints: Tensor, lengths: Tensor, config: ProtocolConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """T₂: resampling only (when ``config.augment``)."""
    if not config.augment:
        return joints, lengths
    return resample(
        joints, lengths, min_rate=config.min_rate, max_rate=config.max_rate, generator=generator
    )


def _batches(rows: np.ndarray, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """A shuffled epoch of sorted row batches; a trailing batch of one is dropped (BN)."""
    order = torch.randperm(rows.size, generator=generator).numpy()
    batches = [np.sort(rows[order[i : i + batch_size]]) for i in range(0, rows.size, batch_size)]
    if len(batches) > 1 and batches[-1].size == 1:
        batches.pop()
    return batches


def cosine(step: int, total: int) -> float:
    """Cosine factor from 1 at ``step = 0`` to 0 at ``step = total`` (SGDR Eq. (5))."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step / max(total, 1), 1.0)))


# ---------------------------------------------------------------------------- linear


def linear_evaluation(
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: ProtocolConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict:
    """Skeleton BYOL linear evaluation: frozen encoder (eval mode) + ``nn.Linear``.

    SGD momentum 0.9, no weight decay, lr ``linear_lr`` (30) × 0.1 at 60 % and 80 % of
    ``linear_epochs``; every batch is freshly resampled (conservative augmentation), so
    features are computed per batch. Returns ``{"top1", "top5", "epochs", "lr", "loss_curve"}``.
    """
    config, device = _checked(config, train, test, encoder, device)
    encoder = copy.deepcopy(encoder).to(device).eval().requires_grad_(False)
    generator, augment_generator = _generators(seed, device)
    with seeded(seed, device):
        model = Classifier(encoder, train.num_classes, config.feature_norm).to(device)
    head = model.head
    optimizer = torch.optim.SGD(
        head.parameters(), lr=config.linear_lr, momentum=0.9, weight_decay=0.0
    )
    milestones = [round(m * config.linear_epochs) for m in config.linear_milestones]
    fixed = None  # without augmentation the frozen features are computed once
    if not config.augment:
        fixed = torch.from_numpy(
            extract_features(encoder, train, batch_size=config.batch_size, device=device)
        )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    rows, curve = np.arange(len(train)), []
    for _ in range(config.linear_epochs):
        total = 0.0
        head.train()
        for batch in _batches(rows, config.batch_size, generator):
            labels = torch.from_numpy(train.labels[batch].astype(np.int64)).to(device)
            if fixed is not None:
                features = fixed[batch].to(device)
            else:
                joints, lengths = _conservative(
                    *read_batch(train, batch, device), config, augment_generator
                )
                with torch.no_grad():
                    features = encoder(joints, lengths)
            loss = F.cross_entropy(head(features), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.size
        scheduler.step()
        curve.append(total / len(train))
    result = accuracy_on(model.eval(), test, batch_size=config.batch_size, device=device)
    return {**result, "epochs": config.linear_epochs, "lr": config.linear_lr, "loss_curve": curve}


# ---------------------------------------------------------------------------- semi-supervised


def finetune_classifier(
    encoder: nn.Module,
    train: SkeletonData,
    rows: np.ndarray,
    config: ProtocolConfig,
    *,
    seed: int,
    device: torch.device,
    frozen_fraction: float | None = None,
    encoder_lr_ratio: float | None = None,
    lr: float | None = None,
    epochs: int | None = None,
) -> Classifier:
    """Train a copy of ``encoder`` + a linear head on the labelled ``rows`` of ``train``.

    Head lr ``lr`` (default ``semi_lr``) × cosine over all iterations. The encoder is
    frozen (eval mode, no gradients) for the first ``frozen_fraction`` of the iterations,
    then trains with lr = head lr × ``encoder_lr_ratio`` decayed on a cosine to 0 over the
    remaining iterations. SGD momentum 0.9. Returns the trained :class:`Classifier`.
    """
    frozen_fraction = config.frozen_fraction if frozen_fraction is None else frozen_fraction
    ratio = config.encoder_lr_ratio if encoder_lr_ratio is None else encoder_lr_ratio
    lr = config.semi_lr if lr is None else lr
    epochs = config.semi_epochs if epochs is None else epochs
    generator, augment_generator = _generators(seed, device)
    with seeded(seed, device):
        model = Classifier(copy.deepcopy(encoder), train.num_classes, config.feature_norm)
        model = model.to(device)
    optimizer = torch.optim.SGD(
        [{"params": model.head.parameters()}, {"params": model.encoder.parameters()}],
        lr=lr, momentum=0.9, weight_decay=config.weight_decay,
    )  # fmt: skip
    steps_per_epoch = len(_batches(rows, config.batch_size, torch.Generator().manual_seed(0)))
    total_steps = epochs * steps_per_epoch
    frozen_steps = round(frozen_fraction * total_steps)
    step = 0
    for _ in range(epochs):
        for batch in _batches(rows, config.batch_size, generator):
            frozen = step < frozen_steps
            head_group, encoder_group = optimizer.param_groups
            head_group["lr"] = lr * cosine(step, total_steps)
            encoder_group["lr"] = (
                0.0
                if frozen
                else lr * ratio * cosine(step - frozen_steps, total_steps - frozen_steps)
            )
            model.encoder.train(not frozen)
            joints, lengths = _conservative(
                *read_batch(train, batch, device), config, augment_generator
            )
            labels = torch.from_numpy(train.labels[batch].astype(np.int64)).to(device)
            with torch.set_grad_enabled(not frozen):
                features = model.encoder(joints, lengths)
            loss = F.cross_entropy(model.head(features), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return model.eval()


def semi_supervised(
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: ProtocolConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict:
    """Finetune on each label fraction for ``samplings`` class-balanced label samplings.

    Returns ``{fraction: {"top1", "top1_std", "runs": [top-1 per sampling], "n_labelled"}}``
    (sample std over samplings; sampling i uses seed ``seed + i``).
    """
    config, device = _checked(config, train, test, encoder, device)
    results = {}
    for fraction in config.fractions:
        runs, labelled = [], 0
        for sampling in range(config.samplings):
            rows = label_fraction_indices(train.labels, fraction, seed + sampling)
            model = finetune_classifier(
                encoder, train, rows, config, seed=seed + sampling, device=device
            )
            runs.append(
                accuracy_on(model, test, batch_size=config.batch_size, device=device)["top1"]
            )
            labelled = int(rows.size)
        values = np.array(runs)
        results[fraction] = {
            "top1": float(values.mean()),
            "top1_std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "runs": runs,
            "n_labelled": labelled,
        }
    return results


# ---------------------------------------------------------------------------- distillation


def distill(
    teacher: nn.Module,
    student_encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: ProtocolConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict:
    """Skeleton BYOL Eq. (6): train ``Classifier(student_encoder)`` to match the teacher's
    temperature-softened outputs on every training sample (labels unused).

    ``teacher``: ``forward(joints, lengths) -> logits (N, K)`` (e.g. a finetuned
    :class:`Classifier`), kept frozen in eval mode. Teacher and student see the same
    resampled batch. SGD momentum 0.9, lr ``distill_lr`` cosine to 0 over
    ``distill_epochs``. Returns ``{"top1", "top5", "model"}`` (the student on ``test``).
    """
    config, device = _checked(config, train, test, student_encoder, device)
    teacher = teacher.to(device).eval().requires_grad_(False)
    generator, augment_generator = _generators(seed, device)
    with seeded(seed, device):
        student = Classifier(copy.deepcopy(student_encoder), train.num_classes, config.feature_norm)
        student = student.to(device)
    optimizer = torch.optim.SGD(
        student.parameters(), lr=config.distill_lr, momentum=0.9, weight_decay=config.weight_decay
    )
    rows = np.arange(len(train))
    total_steps = config.distill_epochs * len(_batches(rows, config.batch_size, torch.Generator()))
    step = 0
    for _ in range(config.distill_epochs):
        for batch in _batches(rows, config.batch_size, generator):
            for group in optimizer.param_groups:
                group["lr"] = config.distill_lr * cosine(step, total_steps)
            joints, lengths = _conservative(
                *read_batch(train, batch, device), config, augment_generator
            )
            with torch.no_grad():
                teacher_logits = teacher(joints, lengths)
            student.train()
            loss = soft_target_distillation(
                student(joints, lengths), teacher_logits, config.temperature
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    student.eval()
    return {
        **accuracy_on(student, test, batch_size=config.batch_size, device=device),
        "model": student,
    }


def train_from_scratch(
    student_encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    rows: np.ndarray,
    config: ProtocolConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict:
    """The "without KD" student: trained with labels on ``rows`` only, encoder not frozen,
    lr ``distill_lr`` for encoder and head, cosine to 0 over ``distill_epochs``."""
    config, device = _checked(config, train, test, student_encoder, device)
    model = finetune_classifier(
        student_encoder, train, np.asarray(rows), config, seed=seed, device=device,
        frozen_fraction=0.0, encoder_lr_ratio=1.0, lr=config.distill_lr, epochs=config.distill_epochs,
    )  # fmt: skip
    return {**accuracy_on(model, test, batch_size=config.batch_size, device=device), "model": model}
