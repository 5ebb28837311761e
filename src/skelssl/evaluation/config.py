"""Settings of the generic evaluation protocols: :class:`EvalConfig`, read by the protocols,
the run configuration and the reports. A leaf: imports nothing of skelssl but its errors."""

from __future__ import annotations

import math
from dataclasses import dataclass

from skelssl.errors import SkelsslError

KNN_METRICS = ("cosine", "euclidean")
FINETUNE_OPTIMIZERS = ("adam", "sgd")
LINEAR_SCHEDULES = ("cosine", "step")


@dataclass
class EvalConfig:
    """Settings of the evaluation protocols.

    The linear probe trains on standardised frozen features (train-split mean/std) with
    Adam and a cosine schedule: standardising makes one learning rate work for every
    method, whatever the scale of its features (papers tune SGD lr 0.1-30 per method).
    Finetuning trains encoder + linear head end to end with a cosine schedule.
    """

    batch_size: int = 256
    linear_epochs: int = 200  # on precomputed frozen features
    linear_lr: float = 0.01  # Adam on standardised features
    linear_weight_decay: float = 1e-4
    linear_standardise: bool = True  # False: raw features (e.g. MS²L's reading, Sec. 4.2)
    linear_schedule: str = "cosine"  # over epochs | "step": x0.1 every 100 steps to lr/100
    knn_k: int = 1  # k=1 cosine (CRRL, Predict & Cluster)
    knn_metric: str = "cosine"  # "cosine" | "euclidean"
    knn_weighted: bool = False  # weighted vote exp(sim / 0.07) (InstDisc uses k=20)
    finetune_epochs: int = 60
    finetune_lr: float = 0.001
    finetune_optimizer: str = "adam"  # "adam" | "sgd" (momentum 0.9, nesterov)
    finetune_weight_decay: float = 1e-4
    finetune_augment: bool = True  # light rotation + shear during finetuning
    label_fraction: float = 1.0
    seeds: int = 1

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first bad setting."""
        positive = ("batch_size", "knn_k", "seeds")
        for name in positive:
            if getattr(self, name) < 1:
                raise SkelsslError(f"evaluation.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("linear_epochs", "finetune_epochs"):  # 0 would report an untrained head
            if getattr(self, name) < 1:
                raise SkelsslError(f"evaluation.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("linear_lr", "finetune_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise SkelsslError(f"evaluation.{name} must be a finite number > 0, got {value}")
        for name in ("linear_weight_decay", "finetune_weight_decay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise SkelsslError(f"evaluation.{name} must be a finite number >= 0, got {value}")
        if self.knn_metric not in KNN_METRICS:
            raise SkelsslError(
                f"evaluation.knn_metric must be one of {', '.join(KNN_METRICS)}, got {self.knn_metric!r}"
            )
        if self.linear_schedule not in LINEAR_SCHEDULES:
            raise SkelsslError(
                f"evaluation.linear_schedule must be one of {', '.join(LINEAR_SCHEDULES)}, "
                f"got {self.linear_schedule!r}"
            )
        if self.finetune_optimizer not in FINETUNE_OPTIMIZERS:
            raise SkelsslError(
                f"evaluation.finetune_optimizer must be one of {', '.join(FINETUNE_OPTIMIZERS)}, "
                f"got {self.finetune_optimizer!r}"
            )
        if not 0 < self.label_fraction <= 1:
            raise SkelsslError(
                f"evaluation.label_fraction must be in (0, 1], got {self.label_fraction}"
            )
