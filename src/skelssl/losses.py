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


def mean_contrastive(views: Tensor, temperature: float = 1.0, gather: bool = True) -> Tensor:
    """MS²L contrastive loss against per-sample mean features (Lin et al. 2020, Eq. (3)).

    Each sample n has M views with projections ``z_n^m``; their mean is
    ``z̄_n = (1/M) Σ_m z_n^m``. Every view is classified against the means of the batch::

        L_c = -1/(N·M) Σ_n Σ_m log  exp(cos(z_n^m, z̄_n)/τ) / Σ_k exp(cos(z_n^m, z̄_k)/τ)

    (the paper writes it with τ = 1). Under DDP the means of every rank are the
    candidates ``k``; anchors stay local.

    Args:
        views: (M, N, D) projections, ``views[m, n]`` = view m of sample n; M >= 1.
        temperature: τ > 0.
        gather: under DDP, take the other samples' means from all ranks.
    Returns:
        scalar loss, mean over the local N·M anchors.
    """
    m, n, _ = views.shape
    means = views.float().mean(dim=0)  # z̄_n, (N, D)
    anchors = F.normalize(views.float(), dim=-1).reshape(m * n, -1)
    means = F.normalize(means, dim=-1)
    offset = 0
    if gather and dist.is_distributed():
        means_all = dist.gather_with_grad(means)
        offset = dist.rank() * n
    else:
        means_all = means
    logits = anchors @ means_all.T / temperature  # (M·N, N·W)
    targets = (torch.arange(n, device=views.device) + offset).repeat(m)
    return F.cross_entropy(logits, targets)


# ---------------------------------------------------------------- CRRL (Wang et al.)


def info_nce_with_queue(
    query: Tensor, key: Tensor, queue: Tensor, temperature: float = 0.1
) -> Tensor:
    """InfoNCE against a queue of negative keys (MoCo, He et al. 2020; CRRL Eq. (6)).

    ``ℓ = -log exp(q·k⁺/τ) / (exp(q·k⁺/τ) + Σ_j exp(q·k_j/τ))`` with ``q``, ``k`` and the
    queued keys ``k_j`` L2-normalised; the positive is the key of the same sample. Keys
    and queue get no gradient.

    Args:
        query: (N, D) query embeddings.
        key: (N, D) key embeddings of the same N samples.
        queue: (K, D) earlier keys, the negatives.
        temperature: τ.
    Returns:
        scalar loss, mean over the N queries.
    """
    query = F.normalize(query.float(), dim=1)
    key = F.normalize(key.detach().float(), dim=1)
    negatives = F.normalize(queue.detach().float(), dim=1)
    positive_logits = (query * key).sum(dim=1, keepdim=True)  # (N, 1)
    negative_logits = query @ negatives.T  # (N, K)
    logits = torch.cat([positive_logits, negative_logits], dim=1) / temperature
    targets = torch.zeros(query.shape[0], dtype=torch.int64, device=query.device)
    return F.cross_entropy(logits, targets)


def masked_reconstruction_loss(prediction: Tensor, target: Tensor, lengths: Tensor) -> Tensor:
    """Squared error summed over the valid frames and features, per frame (CRRL Eq. (1)).

    ``L = (1/N) Σ_i (1/len_i) Σ_{t < len_i} ||x_{i,t} − x̂_{i,t}||²``: padded frames
    (``t >= lengths[i]``) are never reconstructed.

    Args:
        prediction, target: (N, T, F).
        lengths: (N,) valid frames, 1..T.
    Returns:
        scalar loss.
    """
    frames = prediction.shape[1]
    lengths = lengths.to(prediction.device)
    valid = torch.arange(frames, device=prediction.device) < lengths[:, None]  # (N, T)
    squared = ((prediction.float() - target.float()) ** 2).sum(dim=2)  # (N, T)
    per_sample = (squared * valid).sum(dim=1) / lengths.clamp(min=1).to(squared.dtype)
    return per_sample.mean()


def feature_distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean over the batch of ``||h_t − h_s||²`` (CRRL Eq. (7)); no gradient to the teacher.

    Shape: student, teacher (N, D) -> scalar.
    """
    return ((teacher.detach().float() - student.float()) ** 2).sum(dim=1).mean()


def byol_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Normalised L2 loss of BYOL (Grill et al. 2020, Eq. (2); Skeleton BYOL Eq. (1)).

    ``‖q̄ − z̄‖² = 2 − 2·⟨q, z⟩ / (‖q‖·‖z‖)`` per sample, averaged over the batch. The
    target is detached: gradients reach only the online network (its prediction).

    Shapes: prediction (N, D), target (N, D) -> scalar.
    """
    prediction = F.normalize(prediction.float(), dim=1)
    target = F.normalize(target.detach().float(), dim=1)
    return (2 - 2 * (prediction * target).sum(dim=1)).mean()


def soft_target_distillation(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0
) -> Tensor:
    """Cross-entropy between temperature-softened outputs (Skeleton BYOL Eq. (6); Hinton
    et al. 2015): ``−Σ_k softmax(t/τ)_k · log softmax(s/τ)_k``, mean over the batch.

    The teacher is detached. Shapes: (N, K), (N, K) -> scalar.
    """
    teacher = F.softmax(teacher_logits.detach().float() / temperature, dim=1)
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    return -(teacher * log_student).sum(dim=1).mean()
