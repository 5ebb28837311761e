"""Metrics of a classifier's scores: top-1 / top-5 accuracy, confusion matrix, the mean
and spread over repeated runs, and (re-exported) the effective rank of features."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from skelssl.diagnostics import effective_rank
from skelssl.errors import SkelsslError

__all__ = ["classification_accuracy", "confusion_matrix", "effective_rank", "summarise_runs"]


def classification_accuracy(
    scores: Tensor | np.ndarray, labels: Tensor | np.ndarray, *, require_positive: bool = False
) -> dict[str, float]:
    """Top-1 and top-5 accuracy in percent from class scores.

    Shape: scores (N, K), labels (N,). With fewer than 5 classes ``top5 = top1``. With
    ``require_positive`` a class in the top 5 counts only when its score is > 0 (kNN:
    a class no neighbour voted for is not a guess).
    """
    scores = torch.as_tensor(scores)
    labels = torch.as_tensor(labels, device=scores.device).long()
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise SkelsslError(
            f"scores (N, K) and labels (N,) disagree: {tuple(scores.shape)} vs {tuple(labels.shape)}"
        )
    if scores.shape[0] == 0:
        raise SkelsslError("accuracy of zero samples is undefined")
    top1 = (scores.argmax(1) == labels).double().mean().item() * 100
    if scores.shape[1] < 5:
        return {"top1": top1, "top5": top1}
    top = scores.topk(5, dim=1).indices
    hit = top == labels[:, None]
    if require_positive:
        hit &= scores.gather(1, top) > 0
    top5 = hit.any(1).double().mean().item() * 100
    return {"top1": top1, "top5": top5}


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """Counts ``matrix[true, predicted]``, shape (K, K) int64."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.int64).reshape(-1)
    if labels.shape != predictions.shape:
        raise SkelsslError(f"{labels.size} labels but {predictions.size} predictions")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise SkelsslError(f"{name} out of range 0..{num_classes - 1}")
    flat = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def summarise_runs(runs: list[dict]) -> dict:
    """Mean and sample std (0 for one run) of top-1 / top-5 over runs."""
    summary = {}
    for key in ("top1", "top5"):
        values = np.array([run[key] for run in runs], dtype=np.float64)
        summary[key] = float(values.mean())
        summary[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return summary
