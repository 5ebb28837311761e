"""How to train: :class:`TrainConfig`, read by the trainer, the optimiser builder, the run
configuration and the evaluation protocols that train. A leaf: imports nothing of skelssl."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """How to train. ``batch_size`` is the global batch, split over the ranks."""

    epochs: int = 100
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
