"""Optimisers and learning-rate schedules: SGD, Adam, LARS; cosine, step, constant.

:func:`build_optimizer` and :func:`build_scheduler` read the fields of
:class:`skelssl.train_config.TrainConfig` (``optimizer``, ``lr``, ``lr_scaling``, ``momentum``,
``weight_decay``, ``schedule``, ``warmup_epochs``, ``warmup_start_lr``, ``min_lr``,
``milestones``, ``gamma``, ``step_every``, ``epochs``, ``batch_size``).

A method may define ``param_groups() -> list[dict]``: each dict has ``"params"`` and
optionally ``"lr_scale"`` (multiplies the configured learning rate), ``"lr"`` (absolute,
wins over ``lr_scale``) and ``"weight_decay"``; any other key goes to the optimiser.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from skelssl.errors import SkelsslError

if TYPE_CHECKING:
    from skelssl.train_config import TrainConfig

OPTIMIZERS = ("sgd", "adam", "lars")
SCHEDULES = ("cosine", "step", "constant")
LR_SCALINGS = ("none", "linear")


class LARS(torch.optim.Optimizer):
    """Layer-wise Adaptive Rate Scaling (You, Gitman, Ginsburg 2017, "Large Batch
    Training of Convolutional Networks", Algorithm 1).

    For every parameter tensor ``w`` with gradient ``g`` (one "layer"), global learning
    rate γ, weight decay β, trust coefficient η and momentum m::

        λ = η · ‖w‖ / (‖g‖ + β · ‖w‖)          # local learning rate (trust ratio)
        v ← m · v + γ · λ · (g + β · w)          # momentum buffer, v₀ = 0
        w ← w − v

    λ is 1 when ‖w‖ = 0 or the denominator is 0. With ``exclude_bias_and_bn`` (default)
    parameters with ``ndim <= 1`` (biases, BatchNorm/LayerNorm scales and shifts) get
    λ = 1 and no weight decay, i.e. plain momentum SGD (SimCLR / BYOL practice).
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
        exclude_bias_and_bn: bool = True,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0 or eta <= 0:
            raise ValueError(
                f"LARS needs lr, momentum, weight_decay >= 0 and eta > 0, got "
                f"lr={lr}, momentum={momentum}, weight_decay={weight_decay}, eta={eta}"
            )
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            eta=eta,
            exclude_bias_and_bn=exclude_bias_and_bn,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: torch.Tensor, group: dict) -> None:
        grad = param.grad
        if group["exclude_bias_and_bn"] and param.ndim <= 1:
            direction = grad
        else:
            decay = group["weight_decay"]
            direction = grad.add(param, alpha=decay)
            direction = direction * trust_ratio(param, grad, decay, group["eta"])
        state = self.state[param]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(param)
        buffer = state["momentum_buffer"]
        buffer.mul_(group["momentum"]).add_(direction, alpha=group["lr"])
        param.sub_(buffer)


def trust_ratio(
    weight: torch.Tensor, grad: torch.Tensor, weight_decay: float, eta: float
) -> torch.Tensor:
    """LARS local learning rate λ = η‖w‖ / (‖g‖ + β‖w‖), 1 where undefined. Shape: ()."""
    weight_norm = torch.linalg.vector_norm(weight)
    denominator = torch.linalg.vector_norm(grad) + weight_decay * weight_norm
    ratio = eta * weight_norm / denominator
    defined = (weight_norm > 0) & (denominator > 0)
    return torch.where(defined, ratio, torch.ones_like(ratio))


def scaled_lr(config: TrainConfig) -> float:
    """The peak learning rate: ``lr``, or ``lr * batch_size / 256`` with linear scaling
    (Goyal et al. 2017; SimCLR Sec. B.1 uses LearningRate = 0.3 × BatchSize/256)."""
    if config.lr_scaling not in LR_SCALINGS:
        raise SkelsslError(
            f"unknown lr_scaling {config.lr_scaling!r} (known: {', '.join(LR_SCALINGS)})",
            "train.lr_scaling",
        )
    if config.lr_scaling == "linear":
        return config.lr * config.batch_size / 256
    return config.lr


def _raw_groups(model_or_params: nn.Module | Iterable) -> list[dict]:
    if isinstance(model_or_params, nn.Module):
        if callable(getattr(model_or_params, "param_groups", None)):
            return [dict(group) for group in model_or_params.param_groups()]
        return [{"params": list(model_or_params.parameters())}]
    items = list(model_or_params)
    if items and isinstance(items[0], dict):
        return [dict(group) for group in items]
    return [{"params": items}]


