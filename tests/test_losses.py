"""NT-Xent against a hand-computed example and a naive loop reference."""

from __future__ import annotations

import math

import pytest
import torch

from skelssl.losses import contrastive_accuracy, nt_xent


def test_nt_xent_hand_computed_two_samples():
    # Views: a, b (first views of samples 0, 1) and c, d (their second views).
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # a, b
    z2 = torch.tensor([[2.0, 2.0], [0.0, 3.0]])  # c, d (not unit length: cosine normalises)
    tau = 0.5
    s = 1 / math.sqrt(
        2
    )  # cos(a, c) = cos(b, c) = cos(c, d); cos(b, d) = 1; cos(a, b) = cos(a, d) = 0
    e = math.exp
    loss_a = -math.log(e(s / tau) / (e(0) + e(s / tau) + e(0)))  # negatives b, d
    loss_b = -math.log(e(1 / tau) / (e(0) + e(s / tau) + e(1 / tau)))  # negatives a, c
    loss_c = -math.log(e(s / tau) / (e(s / tau) + e(s / tau) + e(s / tau)))  # negatives b, d
    loss_d = -math.log(e(1 / tau) / (e(0) + e(1 / tau) + e(s / tau)))  # negatives a, c
    expected = (loss_a + loss_b + loss_c + loss_d) / 4
    assert nt_xent(z1, z2, temperature=tau).item() == pytest.approx(expected, rel=1e-6)


def naive_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> float:
    """SimCLR Eq. (1) written with loops, one anchor at a time."""
    views = [v / v.norm() for v in torch.cat([z1, z2]).double()]
    n = z1.shape[0]
    total = 0.0
    for i, anchor in enumerate(views):
        positive = (i + n) % (2 * n)
        numerator = math.exp(float(anchor @ views[positive]) / temperature)
        denominator = sum(
            math.exp(float(anchor @ other) / temperature) for k, other in enumerate(views) if k != i
        )
        total += -math.log(numerator / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.07, 0.5, 2.0])
def test_nt_xent_matches_naive_loop(temperature):
    generator = torch.Generator().manual_seed(3)
    z1 = torch.randn(5, 4, generator=generator)
    z2 = torch.randn(5, 4, generator=generator)
    got = nt_xent(z1, z2, temperature=temperature).item()
    assert got == pytest.approx(naive_nt_xent(z1, z2, temperature), rel=1e-5)


def test_nt_xent_is_symmetric_in_views_and_scale_invariant():
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 6, 8, generator=generator)
    loss = nt_xent(z1, z2)
    assert nt_xent(z2, z1).item() == pytest.approx(loss.item(), rel=1e-6)
    assert nt_xent(3.0 * z1, 0.5 * z2).item() == pytest.approx(loss.item(), rel=1e-5)


def test_temperature_effect():
    generator = torch.Generator().manual_seed(1)
    n = 6
    z1 = torch.randn(n, 16, generator=generator)
    z2 = z1 + 0.05 * torch.randn(n, 16, generator=generator)  # positives nearly aligned
    sharp, soft = nt_xent(z1, z2, temperature=0.05), nt_xent(z1, z2, temperature=1.0)
    assert sharp < soft  # a low temperature rewards well-separated positives more
    # A huge temperature flattens all similarities: loss -> log(2N - 1).
    assert nt_xent(z1, z2, temperature=1e6).item() == pytest.approx(math.log(2 * n - 1), rel=1e-4)


def test_nt_xent_gradients_reach_both_views():
    generator = torch.Generator().manual_seed(2)
    z1 = torch.randn(4, 3, generator=generator, requires_grad=True)
    z2 = torch.randn(4, 3, generator=generator, requires_grad=True)
    nt_xent(z1, z2).backward()
    for grad in (z1.grad, z2.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_contrastive_accuracy_perfect_and_worst():
    z1 = torch.eye(3)
    assert contrastive_accuracy(z1, z1.clone()).item() == 1.0
    # Each positive is the opposite vector: the least similar view of all.
    assert contrastive_accuracy(z1, -z1).item() == 0.0
    assert not contrastive_accuracy(z1.requires_grad_(), z1 * 2).requires_grad
