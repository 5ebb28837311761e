"""BatchNorm statistics of an encoder, estimated on data.

An untrained encoder's BatchNorm layers hold their initial statistics (mean 0, variance
1), so in eval mode they do nothing. Every trained encoder holds statistics of its
training data instead. Comparing a trained encoder with the untrained one is like for
like only when the untrained one's statistics are estimated on the same data too: one
pass over the training data in train mode, no gradient, each layer's running mean and
variance the *cumulative* average of its batch statistics (``momentum=None``), weights
untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``module`` in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def estimate_batch_norm_statistics(
    encoder: nn.Module, batches: Iterable[tuple[Tensor, Tensor | None]]
) -> int:
    """Replace the running mean / variance of every BatchNorm layer of ``encoder`` with the
    cumulative average of its batch statistics over ``batches`` (one pass, train mode, no
    gradient); the weights and the encoder's train/eval mode are left as they were.

    ``batches`` yields ``(x, lengths)``: x (N, T, M, V, C) on the encoder's device, lengths
    (N,) or None. Returns the number of batches seen (0: nothing changed).
    """
    norms = batch_norms(encoder)
    if not norms:
        return 0
    saved = [(norm.momentum, norm.running_mean.clone(), norm.running_var.clone()) for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average over the batches
    was_training = encoder.training
    encoder.train()
    seen = 0
    try:
        for x, lengths in batches:
            encoder(x, lengths)
            seen += 1
    finally:
        encoder.train(was_training)
        for norm, (momentum, mean, variance) in zip(norms, saved):
            norm.momentum = momentum
            if not seen:
                norm.running_mean.copy_(mean)
                norm.running_var.copy_(variance)
    return seen
