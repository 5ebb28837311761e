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


# ------------------------------------------------------------------ collapse monitor
# Thresholds set from measured runs (benchmarks/carryover/results/collapse_thresholds.md):
# a collapsed BYOL's encoder features fell from an effective rank of 31 to 4.4 (of 256) on a
# batch of 128, a ratio of 0.14 of its untrained start; the healthy runs we measured
# (SimCLR, BYOL, MS²L; joint, bone and motion streams) never went below 0.52 of theirs. The mean
# cosine between samples is recorded but does not warn: raw pooled GRU features share a
# large mean direction, and a healthy bone-stream SimCLR run sat at 0.99.
COLLAPSE_RANK_RATIO = 0.3  # rank below this fraction of the untrained encoder's = collapsing
COLLAPSE_GRACE = 0.1  # fraction of training before the monitor may warn (warm-up)
COLLAPSE_CHECKS = 3  # consecutive bad checks before it warns


class CollapseMonitor:
    """Watches the encoder's features on the logged training batches of any method.

    ``start(rank, cosine)`` takes the untrained encoder's values on the first batch; every
    ``observe(progress, rank, cosine)`` after it counts a check as bad when the effective
    rank fell below ``COLLAPSE_RANK_RATIO`` of the start (the cosine is recorded beside it,
    see the thresholds' comment). Past ``COLLAPSE_GRACE`` of training,
    ``COLLAPSE_CHECKS`` bad checks in a row give the warning (returned once, kept in
    :attr:`warning`)."""

    def __init__(self) -> None:
        self.rank_at_start: float | None = None
        self.cosine_at_start: float | None = None
        self.last: dict[str, float] = {}
        self.bad_checks = 0
        self.warning: str | None = None

    def start(self, rank: float, cosine: float) -> None:
        self.rank_at_start, self.cosine_at_start = float(rank), float(cosine)

    def observe(self, progress: float, rank: float, cosine: float) -> str | None:
        """Record one check; the warning text the first time the run looks collapsed."""
        self.last = {"effective_rank": float(rank), "mean_cosine": float(cosine)}
        start = self.rank_at_start if self.rank_at_start else float(rank)
        low_rank = rank < COLLAPSE_RANK_RATIO * start
        past_grace = progress >= COLLAPSE_GRACE
        self.bad_checks = self.bad_checks + 1 if low_rank and past_grace else 0
        if self.warning or self.bad_checks < COLLAPSE_CHECKS:
            return None
        self.warning = (
            f"the encoder's features look collapsed (effective rank {rank:.1f} < "
            f"{COLLAPSE_RANK_RATIO} x {start:.1f} of the untrained encoder, {COLLAPSE_CHECKS} "
            "checks in a row): its linear/kNN results will likely be below the untrained "
            "encoder's"
        )
        return self.warning

    def summary(self) -> dict:
        """What ``summary.json`` keeps: start, last values and the warning (or None)."""
        return {
            "effective_rank_start": self.rank_at_start,
            "mean_cosine_start": self.cosine_at_start,
            **{f"{key}_last": value for key, value in self.last.items()},
            "warning": self.warning,
        }
