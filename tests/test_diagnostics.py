"""Collapse diagnostics and BN statistics estimation against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from skelssl.diagnostics import mean_pairwise_cosine, shuffled_partner_loss
from skelssl.losses import byol_loss
from skelssl.models.batchnorm import estimate_batch_norm_statistics


def test_mean_pairwise_cosine_matches_the_pairs():
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    unit = torch.nn.functional.normalize(x, dim=1)
    pairs = [float(unit[i] @ unit[j]) for i in range(7) for j in range(7) if i != j]
    assert float(mean_pairwise_cosine(x)) == pytest.approx(np.mean(pairs), abs=1e-6)
    assert float(mean_pairwise_cosine(torch.ones(4, 3))) == pytest.approx(1.0, abs=1e-6)


def test_shuffled_partner_loss_pairs_each_prediction_with_another_sample():
    targets = torch.eye(4)
    assert float(byol_loss(targets, targets)) == pytest.approx(0.0, abs=1e-6)
    # each prediction meets a different (orthogonal) target: ‖a − b‖² = 2
    assert float(shuffled_partner_loss(byol_loss, targets, targets)) == pytest.approx(2.0)


class TinyEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x, lengths=None):
        return self.norm(self.linear(x.reshape(-1, 3)))


def test_bn_statistics_are_the_cumulative_average_over_the_data():
    torch.manual_seed(0)
    encoder = TinyEncoder().eval()
    weights = encoder.linear.weight.clone()
    batches = [torch.randn(8, 3) * 3 + 1 for _ in range(3)]
    seen = estimate_batch_norm_statistics(encoder, ((b, None) for b in batches))
    assert seen == 3
    with torch.no_grad():
        activations = [encoder.linear(b) for b in batches]
    mean = torch.stack([a.mean(dim=0) for a in activations]).mean(dim=0)
    variance = torch.stack([a.var(dim=0) for a in activations]).mean(dim=0)
    assert torch.allclose(encoder.norm.running_mean, mean, atol=1e-5)
    assert torch.allclose(encoder.norm.running_var, variance, atol=1e-5)
    assert torch.equal(encoder.linear.weight, weights)  # weights untouched
    assert not encoder.training and encoder.norm.momentum == 0.1  # mode and momentum restored


def test_linear_cka_is_one_up_to_rotation_and_scale_and_small_for_unrelated():
    from skelssl.diagnostics import linear_cka

    generator = np.random.default_rng(0)
    x = generator.normal(size=(200, 6))
    rotation, _ = np.linalg.qr(generator.normal(size=(6, 6)))
    assert linear_cka(x, 3.0 * x @ rotation) == pytest.approx(1.0)
    assert linear_cka(x, generator.normal(size=(200, 6))) < 0.2


def test_ridge_r2_is_one_for_a_linear_target_and_near_zero_for_noise():
    from skelssl.diagnostics import ridge_r2

    generator = np.random.default_rng(0)
    x = generator.normal(size=(400, 5))
    y = x @ generator.normal(size=(5, 3)) + 2.0
    assert ridge_r2(x[:200], y[:200], x[200:], y[200:], alpha=1e-8) == pytest.approx(1.0, abs=1e-6)
    noise = generator.normal(size=(400, 3))
    assert ridge_r2(x[:200], noise[:200], x[200:], noise[200:]) < 0.1
