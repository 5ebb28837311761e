"""Diagnostics of learned features (a leaf module: methods log them while training,
evaluation reports them)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def effective_rank(features: np.ndarray | Tensor) -> float:
    """Effective rank (Roy & Vetterli 2007) of centred features (N, D): ``exp(H(p))`` with
    ``p = σ / Σσ`` over the singular values σ. ``D`` for isotropic features, 1 for features
    on one line: a collapse diagnostic for the self-supervised methods (e.g. BYOL)."""
    x = torch.as_tensor(features, dtype=torch.float64)
    singular = torch.linalg.svdvals(x - x.mean(dim=0))
    if float(singular.sum()) == 0.0:
        return 0.0
    p = singular / singular.sum()
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum()
    return float(torch.exp(entropy))
