"""Collapse diagnostics of self-supervised training (a leaf module: methods log them while
training, evaluation reports them).

A non-contrastive method (BYOL) can fall into a *collapse*: every input is mapped to
(nearly) the same point, or to a few directions, and the loss is low anyway. These
functions measure it on one batch (call them every N steps, not every step: the
effective rank reads its result back to the host).

- :func:`effective_rank` — how many directions the features use (Roy & Vetterli 2007).
- :func:`mean_pairwise_cosine` — mean cosine between *different* samples: near 1 when
  all samples point the same way.
- :func:`shuffled_partner_loss` — a loss against partners taken from other samples:
  a learning method's loss with the true partner must be clearly lower.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def effective_rank(features: np.ndarray | Tensor) -> float:
    """Effective rank (Roy & Vetterli 2007) of centred features (N, D): ``exp(H(p))`` with
    ``p = σ / Σσ`` over the singular values σ. ``D`` for isotropic features, 1 for features
    on one line: a collapse diagnostic for the self-supervised methods (e.g. BYOL).
    Returns a Python float (one host synchronisation: call it every N steps, not every one)."""
    x = torch.as_tensor(features, dtype=torch.float64)
    singular = torch.linalg.svdvals(x - x.mean(dim=0))
    if float(singular.sum()) == 0.0:
        return 0.0
    p = singular / singular.sum()
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum()
    return float(torch.exp(entropy))


def mean_pairwise_cosine(features: Tensor) -> Tensor:
    """Mean cosine similarity between the rows of ``features`` (N, D), N >= 2, over the
    N·(N−1) ordered pairs of *different* rows. Returns a 0-d tensor in [−1, 1]."""
    x = F.normalize(features.detach().float(), dim=1)
    n = x.shape[0]
    total = x.sum(dim=0)
    # Σ_{i≠j} ⟨x_i, x_j⟩ = ‖Σ x_i‖² − Σ ‖x_i‖²
    return ((total * total).sum() - (x * x).sum()) / max(n * (n - 1), 1)


def shuffled_partner_loss(
    loss: Callable[[Tensor, Tensor], Tensor], prediction: Tensor, target: Tensor
) -> Tensor:
    """``loss(prediction, target)`` with each target moved to the next sample (a cyclic
    shift by one: every prediction meets another sample's target, no randomness used).

    Shapes: prediction (N, D), target (N, D), N >= 2 -> what ``loss`` returns.
    """
    return loss(prediction.detach(), target.detach().roll(1, dims=0))