def parameter_groups(
    model_or_params: nn.Module | Iterable, config: TrainConfig, *, split_no_decay: bool
) -> list[dict]:
    """Optimiser groups with ``lr`` and ``weight_decay`` filled in.

    Frozen parameters are dropped. With ``split_no_decay`` each group is split into
    weights (``ndim > 1``) and biases/norm parameters (``ndim <= 1``, weight decay 0).
    """
    base_lr = scaled_lr(config)
    groups = []
    for raw in _raw_groups(model_or_params):
        params = [p for p in raw.pop("params") if p.requires_grad]
        lr_scale = raw.pop("lr_scale", 1.0)
        options = {"lr": base_lr * lr_scale, "weight_decay": config.weight_decay, **raw}
        if not split_no_decay:
            groups.append({"params": params, **options})
            continue
        weights = [p for p in params if p.ndim > 1]
        biases_and_norms = [p for p in params if p.ndim <= 1]
        groups.append({"params": weights, **options})
        groups.append({"params": biases_and_norms, **options, "weight_decay": 0.0})
    return [group for group in groups if group["params"]]


def build_optimizer(
    model_or_params: nn.Module | Iterable, config: TrainConfig
) -> torch.optim.Optimizer:
    """SGD (momentum), Adam or LARS over the trainable parameters.

    Biases and normalisation parameters get no weight decay under SGD and LARS (and no
    LARS trust ratio) unless ``config.exclude_bias_and_norm`` is false.
    """
    if config.optimizer not in OPTIMIZERS:
        raise SkelsslError(
            f"unknown optimizer {config.optimizer!r} (known: {', '.join(OPTIMIZERS)})",
            "train.optimizer",
        )
    split_no_decay = config.optimizer != "adam" and config.exclude_bias_and_norm
    groups = parameter_groups(model_or_params, config, split_no_decay=split_no_decay)
    if not groups:
        raise SkelsslError("the model has no trainable parameters to optimise")
    lr = scaled_lr(config)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=config.weight_decay)
    return LARS(
        groups,
        lr=lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        eta=config.lars_eta,
        exclude_bias_and_bn=config.exclude_bias_and_norm,
    )


def _check_schedule(config: TrainConfig) -> None:
    if config.schedule not in SCHEDULES:
        raise SkelsslError(
            f"unknown schedule {config.schedule!r} (known: {', '.join(SCHEDULES)})",
            "train.schedule",
        )
    if config.warmup_epochs < 0:
        raise SkelsslError(f"must be >= 0, got {config.warmup_epochs}", "train.warmup_epochs")
    if config.step_every < 0:
        raise SkelsslError(f"must be >= 0, got {config.step_every}", "train.step_every")


def learning_rate_at(step: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """The learning rate of the optimiser step number ``step`` (0-based).

    Linear warmup from ``warmup_start_lr`` to the peak over ``warmup_epochs``, then
    ``cosine`` to ``min_lr`` at the last step, ``step`` decay (× ``gamma`` at each
    milestone epoch, or every ``step_every`` steps, floored at ``min_lr``) or ``constant``.
    """
    _check_schedule(config)
    peak = scaled_lr(config)
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)
    if step < warmup_steps:
        return config.warmup_start_lr + (peak - config.warmup_start_lr) * step / warmup_steps
    if config.schedule == "constant":
        return peak
    if config.schedule == "cosine":
        total_steps = round(config.epochs * steps_per_epoch)
        progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
        # SGDR Eq. (5) (Loshchilov & Hutter 2017): η_min + ½(η_max − η_min)(1 + cos(π T_cur/T))
        return config.min_lr + 0.5 * (peak - config.min_lr) * (1.0 + math.cos(math.pi * progress))
    if config.step_every > 0:
        decays = step // config.step_every
    else:
        decays = sum(step >= round(m * steps_per_epoch) for m in config.milestones)
    return max(peak * config.gamma**decays, config.min_lr)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> LambdaLR:
    """A per-step :class:`LambdaLR` (call ``scheduler.step()`` after every optimiser step).

    Every group's learning rate is its own base rate times
    ``learning_rate_at(step) / scaled_lr(config)``, so groups with ``lr_scale`` keep
    their ratio to the others.
    """
    _check_schedule(config)
    peak = scaled_lr(config)

    def factor(step: int) -> float:
        return learning_rate_at(step, config, steps_per_epoch) / peak if peak > 0 else 0.0

    return LambdaLR(optimizer, factor)
