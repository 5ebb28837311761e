"""Skeleton BYOL: bootstrapped representations of skeleton sequences.

Moliner, Huang, Åström, "Bootstrapped Representation Learning for Skeleton-Based Action
Recognition", CVPR Workshops 2022 (arXiv 2202.02232), extending BYOL (Grill et al. 2020).

One training step, top to bottom:

1. Multi-viewpoint sampling (:class:`skelssl.data.sampling.MultiViewDataset`): an epoch iterates over
   *performances* (one take seen by several cameras); each item draws two camera views
   with replacement, ``s₁`` and ``s₂`` (the same view where only one exists).
2. Asymmetric augmentation: ``v₁ = t₁(s₁)`` with the aggressive pipeline T₁ (shear
   Eq. (5), left/right drop, resampling, Savitzky–Golay filter, cyclic shift) and
   ``v₂ = t₂(s₂)`` with the conservative pipeline T₂ (resampling only). Symmetric
   pipelines (T₁/T₁ or T₂/T₂) are options for the ablation.
3. Online network: encoder f_θ (ST-GCN, joints + bones), projector g_θ, predictor q_θ;
   target network: f_ξ, g_ξ (no predictor), no gradients.
4. Normalised L2 loss between q_θ(z_θ) of one view and z_ξ of the other (Eq. (1)),
   symmetrised over the two views (Eq. (2)).
5. After the optimiser step: ξ ← λξ + (1 − λ)θ (Eq. (3)), λ raised from λ₀ = 0.99 to 1 on
   a cosine schedule (BYOL Sec. 3.2).
6. The target's BatchNorm. Default ``bn_mode="plain"``: the target normalises with its
   *own* batch statistics, as the reference BYOL does (DeepMind's code, solo-learn).
   This differs from the paper, which uses momentum BN (Sec. 3.1, Eq. (4)): the target's
   BN mean / variance are an EMA (α) of "the current batch statistics of the online
   network", and the target normalises with them. Read literally (``"momentum-online"``)
   this collapses here: the target's weights are an average of past online weights, with
   a smaller norm, so its pre-BN activations have a smaller variance than the online
   network's; dividing by the online variance squashes every layer a bit more (measured
   real/used variance ≈ 0.002 at block 9), all targets point the same way (mean cosine
   between samples ≥ 0.99) and the loss cannot tell the true partner from a shuffled one
   (``benchmarks/results/nwucla_byol_validation.md``). ``"momentum"`` keeps Eq. (4) but
   computes μ_b, σ_b from the *target's own* activations of the step (Momentum² Teacher,
   Li et al. 2021, the paper's [28]); the statistics are averaged over ranks, so no SyncBN
   is needed. ``"sync"`` converts both networks to SyncBatchNorm (CUDA under DDP).
7. Collapse diagnostics on the steps the trainer logs (``batch["diagnostics"]``, every
   ``train.log_every`` steps, no host synchronisation on the others): effective rank of
   the online and the target encoder's features, mean cosine between different samples'
   targets, and the loss against shuffled partners (:mod:`skelssl.diagnostics`); a
   warning (once) when, past the first 10 % of training, the true-partner loss is not
   below the shuffled one or the targets' mean cosine stays above 0.9.

Paper numbers we use: λ₀ = 0.99, shear factors in [−1, 1], left/right drop p = 0.5,
resampling rate in [0.7, 1.3], SG order 2 / window 15 / p = 0.5, warmup 1e-6 → base lr over
10 epochs then cosine. Not the paper's optimiser (SGD momentum 0.9, weight decay 1e-4): on
NW-UCLA's validation split SGD barely moves a GRU encoder (lr 0.1) or diverges (lr 1.0),
LARS learns (configs/nwucla/byol.yaml, benchmarks/results/nwucla_byol_diagnosis.md).

Not found in what we could read, so our choices: projector / predictor sizes (BYOL's
4096 → 256), the momentum-BN α = 0.9, the order of the augmentations in T₁. The shear
of Eq. (5) is linear, so its factors in [−1, 1] mean the same at any coordinate scale
(NW-UCLA and NTU are both in metres); what the scale does not change is that factors
this large give nearly singular or reflecting matrices for some draws.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from skelssl import dist
from skelssl.augment import (
    CAMERA_VIEW_OPTIONS,
    camera_view,
    cyclic_shift,
    left_right_drop,
    resample,
    savgol_filter,
    shear,
)
from skelssl.data.sampling import MultiViewDataset, TorchSkeletonDataset
from skelssl.data.types import DataSpec, SkeletonData
from skelssl.diagnostics import (
    COLLAPSE_CHECKS,
    COLLAPSE_GRACE,
    effective_rank,
    mean_pairwise_cosine,
    shuffled_partner_loss,
)
from skelssl.errors import SkelsslError
from skelssl.losses import byol_loss
from skelssl.methods.base import Method
from skelssl.models import EncoderConfig, build_encoder
from skelssl.models.batchnorm import batch_norms
from skelssl.models.heads import mlp
from skelssl.skeleton import Layout, get_layout

AUGMENTATIONS = ("shear", "left_right_drop", "resample", "savgol", "cyclic_shift")
PIPELINES = ("asymmetric", "aggressive", "conservative")
VIEWS = ("skeleton-byol", "virtual-camera")
BN_MODES = ("plain", "momentum", "momentum-online", "sync")
COLLAPSE_COSINE = 0.9  # targets' mean cosine above this = pointing the same way
# COLLAPSE_GRACE, COLLAPSE_CHECKS: the same as the trainer's monitor (skelssl.diagnostics)


@dataclass
class BYOLConfig:
    """Hyper-parameters of Skeleton BYOL (see the module docstring)."""

    projection_dim: int = 256  # z (BYOL Sec. 3.3)
    hidden_dim: int = 4096  # hidden width of g and q (BYOL Sec. 3.3)
    base_target_momentum: float = 0.99  # λ₀, Eq. (3)
    bn_mode: str = "plain"  # "plain" | "momentum" (Eq. (4), own stats) | "momentum-online" | "sync"
    bn_momentum: float = 0.9  # α of Eq. (4) — our choice
    predictor_lr_scale: float = 1.0  # q_θ's lr / base lr (BYOL: 1; DirectPred/SimSiam: 10)
    multi_view: bool = True  # multi-viewpoint sampling
    pipelines: str = "asymmetric"  # "asymmetric" (T₁, T₂) | "aggressive" (T₁, T₁) | "conservative"
    aggressive: list[str] = field(default_factory=lambda: list(AUGMENTATIONS))  # T₁
    conservative: list[str] = field(default_factory=lambda: ["resample"])  # T₂
    shear_magnitude: float = 1.0  # factors in [−1, 1], Eq. (5)
    drop_p: float = 0.5  # left/right drop
    min_rate: float = 0.7  # resampling rate range
    max_rate: float = 1.3
    savgol_window: int = 15
    savgol_order: int = 2
    savgol_p: float = 0.5
    # "skeleton-byol" (T₁/T₂ above, the paper) | "virtual-camera": both views from the
    # view/distance SimCLR's camera (skelssl.augment.camera_view), ``camera`` = its keyword
    # arguments (e.g. {vary: [beta], shear_magnitude: 0.5}); not the paper
    views: str = "skeleton-byol"
    camera: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first bad field."""
        if self.views not in VIEWS:
            raise SkelsslError(
                f"params.views must be one of {', '.join(VIEWS)}, got {self.views!r}"
            )
        if not isinstance(self.camera, dict):
            raise SkelsslError(f"params.camera must be a mapping, got {self.camera!r}")
        unknown = sorted(set(self.camera) - set(CAMERA_VIEW_OPTIONS))
        if unknown:
            raise SkelsslError(
                f"unknown key params.camera.{unknown[0]} (known: {', '.join(CAMERA_VIEW_OPTIONS)})"
            )
        if self.projection_dim < 1 or self.hidden_dim < 1:
            raise SkelsslError("params.projection_dim and params.hidden_dim must be >= 1")
        for name in ("base_target_momentum", "bn_momentum", "drop_p", "savgol_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SkelsslError(f"params.{name} must be in [0, 1], got {value}")
        choices = {"bn_mode": BN_MODES, "pipelines": PIPELINES}
        for name, known in choices.items():
            if getattr(self, name) not in known:
                raise SkelsslError(
                    f"params.{name} must be one of {', '.join(known)}, got {getattr(self, name)!r}"
                )
        for name in ("aggressive", "conservative"):
            unknown = sorted(set(getattr(self, name)) - set(AUGMENTATIONS))
            if unknown:
                raise SkelsslError(
                    f"params.{name} has unknown augmentations {unknown} "
                    f"(known: {', '.join(AUGMENTATIONS)})"
                )
        if not 0 < self.min_rate <= self.max_rate:
            raise SkelsslError(f"need 0 < params.min_rate <= params.max_rate, got {self.min_rate}, {self.max_rate}")  # fmt: skip
        if self.predictor_lr_scale <= 0:
            raise SkelsslError(f"params.predictor_lr_scale must be > 0, got {self.predictor_lr_scale}")  # fmt: skip
        if self.shear_magnitude < 0:
            raise SkelsslError(f"params.shear_magnitude must be >= 0, got {self.shear_magnitude}")
        if self.savgol_window % 2 == 0 or not 0 <= self.savgol_order < self.savgol_window:
            raise SkelsslError("params.savgol_window must be odd and > params.savgol_order >= 0")


# ---------------------------------------------------------------------------- schedule and EMA


def target_momentum(progress: float, base: float = 0.99) -> float:
    """λ at training progress k/K ∈ [0, 1]: ``1 − (1 − λ₀)(cos(π k/K) + 1)/2`` (BYOL Sec. 3.2)."""
    progress = min(max(progress, 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


def _record_batch_statistics(module: nn.Module, inputs: tuple, output: Tensor) -> None:
    """Forward hook: keep a BN layer's batch mean and unbiased variance while recording."""
    if not (module.training and getattr(module, "record_batch_statistics", False)):
        return
    x = inputs[0].detach().float()
    dims = [d for d in range(x.ndim) if d != 1]
    variance, mean = torch.var_mean(x, dim=dims, correction=1)
    module.batch_statistics = (mean, variance)


@torch.no_grad()
def momentum_batch_norm_update(
    target_norms: list[nn.Module], online_norms: list[nn.Module], alpha: float
) -> None:
    """Skeleton BYOL Eq. (4) as the paper words it (``bn_mode="momentum-online"``): target
    running stats ← α·running + (1 − α)·the *online* layers' batch stats of this step.

    Uses the statistics recorded in the online layers' last forward (averaged over ranks).
    Collapses on NW-UCLA (module docstring, point 6); kept to show it.
    """
    for target_norm, online_norm in zip(target_norms, online_norms):
        statistics = getattr(online_norm, "batch_statistics", None)
        if statistics is None:
            continue
        mean, variance = (dist.all_reduce_mean(s) for s in statistics)
        target_norm.running_mean.mul_(alpha).add_(
            mean.to(target_norm.running_mean), alpha=1 - alpha
        )
        target_norm.running_var.mul_(alpha).add_(
            variance.to(target_norm.running_var), alpha=1 - alpha
        )
        online_norm.batch_statistics = None


@torch.no_grad()
def _momentum_own_statistics(module: nn.Module, inputs: tuple) -> None:
    """Forward pre-hook of a target BN layer (``bn_mode="momentum"``), Eq. (4) with the
    layer's *own* batch statistics (Momentum² Teacher): running ← α·running + (1 − α)·batch
    (the first batch initialises them), then the layer — in eval mode — normalises with the
    updated running statistics. Active only while ``module.momentum_own_statistics``."""
    if not getattr(module, "momentum_own_statistics", False):
        return
    x = inputs[0].detach().float()
    dims = [d for d in range(x.ndim) if d != 1]
    variance, mean = torch.var_mean(x, dim=dims, correction=1)
    mean, variance = dist.all_reduce_mean(mean), dist.all_reduce_mean(variance)
    alpha = module.momentum_alpha
    first = module.num_batches_tracked == 0  # a tensor: no host synchronisation
    for running, batch in ((module.running_mean, mean), (module.running_var, variance)):
        updated = torch.where(first, batch.to(running), alpha * running + (1 - alpha) * batch)
        running.copy_(updated)
    module.num_batches_tracked.add_(1)


def _forget_next_momentum(module: nn.Module, incompatible_keys) -> None:
    """After ``load_state_dict``: λ comes from the loaded buffer again."""
    module.next_momentum = None


# ---------------------------------------------------------------------------- augmentation


def augment(
    x: Tensor,
    lengths: Tensor,
    names: list[str],
    layout: Layout,
    params: BYOLConfig,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor]:
    """One pipeline of Skeleton BYOL's augmentations, in :data:`AUGMENTATIONS` order.

    Shapes: x (N, T, M, V, 3), lengths (N,) -> same, new lengths.
    """
    if "shear" in names:  # Eq. (5)
        x = shear(x, params.shear_magnitude, lengths=lengths, generator=generator)
    if "left_right_drop" in names:
        x = left_right_drop(x, layout, p=params.drop_p, generator=generator)
    if "resample" in names:
        x, lengths = resample(
            x, lengths, min_rate=params.min_rate, max_rate=params.max_rate, generator=generator
        )
    if "savgol" in names:
        x = savgol_filter(
            x, lengths, window=params.savgol_window, order=params.savgol_order,
            p=params.savgol_p, generator=generator,
        )  # fmt: skip
    if "cyclic_shift" in names:
        x = cyclic_shift(x, lengths, generator=generator)
    return x, lengths


def pipelines(params: BYOLConfig) -> tuple[list[str], list[str]]:
    """Augmentations of the first and second view: (T₁, T₂), (T₁, T₁) or (T₂, T₂)."""
    return {
        "asymmetric": (params.aggressive, params.conservative),
        "aggressive": (params.aggressive, params.aggressive),
        "conservative": (params.conservative, params.conservative),
    }[params.pipelines]


def two_views(
    batch: dict, layout: Layout, params: BYOLConfig
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """v₁ = t₁(s₁), v₂ = t₂(s₂) and their lengths; s₂ = s₁ without a second camera view
    (``batch["joints_other_view"]``), lengths = all frames when the batch has none.

    ``params.views="virtual-camera"``: t₁, t₂ are two draws of SimCLR's virtual camera.
    Shapes: joints (N, T, M, V, 3) -> two (N, T, M, V, 3) views, each with lengths (N,).
    """
    x1 = batch["joints"]
    lengths1 = batch.get("lengths")
    if lengths1 is None:
        lengths1 = torch.full((x1.shape[0],), x1.shape[1], dtype=torch.long, device=x1.device)
    x2 = batch.get("joints_other_view", x1)
    lengths2 = batch.get("lengths_other_view", lengths1)
    generator = batch.get("generator")
    if params.views == "virtual-camera":
        camera = {**params.camera, "generator": generator}
        v1, lengths1 = camera_view(x1, layout, lengths=lengths1, **camera)
        v2, lengths2 = camera_view(x2, layout, lengths=lengths2, **camera)
        return v1, lengths1, v2, lengths2
    first, second = pipelines(params)
    v1, lengths1 = augment(x1, lengths1, first, layout, params, generator)
    v2, lengths2 = augment(x2, lengths2, second, layout, params, generator)
    return v1, lengths1, v2, lengths2


# ---------------------------------------------------------------------------- the method


class BYOL(Method):
    """Online (f_θ, g_θ, q_θ) and target (f_ξ, g_ξ) networks of Skeleton BYOL."""

    Config = BYOLConfig
    default_encoder = "stgcn-byol-0.25"

    def __init__(self, params: BYOLConfig, encoder_config: EncoderConfig, spec: DataSpec):
        super().__init__()
        params.validate()
        if spec.channels != 3 or spec.coords != "xyz":
            raise SkelsslError(
                f"Skeleton BYOL's augmentations need xyz (C=3), got {spec.coords} "
                f"(C={spec.channels}); use simclr, crrl, ms2l or supervised on 2D input"
            )
        self.params = params
        self.layout = get_layout(spec.layout)
        self.encoder = build_encoder(encoder_config, spec)  # f_θ
        width, hidden, out = self.encoder.out_dim, params.hidden_dim, params.projection_dim
        self.projector = mlp([width, hidden, out])  # g_θ: Linear-BN-ReLU-Linear (BYOL Sec. 3.3)
        self.predictor = mlp([out, hidden, out])  # q_θ
        self.target_encoder = build_encoder(encoder_config, spec)  # f_ξ
        self.target_projector = mlp([width, hidden, out])  # g_ξ
        if params.bn_mode == "sync":
            for name in ("encoder", "projector", "predictor", "target_encoder", "target_projector"):
                setattr(self, name, nn.SyncBatchNorm.convert_sync_batchnorm(getattr(self, name)))
        self.momentum_pairs = [
            (self.encoder, self.target_encoder),
            (self.projector, self.target_projector),
        ]
        for online, target in self.momentum_pairs:
            target.load_state_dict(online.state_dict())  # ξ ← θ at the start
            target.requires_grad_(False)
        self.register_buffer("target_momentum", torch.tensor(params.base_target_momentum))
        for norm in self._online_norms():
            norm.register_forward_hook(_record_batch_statistics)
        for norm in self._target_norms():
            norm.momentum_alpha = params.bn_momentum
            norm.register_forward_pre_hook(_momentum_own_statistics)
        self.progress = 0.0  # of training, from after_step (for the collapse warning)
        # λ of the next step as a Python float, so after_step reads no tensor (no host
        # synchronisation per step on GPU); None = read the buffer once (start, after a load)
        self.next_momentum: float | None = None
        self.register_load_state_dict_post_hook(_forget_next_momentum)
        self.bad_diagnostics = 0  # consecutive diagnostic steps that looked collapsed
        self.warned_collapse = False

    def _online_norms(self) -> list[nn.Module]:
        return [n for online, _ in self.momentum_pairs for n in batch_norms(online)]

    def _target_norms(self) -> list[nn.Module]:
        return [n for _, target in self.momentum_pairs for n in batch_norms(target)]

    def param_groups(self) -> list[dict]:
        """The predictor at ``predictor_lr_scale`` × the base lr, everything else at ×1."""
        predictor = list(self.predictor.parameters())
        ids = {id(p) for p in predictor}
        others = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        return [
            {"params": others},
            {"params": predictor, "lr_scale": self.params.predictor_lr_scale},
        ]

    def train_dataset(self, data: SkeletonData, seed: int) -> Dataset:
        """Multi-viewpoint sampling over performances, or one view per sample when off."""
        return (
            MultiViewDataset(data, seed) if self.params.multi_view else TorchSkeletonDataset(data)
        )

    def views(self, batch: dict) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """v₁, v₂ and their lengths: :func:`two_views` with this method's params."""
        return two_views(batch, self.layout, self.params)

    def online(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """f_θ(x) and q_θ(g_θ(f_θ(x))). Shape: (N, T, M, V, C) -> (N, D), (N, projection_dim)."""
        norms = self._online_norms()
        record = self.params.bn_mode == "momentum-online"
        for norm in norms:
            norm.record_batch_statistics = record
        try:
            features = self.encoder(x, lengths)
            return features, self.predictor(self.projector(features))
        finally:
            for norm in norms:
                norm.record_batch_statistics = False

    @torch.no_grad()
    def target(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """f_ξ(x) and z' = g_ξ(f_ξ(x)). Shape: (N, T, M, V, C) -> (N, D), (N, projection_dim).

        ``plain``/``sync``: BN with the target's own batch statistics. ``momentum``: Eq. (4)
        with the target's own batch statistics, normalising with the EMA. ``momentum-online``:
        Eq. (4) with the online network's statistics (the paper's wording; collapses).
        """
        mode = self.params.bn_mode
        momentum = mode in ("momentum", "momentum-online")
        if mode == "momentum-online" and self.training:
            momentum_batch_norm_update(
                self._target_norms(), self._online_norms(), self.params.bn_momentum
            )
        norms = self._target_norms()
        for norm in norms:
            norm.momentum_own_statistics = mode == "momentum" and self.training
        for module in (self.target_encoder, self.target_projector):
            module.train(self.training and not momentum)
        try:
            features = self.target_encoder(x, lengths)
            return features, self.target_projector(features)
        finally:
            for norm in norms:
                norm.momentum_own_statistics = False

    def loss(self, batch: dict) -> dict[str, Tensor]:
        """Symmetrised normalised L2 loss (Eqs. (1)-(2)) of one batch.

        ``batch["joints"]`` (N, T, M, V, 3) is the first view's source; with multi-view
        sampling ``batch["joints_other_view"]`` is the second's. With
        ``batch["diagnostics"]`` true the collapse diagnostics are added to the result.
        """
        if (
            self.params.bn_mode == "sync"
            and dist.is_distributed()
            and batch["joints"].device.type == "cpu"
        ):
            raise SkelsslError("params.bn_mode=sync needs CUDA under DDP; use momentum or plain")
        v1, lengths1, v2, lengths2 = self.views(batch)
        n = v1.shape[0]
        both, both_lengths = torch.cat([v1, v2]), torch.cat([lengths1, lengths2])
        features, prediction = self.online(both, both_lengths)  # q_θ(z_θ) of v₁ then v₂
        target_features, target = self.target(both, both_lengths)  # z'_ξ of v₁ then v₂
        # Eq. (1) L(v₁→v₂) and its symmetric term L(v₂→v₁); Eq. (2) sums them
        loss = byol_loss(prediction[:n], target[n:]) + byol_loss(prediction[n:], target[:n])
        losses = {"loss": loss, "target_momentum": self.target_momentum.detach().clone()}
        if batch.get("diagnostics"):
            partners = torch.cat([target[n:], target[:n]])  # each prediction's true partner
            losses.update(self.diagnostics(features, target_features, prediction, partners))
            losses["loss_true_partner"] = loss.detach() / 2  # per term, as the shuffled one
            self.check_collapse(losses)
        return losses

    @torch.no_grad()
    def diagnostics(
        self, features: Tensor, target_features: Tensor, prediction: Tensor, partners: Tensor
    ) -> dict[str, Tensor]:
        """Collapse diagnostics of one step (:mod:`skelssl.diagnostics`).

        Shapes: features, target_features (2N, D) encoder outputs of both views;
        prediction, partners (2N, projection_dim) q_θ and each one's true target.
        """
        # each view's prediction against another sample's target of the other view
        shuffled = shuffled_partner_loss(byol_loss, prediction, partners)
        return {
            "effective_rank": features.new_tensor(effective_rank(features)),
            "effective_rank_target": features.new_tensor(effective_rank(target_features)),
            "target_cosine": mean_pairwise_cosine(partners),
            "loss_shuffled_partner": shuffled,
        }

    def check_collapse(self, losses: dict[str, Tensor]) -> None:
        """Warn once when, past :data:`COLLAPSE_GRACE` of training, :data:`COLLAPSE_CHECKS`
        diagnostic steps in a row show a collapse: the true-partner loss not below the
        shuffled one, or the targets' mean cosine above :data:`COLLAPSE_COSINE`."""
        true, shuffled = float(losses["loss_true_partner"]), float(losses["loss_shuffled_partner"])
        cosine = float(losses["target_cosine"])
        bad = true >= shuffled or cosine > COLLAPSE_COSINE
        self.bad_diagnostics = self.bad_diagnostics + 1 if bad else 0
        if (
            self.bad_diagnostics >= COLLAPSE_CHECKS
            and self.progress >= COLLAPSE_GRACE
            and not self.warned_collapse
        ):
            self.warned_collapse = True
            if dist.is_main():
                warnings.warn(
                    f"BYOL looks collapsed at {self.progress:.0%} of training: loss with the "
                    f"true partner {true:.3f} vs a shuffled one {shuffled:.3f}, targets' mean "
                    f"cosine {cosine:.2f} (metrics.jsonl has the history)",
                    RuntimeWarning,
                    stacklevel=2,
                )

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        """Eq. (3): ξ ← λξ + (1 − λ)θ, then λ for the next step (cosine from λ₀ to 1)."""
        momentum = self.next_momentum
        if momentum is None:
            momentum = float(self.target_momentum)
        for online, target in self.momentum_pairs:
            dist.ema_update(target, online, momentum)
        self.progress = progress
        # rounded as the float32 buffer holds it, so a resumed run steps exactly alike
        self.next_momentum = float(
            np.float32(target_momentum(progress, self.params.base_target_momentum))
        )
        self.target_momentum.fill_(self.next_momentum)
