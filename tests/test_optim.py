"""LARS against its formula; optimiser groups; learning-rate schedules at chosen steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from skelssl.errors import SkelsslError
from skelssl.optim import (
    LARS,
    build_optimizer,
    build_scheduler,
    learning_rate_at,
    scaled_lr,
)
from skelssl.train_config import TrainConfig


def _lars_reference(weight, grad, buffer, *, lr, momentum, weight_decay, eta):
    """You et al. 2017 Algorithm 1, written out with plain torch ops."""
    local_lr = eta * weight.norm() / (grad.norm() + weight_decay * weight.norm())
    buffer = momentum * buffer + lr * local_lr * (grad + weight_decay * weight)
    return weight - buffer, buffer


def test_lars_two_steps_equal_the_formula():
    weight = torch.tensor([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], dtype=torch.float64)
    bias = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    grads = [
        (
            torch.tensor([[0.1, 0.2], [-0.3, 0.05], [0.4, -0.1]], dtype=torch.float64),
            torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64),
        ),
        (
            torch.tensor([[-0.2, 0.1], [0.3, 0.3], [0.0, 0.2]], dtype=torch.float64),
            torch.tensor([-0.5, 0.5, 1.0], dtype=torch.float64),
        ),
    ]
    hyper = dict(lr=0.5, momentum=0.9, weight_decay=0.1, eta=0.02)
    w_param, b_param = nn.Parameter(weight.clone()), nn.Parameter(bias.clone())
    optimizer = LARS([w_param, b_param], **hyper)
    w_ref, w_buffer = weight.clone(), torch.zeros_like(weight)
    b_ref, b_buffer = bias.clone(), torch.zeros_like(bias)
    for w_grad, b_grad in grads:
        w_param.grad, b_param.grad = w_grad.clone(), b_grad.clone()
        optimizer.step()
        w_ref, w_buffer = _lars_reference(w_ref, w_grad, w_buffer, **hyper)
        # bias: excluded from adaptation and weight decay -> momentum SGD, v = m v + lr g
        b_buffer = hyper["momentum"] * b_buffer + hyper["lr"] * b_grad
        b_ref = b_ref - b_buffer
    torch.testing.assert_close(w_param.detach(), w_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b_param.detach(), b_ref, rtol=1e-12, atol=1e-12)


def test_lars_adapts_bias_when_exclusion_is_off():
    bias = nn.Parameter(torch.tensor([3.0, 4.0]))  # norm 5
    bias.grad = torch.tensor([0.0, 10.0])  # norm 10
    LARS([bias], lr=1.0, momentum=0.0, weight_decay=0.0, eta=0.1, exclude_bias_and_bn=False).step()
    # λ = 0.1 * 5 / 10 = 0.05
    torch.testing.assert_close(bias.detach(), torch.tensor([3.0, 3.5]))


def test_lars_zero_weight_uses_unit_trust_ratio():
    weight = nn.Parameter(torch.zeros(2, 2))
    weight.grad = torch.ones(2, 2)
    LARS([weight], lr=0.1, momentum=0.0, eta=0.001).step()
    torch.testing.assert_close(weight.detach(), torch.full((2, 2), -0.1))


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.norm = nn.BatchNorm1d(3)
        self.frozen = nn.Linear(3, 3)
        self.frozen.requires_grad_(False)


@pytest.mark.parametrize("name", ["sgd", "lars"])
def test_sgd_and_lars_exclude_bias_and_norm_from_weight_decay(name):
    net = _Net()
    optimizer = build_optimizer(net, TrainConfig(optimizer=name, weight_decay=0.05, lr=0.2))
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decay_of == {
        id(net.linear.weight): 0.05,
        id(net.linear.bias): 0.0,
        id(net.norm.weight): 0.0,
        id(net.norm.bias): 0.0,
    }  # frozen parameters are not optimised
    assert isinstance(optimizer, LARS if name == "lars" else torch.optim.SGD)


@pytest.mark.parametrize("name", ["sgd", "lars"])
def test_exclusion_off_decays_every_parameter(name):
    net = _Net()
    config = TrainConfig(optimizer=name, weight_decay=0.05, exclude_bias_and_norm=False)
    optimizer = build_optimizer(net, config)
    decays = [g["weight_decay"] for g in optimizer.param_groups for _ in g["params"]]
    assert decays == [0.05] * 4
    if name == "lars":  # the trust ratio reaches biases and norm parameters too
        assert all(not g["exclude_bias_and_bn"] for g in optimizer.param_groups)


def test_adam_and_linear_lr_scaling():
    config = TrainConfig(optimizer="adam", lr=0.3, lr_scaling="linear", batch_size=512)
    assert scaled_lr(config) == pytest.approx(0.6)
    optimizer = build_optimizer(_Net(), config)
    assert isinstance(optimizer, torch.optim.Adam)
    assert all(group["lr"] == pytest.approx(0.6) for group in optimizer.param_groups)


def test_method_param_groups_keep_their_lr_scale():
    net = _Net()
    net.param_groups = lambda: [
        {"params": net.linear.parameters()},
        {"params": net.norm.parameters(), "lr_scale": 0.1},
    ]
    optimizer = build_optimizer(net, TrainConfig(optimizer="sgd", lr=1.0))
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lr_of[id(net.linear.weight)] == 1.0
    assert lr_of[id(net.norm.weight)] == pytest.approx(0.1)
    scheduler = build_scheduler(optimizer, TrainConfig(lr=1.0, epochs=2, schedule="cosine"), 5)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lrs[id(net.linear.weight)] == pytest.approx(0.5)  # half way through cosine
    assert lrs[id(net.norm.weight)] == pytest.approx(0.05)


def test_unknown_optimizer_and_schedule_are_user_errors():
    with pytest.raises(SkelsslError, match="unknown optimizer"):
        build_optimizer(_Net(), TrainConfig(optimizer="adagrad"))
    with pytest.raises(SkelsslError, match="unknown schedule"):
        learning_rate_at(0, TrainConfig(schedule="poly"), 10)


def _lrs_from_scheduler(config: TrainConfig, steps_per_epoch: int, steps: int) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=scaled_lr(config))
    scheduler = build_scheduler(optimizer, config, steps_per_epoch)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_cosine_with_warmup():
    config = TrainConfig(
        epochs=10, lr=0.1, warmup_epochs=2, warmup_start_lr=0.01, min_lr=0.001, schedule="cosine"
    )
    lrs = _lrs_from_scheduler(config, steps_per_epoch=10, steps=100)
    assert lrs[0] == pytest.approx(0.01)
    assert lrs[10] == pytest.approx(0.055)  # half way through warmup
    assert lrs[20] == pytest.approx(0.1)  # peak after warmup
    assert lrs[60] == pytest.approx(0.001 + 0.5 * 0.099)  # cos(π/2) = 0
    expected_last = 0.001 + 0.5 * 0.099 * (1 + math.cos(math.pi * 79 / 80))
    assert lrs[99] == pytest.approx(expected_last)
    assert learning_rate_at(100, config, 10) == pytest.approx(0.001)


def test_step_schedule_milestones_and_step_every():
    config = TrainConfig(epochs=9, lr=0.1, schedule="step", milestones=[3, 6], gamma=0.1)
    lrs = _lrs_from_scheduler(config, steps_per_epoch=10, steps=90)
    assert lrs[29] == pytest.approx(0.1)
    assert lrs[30] == pytest.approx(0.01)
    assert lrs[59] == pytest.approx(0.01)
    assert lrs[60] == pytest.approx(0.001)
    every = TrainConfig(epochs=9, lr=0.1, schedule="step", step_every=5, gamma=0.5, min_lr=0.02)
    assert [learning_rate_at(s, every, 10) for s in (0, 4, 5, 10, 15, 40)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.025, 0.02, 0.02]
    )


def test_constant_with_warmup():
    config = TrainConfig(epochs=3, lr=0.2, schedule="constant", warmup_epochs=0.5)
    lrs = _lrs_from_scheduler(config, steps_per_epoch=8, steps=24)
    assert lrs[:4] == pytest.approx([0.0, 0.05, 0.1, 0.15])
    assert lrs[4:] == pytest.approx([0.2] * 20)
