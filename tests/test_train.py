"""The training loop: kill-and-resume bit-exactness, checkpoints, metrics, edge cases."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
from torch import nn

from skelssl.data.sampling import TorchSkeletonDataset
from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.methods.base import Method
from skelssl.train import EpochSampler, resolve_device, train
from skelssl.train_config import TrainConfig

T, M, V, C = 4, 1, 3, 2


def _toy_data(count: int = 20, seed: int = 0) -> SkeletonData:
    rng = np.random.default_rng(seed)
    return SkeletonData(
        joints=rng.standard_normal((count, T, M, V, C)).astype(np.float32),
        lengths=np.full(count, T, dtype=np.int64),
        labels=rng.integers(0, 3, count).astype(np.int64),
        subjects=np.zeros(count, dtype=np.int64),
        views=np.zeros(count, dtype=np.int64),
        setups=np.zeros(count, dtype=np.int64),
        performances=np.array([f"p{i}" for i in range(count)]),
        names=np.array([f"s{i}" for i in range(count)]),
        class_names=["a", "b", "c"],
        layout="kinect-v1-20",
        source="toy",
    )


class ToyMethod(Method):
    """Linear + BatchNorm + Dropout encoder; the loss adds noise from batch["generator"],
    so a resume is only exact when the generator, the global RNG (dropout) and the BN
    buffers all come back. Raises KeyboardInterrupt on loss call number ``interrupt_at``."""

    def __init__(
        self, seed: int = 0, interrupt_at: int | None = None, sigint_at: int | None = None
    ):
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(T * M * V * C, 5), nn.BatchNorm1d(5), nn.Dropout(0.2)
        )
        self.head = nn.Linear(5, 3)
        self.interrupt_at = interrupt_at
        self.sigint_at = sigint_at
        self.calls = 0
        self.after_step_progress: list[float] = []
        self.seen_batch_keys: set[str] = set()

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        if self.calls == self.sigint_at:  # like Ctrl-C: the trainer finishes this step
            os.kill(os.getpid(), signal.SIGINT)
        self.seen_batch_keys = set(batch)
        x = batch["joints"]
        noise = torch.randn(x.shape, generator=batch["generator"], device=x.device)
        logits = self.head(self.encoder(x + 0.1 * noise))
        loss = nn.functional.cross_entropy(logits, batch["labels"])
        return {"loss": loss, "logit_norm": logits.norm(dim=1).mean()}

    def after_step(self, progress: float) -> None:
        self.after_step_progress.append(progress)


CONFIG = dict(
    epochs=4,
    batch_size=8,
    lr=0.1,
    warmup_epochs=1,
    weight_decay=1e-3,
    log_every=3,
    device="cpu",
)


def _state(method: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in method.state_dict().items()}


def _metrics(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        record.pop("seq_per_s", None)
        record.pop("seconds", None)
    return records


def test_interrupted_and_resumed_run_ends_bit_identical(tmp_path):
    data, config = _toy_data(), TrainConfig(**CONFIG)  # 20 samples, batch 8: 2 steps/epoch
    straight = ToyMethod()
    summary = train(straight, data, config, tmp_path / "straight", quiet=True)
    assert summary["steps"] == 8 and summary["epochs"] == 4 and summary["world_size"] == 1
    assert np.isfinite(summary["final_loss"])
    assert straight.after_step_progress == pytest.approx([s / 8 for s in range(1, 9)])
    assert straight.seen_batch_keys == {
        "joints",
        "lengths",
        "labels",
        "index",
        "generator",
        "diagnostics",
    }

    interrupted = ToyMethod(interrupt_at=6)  # step 6 = 2nd step of epoch 3: mid-epoch
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, data, config, tmp_path / "resumed", quiet=True, config_dict={"a": 1})
    checkpoint = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert (checkpoint["epoch"], checkpoint["step"], checkpoint["step_in_epoch"]) == (2, 5, 1)
    assert checkpoint["config"] == {"a": 1}
    assert not (tmp_path / "resumed" / "last.pt.tmp").exists()

    resumed = ToyMethod(seed=123)  # different init: the weights must come from last.pt
    summary = train(resumed, data, config, tmp_path / "resumed", resume=True, quiet=True)
    assert summary["steps"] == 8
    final, expected = _state(resumed), _state(straight)
    assert final.keys() == expected.keys()
    for key in expected:
        assert torch.equal(final[key], expected[key]), key
    assert _metrics(tmp_path / "resumed") == _metrics(tmp_path / "straight")


def test_checkpoint_and_metrics_contents(tmp_path):
    config = TrainConfig(**{**CONFIG, "epochs": 2, "optimizer": "lars", "clip_grad": 1.0})
    train(ToyMethod(), _toy_data(), config, tmp_path, quiet=True)
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "epoch", "step"} <= set(checkpoint)
    assert {"torch", "cuda", "numpy", "python", "generator"} <= set(checkpoint["rng"])
    assert checkpoint["optimizer"]["state"], "momentum buffers are saved"
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    step_lines = [r for r in records if "lr" in r]
    epoch_lines = [r for r in records if "lr" not in r]
    assert [r["step"] for r in step_lines] == [0, 3]  # step 0: the untrained encoder's check
    checks = {"feature_rank", "feature_cosine"}
    assert {"step", "epoch", "lr"} | checks == set(step_lines[0])
    assert {"step", "epoch", "lr", "loss", "logit_norm", "seq_per_s"} | checks == set(step_lines[1])
    assert [r["epoch"] for r in epoch_lines] == [1, 2]
    assert {"epoch", "loss", "logit_norm", "seconds"} == set(epoch_lines[0])


def test_zero_epochs_saves_initial_weights(tmp_path):
    method = ToyMethod()
    initial = _state(method)
    summary = train(
        method, _toy_data(), TrainConfig(**{**CONFIG, "epochs": 0}), tmp_path, quiet=True
    )
    assert summary["steps"] == 0 and summary["final_loss"] is None
    saved = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], initial[k]) for k in initial)


def test_keep_epochs_keeps_the_initial_and_listed_epochs_weights(tmp_path):
    method = ToyMethod()
    initial = _state(method)
    config = TrainConfig(**{**CONFIG, "epochs": 3, "keep_epochs": [0, 2]})
    train(method, _toy_data(), config, tmp_path, quiet=True)
    kept = sorted(p.name for p in tmp_path.glob("epoch-*.pt"))
    assert kept == ["epoch-0000.pt", "epoch-0002.pt"]
    load = lambda name: torch.load(tmp_path / name, weights_only=True)  # noqa: E731
    assert all(torch.equal(load("epoch-0000.pt")["model"][k], v) for k, v in initial.items())
    assert load("epoch-0002.pt")["epoch"] == 2 and load("last.pt")["epoch"] == 3
    weight = "encoder.1.weight"
    assert not torch.equal(load("epoch-0002.pt")["model"][weight], initial[weight])
    with pytest.raises(SkelsslError, match="keep_epochs"):
        train(ToyMethod(), _toy_data(), TrainConfig(**{**CONFIG, "keep_epochs": [-1]}), tmp_path / "bad", quiet=True)  # fmt: skip


def test_method_without_trainable_parameters_runs_without_optimizer(tmp_path):
    method = ToyMethod()
    method.requires_grad_(False)
    weights = method.head.weight.clone()
    summary = train(
        method, _toy_data(), TrainConfig(**{**CONFIG, "epochs": 1}), tmp_path, quiet=True
    )
    assert summary["steps"] == 2
    assert torch.equal(method.head.weight, weights)


def test_too_small_dataset_and_missing_checkpoint_are_user_errors(tmp_path):
    with pytest.raises(SkelsslError, match="no full batch"):
        train(ToyMethod(), _toy_data(count=5), TrainConfig(**CONFIG), tmp_path, quiet=True)
    with pytest.raises(SkelsslError, match="no checkpoint"):
        train(ToyMethod(), _toy_data(), TrainConfig(**CONFIG), tmp_path / "x", resume=True)
    with pytest.raises(SkelsslError, match="device"):
        resolve_device("tpu")


def test_torch_dataset_copies_memmap_rows(tmp_path):
    data = _toy_data(count=6)
    path = tmp_path / "joints.npy"
    np.save(path, data.joints)
    data.joints = np.load(path, mmap_mode="r")
    item = TorchSkeletonDataset(data)[4]
    assert item["joints"].shape == (T, M, V, C) and item["joints"].dtype == torch.float32
    assert torch.equal(item["joints"], torch.from_numpy(np.array(data.joints[4])))
    item["joints"] += 1  # a writable copy: the read-only memmap is untouched
    assert not torch.equal(item["joints"], torch.from_numpy(np.array(data.joints[4])))
    assert item["index"].item() == 4 and item["index"].dtype == torch.int64
    assert item["labels"].item() == data.labels[4] and item["lengths"].item() == T


def test_epoch_sampler_shuffles_per_epoch_and_resumes_mid_epoch():
    sampler = EpochSampler(range(10), num_replicas=1, rank=0, seed=3, drop_last=False)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(first) == list(range(10)) and first != list(range(10)) and first != second
    sampler.set_epoch(0, start=4)
    assert list(sampler) == first[4:] and len(sampler) == 6


def test_ctrl_c_stops_after_the_current_step_and_resumes_exactly(tmp_path):
    data, config = _toy_data(), TrainConfig(**CONFIG)
    straight = ToyMethod()
    train(straight, data, config, tmp_path / "straight", quiet=True)
    with pytest.raises(KeyboardInterrupt):
        train(ToyMethod(sigint_at=3), data, config, tmp_path / "resumed", quiet=True)
    checkpoint = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert (checkpoint["epoch"], checkpoint["step"], checkpoint["step_in_epoch"]) == (1, 3, 1)
    resumed = ToyMethod(seed=7)
    train(resumed, data, config, tmp_path / "resumed", resume=True, quiet=True)
    expected = straight.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in resumed.state_dict().items())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_time_budget_stops_after_the_first_epoch_over_it(tmp_path):
    config = TrainConfig(**{**CONFIG, "time_budget": 1e-9})
    summary = train(ToyMethod(), _toy_data(), config, tmp_path, quiet=True)
    assert (summary["epochs"], summary["steps"]) == (1, 2)


class DiagnosingToy(ToyMethod):
    """Adds a diagnostic only when the trainer asks (``batch["diagnostics"]``)."""

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        losses = super().loss(batch)
        if batch["diagnostics"]:
            losses["spread"] = batch["joints"].std() + self.calls  # differs per step
        return losses


def test_diagnostics_come_on_logged_steps_and_average_over_them(tmp_path):
    config = TrainConfig(**{**CONFIG, "epochs": 3})  # 2 steps per epoch, log_every 3
    train(DiagnosingToy(), _toy_data(), config, tmp_path, quiet=True)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    step_lines = [r for r in records if "lr" in r and r["step"] > 0]  # step 0: feature check
    epoch_lines = {r["epoch"]: r for r in records if "lr" not in r}
    assert [r["step"] for r in step_lines] == [3, 6] and all("spread" in r for r in step_lines)
    assert "spread" not in epoch_lines[1]  # steps 1-2: none asked for
    assert epoch_lines[2]["spread"] == pytest.approx(step_lines[0]["spread"], rel=1e-6)
    assert epoch_lines[3]["spread"] == pytest.approx(step_lines[1]["spread"], rel=1e-6)
