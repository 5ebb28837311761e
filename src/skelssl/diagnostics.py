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

And two measures of how much one representation holds of another (a distillation's
transfer, e.g. CRRL's INF step):

- :func:`linear_cka` — linear centred kernel alignment (Kornblith et al. 2019): 1 for
  representations equal up to rotation and scale, near 0 for unrelated ones.
- :func:`ridge_r2` — the fraction of a target representation's variance that a ridge
  regression from another predicts on held-out samples.
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


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019, Eq. (5)) of two representations of the same N
    samples: ``||Yᵀ X||_F² / (||Xᵀ X||_F · ||Yᵀ Y||_F)`` on centred features, in [0, 1];
    invariant to rotations and isotropic scaling of either. Shape: x (N, D1), y (N, D2)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    denominator = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(np.linalg.norm(y.T @ x) ** 2 / denominator) if denominator > 0 else 0.0


def ridge_r2(
    source_fit: np.ndarray,
    target_fit: np.ndarray,
    source_held_out: np.ndarray,
    target_held_out: np.ndarray,
    alpha: float = 1e-3,
) -> float:
    """Held-out R² of a ridge regression source -> target: ``1 − SSE / total variance`` of
    the held-out targets (summed over target dimensions), the regression fitted on
    standardised source features with penalty ``alpha · N_fit``. 1: the target is a linear
    function of the source; 0: no better than the target's mean.
    Shape: (N, D1), (N, D2), (M, D1), (M, D2)."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    source_fit = np.asarray(source_fit, dtype=np.float64)
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha * len(source_fit)))
    model.fit(source_fit, np.asarray(target_fit, dtype=np.float64))
    predicted = model.predict(np.asarray(source_held_out, dtype=np.float64))
    return float(r2_score(target_held_out, predicted, multioutput="variance_weighted"))
