"""How to train: :class:`TrainConfig`, read by the trainer, the optimiser builder, the run
configuration and the evaluation protocols that train. A leaf: imports nothing of skelssl
but its errors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from skelssl.errors import SkelsslError

# field -> (lowest, highest, whether the lowest itself is allowed): numbers outside, NaN
# and infinities are refused when the config is built, naming the key and its range
RANGES = {
    "epochs": (0, None, True),
    "batch_size": (1, None, True),
    "lr": (0.0, None, False),
    "momentum": (0.0, 1.0, True),
    "weight_decay": (0.0, None, True),
    "lars_eta": (0.0, None, False),
    "warmup_epochs": (0.0, None, True),
    "warmup_start_lr": (0.0, None, True),
    "min_lr": (0.0, None, True),
    "gamma": (0.0, None, False),
    "step_every": (0, None, True),
    "clip_grad": (0.0, None, True),
    "num_workers": (0, None, True),
    "log_every": (1, None, True),
    "time_budget": (0.0, None, True),
}


@dataclass
class TrainConfig:
    """How to train. ``batch_size`` is the global batch, split over the ranks."""

    epochs: int = 100
    # at least this many optimiser steps: on a dataset too small for it, epochs, warm-up
    # and milestones are stretched by one factor (the schedule keeps its shape in steps;
    # the resolved config.yaml records the stretched values); 0 = off
    min_steps: int = 0
    batch_size: int = 128  # global batch (split over ranks)
    optimizer: str = "sgd"  # "sgd" | "adam" | "lars"
    lr: float = 0.1
    lr_scaling: str = "none"  # "none" | "linear" (lr * batch_size / 256)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    # biases and norm parameters (ndim <= 1) get no weight decay (SGD, LARS) and, under
    # LARS, no trust ratio (BYOL's and SimCLR's practice); false: every parameter alike
    exclude_bias_and_norm: bool = True
    lars_eta: float = 0.001  # LARS trust coefficient η (You et al. 2017; SimCLR's value)
    schedule: str = "cosine"  # "cosine" | "step" | "constant"
    warmup_epochs: float = 0.0
    warmup_start_lr: float = 0.0
    min_lr: float = 0.0
    milestones: list[float] = field(default_factory=list)  # epochs, for schedule "step"
    gamma: float = 0.1
    step_every: int = 0  # schedule "step": decay every this many steps instead of milestones
    clip_grad: float = 0.0  # max grad norm, 0 = off
    seed: int = 0
    amp: bool = True  # autocast + GradScaler, on CUDA only
    # "float16" (with GradScaler: its inf check reads the GPU every step) | "bfloat16"
    # (no scaler, no per-step host sync; Ampere or newer)
    amp_dtype: str = "float16"
    sync_bn: bool = False  # convert BatchNorm to SyncBatchNorm under DDP (CUDA)
    num_workers: int = 0
    device: str = "auto"  # "auto" (cuda if available) | "cpu" | "cuda"
    log_every: int = 10
    time_budget: float = 0.0  # seconds; > 0 stops after the first epoch that exceeds it
    drop_last: bool = True
    keep_epochs: list[int] = field(default_factory=list)  # also keep epoch-NNNN.pt after these

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first value outside its range."""
        for name, (low, high, low_allowed) in RANGES.items():
            check_range(getattr(self, name), f"train.{name}", low, high, low_allowed)
        for index, epoch in enumerate(self.milestones):
            check_range(epoch, f"train.milestones[{index}]", 0.0, None, True)


def check_range(value, key: str, low, high=None, low_allowed: bool = True) -> None:
    """``value`` is a finite number >= ``low`` (> ``low`` unless ``low_allowed``) and
    <= ``high`` (when given); else a :class:`SkelsslError` naming ``key`` and the range."""
    below = value < low if low_allowed else value <= low
    if math.isfinite(value) and not below and (high is None or value <= high):
        return
    lowest = f"{'>=' if low_allowed else '>'} {low}"
    wanted = f"{lowest} and <= {high}" if high is not None else lowest
    raise SkelsslError(f"{key} must be a finite number {wanted}, got {value}")
