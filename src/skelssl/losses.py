"""Losses: pure functions of embeddings, each naming its paper and equation.

``nt_xent``
    The normalised-temperature cross-entropy of SimCLR (Chen et al. 2020, Eq. (1)), as
    used for skeletons by Gao, Yang & Du 2021 (PMLR 148, Eqs. (4)-(5)).
``contrastive_accuracy``
    How often a view's most similar other view is its positive (a logged metric).

Under DDP the negatives are gathered from every rank (``skelssl.dist.gather_with_grad``,
gradients flow back to the local embeddings only); anchors stay local, so each rank's
loss is the mean over its own ``2N`` anchors and DDP's gradient averaging gives the
global mean. Ranks must hold batches of equal size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from skelssl import dist


def _pair_logits(z1: Tensor, z2: Tensor, temperature: float, gather: bool) -> tuple[Tensor, Tensor]:
    """Temperature-scaled cosine similarities of local anchors against all views.

    Args:
        z1, z2: (N, D) embeddings of the two views of the same N samples.
    Returns:
        logits: (2N, 2N·W) with each anchor's similarity to itself set to -inf
            (W = world size; columns are [all first views, all second views]).
        positives: (2N,) column of each anchor's positive (the other view of its sample).
    """
    n = z1.shape[0]
    z1 = F.normalize(z1.float(), dim=1)
    z2 = F.normalize(z2.float(), dim=1)
    anchors = torch.cat([z1, z2])  # (2N, D)
    offset = 0
    if gather and dist.is_distributed():
        all1, all2 = dist.gather_with_grad(z1), dist.gather_with_grad(z2)  # (N·W, D)
        offset = dist.rank() * n
    else:
        all1, all2 = z1, z2
    total = all1.shape[0]
    # SimCLR Eq. (1) / Gao et al. Eq. (4): sim(u, v) = uᵀv / (‖u‖‖v‖), divided by τ.
    logits = anchors @ torch.cat([all1, all2]).T / temperature  # (2N, 2·N·W)
    local = torch.arange(n, device=z1.device) + offset
    self_column = torch.cat([local, local + total])
    positives = torch.cat([local + total, local])
    # The indicator 1[k ≠ i] of Eq. (4): a view is never its own negative.
    is_self = torch.zeros_like(logits, dtype=torch.bool)
    is_self[torch.arange(2 * n, device=z1.device), self_column] = True
    return logits.masked_fill(is_self, float("-inf")), positives


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.1, gather: bool = True) -> Tensor:
    """NT-Xent over the 2N views of N samples (SimCLR; Gao et al. Eqs. (4)-(5)).

    For the views ``i`` and ``j`` of one sample (Eq. (4))::

        ℓ(i, j) = -log  exp(sim(z_i, z_j)/τ) / Σ_{k ≠ i} exp(sim(z_i, z_k)/τ)

    summed over the 2N - 1 other views (one positive, 2N - 2 negatives, or
    2N·W - 2 negatives when gathered from W ranks), and the loss is the mean of
    ℓ(i, j) and ℓ(j, i) over all samples (Eq. (5)).

    Args:
        z1, z2: (N, D) projections of the first and second views; row k of both
            comes from sample k. Cosine similarity, so they need not be normalised.
        temperature: τ.
        gather: under DDP, take the negatives from all ranks.
    Returns:
        scalar loss, mean over the local 2N anchors.
    """
    logits, positives = _pair_logits(z1, z2, temperature, gather)
    return F.cross_entropy(logits, positives)


@torch.no_grad()
def contrastive_accuracy(z1: Tensor, z2: Tensor) -> Tensor:
    """Fraction of the local 2N views whose most similar other view is their positive.

    Args:
        z1, z2: (N, D) embeddings as in :func:`nt_xent` (not gathered).
    Returns:
        scalar in [0, 1], detached.
    """
    logits, positives = _pair_logits(z1, z2, temperature=1.0, gather=False)
    return (logits.argmax(dim=1) == positives).float().mean()
