"""Recipes that carry over to other data: the collapse check every method gets, schedules
that keep their length in optimiser steps, and a config's split left behind with ``--data``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from skelssl.cli import main
from skelssl.data.types import SkeletonData
from skelssl.diagnostics import COLLAPSE_CHECKS, CollapseMonitor, mean_pairwise_cosine
from skelssl.evaluation.run import collapse_warning
from skelssl.methods.base import Method
from skelssl.train import epoch_steps, stretch_to_min_steps, train
from skelssl.train_config import TrainConfig

T, M, V, C = 4, 1, 3, 2
FEATURES = 16


def _data(count: int = 64, seed: int = 0) -> SkeletonData:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, count).astype(np.int64)
    joints = rng.standard_normal((count, T, M, V, C)).astype(np.float32)
    joints[..., 0] += labels[:, None, None, None]  # classes a linear map can tell apart
    return SkeletonData(
        joints=joints,
        lengths=np.full(count, T, dtype=np.int64),
        labels=labels,
        subjects=np.zeros(count, dtype=np.int64),
        views=np.zeros(count, dtype=np.int64),
        setups=np.zeros(count, dtype=np.int64),
        performances=np.array([f"p{i}" for i in range(count)]),
        names=np.array([f"s{i}" for i in range(count)]),
        class_names=["a", "b", "c", "d"],
        layout="kinect-v1-20",
        source="toy",
    )


class Toy(Method):
    """A linear encoder; ``collapse=True`` trains it to map every sample one way (the
    loss is minus the mean cosine between different samples' features), else to
    reconstruct its input (an autoencoder)."""

    def __init__(self, collapse: bool):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(T * M * V * C, FEATURES))
        self.decoder = nn.Linear(FEATURES, T * M * V * C)
        self.collapse = collapse

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        features = self.encoder(batch["joints"])
        if self.collapse:
            return {"loss": -mean_pairwise_cosine_with_grad(features)}
        target = batch["joints"].flatten(1)  # healthy: an autoencoder keeps the variety
        return {"loss": nn.functional.mse_loss(self.decoder(features), target)}


def mean_pairwise_cosine_with_grad(features: torch.Tensor) -> torch.Tensor:
    x = nn.functional.normalize(features, dim=1)
    total = x.sum(dim=0)
    n = x.shape[0]
    return ((total * total).sum() - (x * x).sum()) / (n * (n - 1))


CONFIG = dict(epochs=30, batch_size=16, optimizer="sgd", lr=0.5, log_every=2, device="cpu")


@pytest.mark.parametrize("collapse", [True, False])
def test_collapse_warning_on_a_collapsed_run_only(tmp_path, capsys, collapse):
    config = TrainConfig(**{**CONFIG, "lr": 0.5 if collapse else 0.02})
    summary = train(Toy(collapse), _data(), config, tmp_path, quiet=True)
    check = summary["collapse"]
    assert check["effective_rank_start"] > 2
    if collapse:
        assert check["warning"] and "collapsed" in check["warning"]
        assert check["mean_cosine_last"] > 0.95
        assert "warning: the encoder's features look collapsed" in capsys.readouterr().err
    else:
        assert check["warning"] is None
        assert check["effective_rank_last"] > 0.3 * check["effective_rank_start"]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["step"] == 0 and "feature_rank" in records[0]
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert collapse_warning(tmp_path) == check["warning"]


def test_collapse_monitor_waits_for_the_grace_period_and_consecutive_checks():
    monitor = CollapseMonitor()
    monitor.start(rank=30.0, cosine=0.3)
    assert monitor.observe(0.05, rank=2.0, cosine=0.3) is None  # inside the warm-up
    for _ in range(COLLAPSE_CHECKS - 1):
        assert monitor.observe(0.5, rank=2.0, cosine=0.3) is None
    assert "effective rank 2.0" in monitor.observe(0.6, rank=2.0, cosine=0.3)
    assert monitor.observe(0.7, rank=2.0, cosine=0.3) is None  # said once
    healthy = CollapseMonitor()
    healthy.start(rank=30.0, cosine=0.3)
    assert all(healthy.observe(0.5 + i / 10, rank=25.0, cosine=0.3) is None for i in range(5))


def test_mean_pairwise_cosine_helper_agrees_with_the_library():
    features = torch.randn(7, 5)
    assert float(mean_pairwise_cosine_with_grad(features)) == pytest.approx(
        float(mean_pairwise_cosine(features)), abs=1e-6
    )


def test_min_steps_stretches_the_whole_schedule_by_one_factor():
    config = TrainConfig(epochs=200, warmup_epochs=10, milestones=[20, 50], min_steps=800)
    assert epoch_steps(136, config, world=1) == 1  # batch 128, drop_last
    stretched = stretch_to_min_steps(config, steps_per_epoch=1)
    assert stretched.epochs == 800
    assert stretched.warmup_epochs == pytest.approx(40)
    assert stretched.milestones == pytest.approx([80, 200])
    assert stretch_to_min_steps(config, steps_per_epoch=4) is config  # enough steps already
    assert stretch_to_min_steps(TrainConfig(epochs=0, min_steps=800), 1).epochs == 0


def test_pretrain_records_the_stretched_schedule(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["pretrain", "supervised", "--data", "synthetic", "--out", str(out), "--quiet",
         "epochs=1", "batch_size=64", "train.min_steps=6", "encoder.hidden_size=8",
         "data.synthetic.subjects=2", "data.synthetic.takes=1", "data.preprocess.frames=8",
         f"data.cache_dir={tmp_path / 'cache'}"]
    )  # fmt: skip
    assert code in (0, None)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] >= 6 and summary["epochs"] > 1  # one epoch is fewer than 6 steps
    assert f"epochs: {summary['epochs']}" in (out / "config.yaml").read_text()


def test_random_reads_any_methods_config_as_its_untrained_encoder():
    from skelssl.config import load_config

    config = load_config("random", "configs/nwucla/ms2l.yaml")
    recipe = load_config("ms2l", "configs/nwucla/ms2l.yaml")
    assert config.method == "random"
    assert config.encoder == recipe.encoder and config.data == recipe.data


NWUCLA_TRAINING = {"clips": 1020, "takes": 542}  # views 1+2 (datasets README)


@pytest.mark.parametrize(
    "name", ["simclr", "byol", "byol-paper", "ms2l", "crrl-cml", "crrl-ser", "crrl", "supervised"]
)
def test_min_steps_is_each_recipes_own_length_on_nwucla(name):
    """On NW-UCLA itself no recipe is stretched (its headline rows stay as measured), and
    its min_steps is exactly its step count there: the length kept on smaller data."""
    from skelssl.config import load_config

    config = load_config(None, f"configs/nwucla/{name}.yaml")
    multi_view = config.method == "byol" and config.params.multi_view
    items = NWUCLA_TRAINING["takes" if multi_view else "clips"]
    steps = epoch_steps(items, config.train, world=1)
    assert config.train.epochs * steps == config.train.min_steps
    assert stretch_to_min_steps(config.train, steps) is config.train
    smaller = epoch_steps(items // 4, config.train, world=1)
    assert stretch_to_min_steps(config.train, smaller).epochs * smaller >= config.train.min_steps
