"""Two Gloo processes against one process on the same global batch.

One spawn (module fixture) runs everything on both ranks and saves the results; the
tests compare them with single-process references computed here.
"""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from skelssl import dist
from skelssl.data.types import SkeletonData
from skelssl.methods.base import Method
from skelssl.train import train
from skelssl.train_config import TrainConfig

WORLD = 2
GLOBAL_BATCH = 8
DIM_IN, DIM_OUT = 6, 4
T, M, V, C = 3, 1, 2, 2
TRAIN_CONFIG = dict(
    epochs=2, batch_size=8, lr=0.5, weight_decay=0.0, log_every=1, device="cpu", seed=5
)


def _views() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x1 = torch.randn(GLOBAL_BATCH, DIM_IN, generator=generator, dtype=torch.float64)
    x2 = x1 + 0.3 * torch.randn(GLOBAL_BATCH, DIM_IN, generator=generator, dtype=torch.float64)
    return x1, x2


def _projector() -> nn.Module:
    torch.manual_seed(1)
    return nn.Linear(DIM_IN, DIM_OUT).double()


def _logsumexp_loss(z: torch.Tensor) -> torch.Tensor:
    """Mean over local anchors of log Σ_j exp(z_i · g_j) against the gathered set g."""
    return torch.logsumexp(z @ dist.gather_with_grad(z).T, dim=1).mean()


def _toy_data() -> SkeletonData:
    rng = np.random.default_rng(0)
    count = 16
    return SkeletonData(
        joints=rng.standard_normal((count, T, M, V, C)).astype(np.float32),
        lengths=np.full(count, T, dtype=np.int64),
        labels=rng.integers(0, 2, count).astype(np.int64),
        subjects=np.zeros(count, dtype=np.int64),
        views=np.zeros(count, dtype=np.int64),
        setups=np.zeros(count, dtype=np.int64),
        performances=np.array([str(i) for i in range(count)]),
        names=np.array([str(i) for i in range(count)]),
        class_names=["a", "b"],
        layout="kinect-v1-20",
        source="toy",
    )


class NoiseFreeMethod(Method):
    """Per-sample mean loss, no BatchNorm: DDP on 2 ranks = 1 process on the global batch."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(T * M * V * C, 2))

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        logits = self.encoder(batch["joints"])
        return {"loss": nn.functional.cross_entropy(logits, batch["labels"])}


def _local(x: torch.Tensor, rank: int) -> torch.Tensor:
    rows = GLOBAL_BATCH // WORLD
    return x[rank * rows : (rank + 1) * rows]


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    got_rank, world, device = dist.setup("cpu")
    assert (got_rank, world, device.type) == (rank, WORLD, "cpu") and dist.is_distributed()
    x1, x2 = _views()
    results = {"gathered": dist.gather_with_grad(_local(x1, rank)), "is_main": dist.is_main()}

    model = _projector()
    ddp = DistributedDataParallel(model)
    _logsumexp_loss(ddp(_local(x1, rank))).backward()
    results["own_grads"] = [p.grad.clone() for p in model.parameters()]

    try:
        from skelssl.losses import nt_xent
    except ImportError:
        nt_xent = None
    if nt_xent is not None:
        model = _projector()
        ddp = DistributedDataParallel(model)
        z1, z2 = ddp(torch.cat([_local(x1, rank), _local(x2, rank)])).chunk(2)
        loss = nt_xent(z1, z2, 0.5, gather=True)
        loss.backward()
        results["nt_xent_loss"] = dist.all_reduce_mean(loss.detach())
        results["nt_xent_grads"] = [p.grad.clone() for p in model.parameters()]

    method = NoiseFreeMethod()
    results["summary"] = train(
        method, _toy_data(), TrainConfig(**TRAIN_CONFIG), out_dir, quiet=True
    )
    results["weights"] = {k: v.clone() for k, v in method.state_dict().items()}
    torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.cleanup()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory) -> tuple[list[dict], object]:
    out_dir = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out_dir)), nprocs=WORLD, join=True)
    return [torch.load(out_dir / f"rank{r}.pt", weights_only=False) for r in range(WORLD)], out_dir


@pytest.mark.slow
def test_gathered_tensor_is_the_concatenation(ddp_results):
    results, _ = ddp_results
    x1, _ = _views()
    for rank, result in enumerate(results):
        assert torch.equal(result["gathered"], x1)
        assert result["is_main"] == (rank == 0)


@pytest.mark.slow
def test_gather_with_grad_gives_single_process_gradients(ddp_results):
    results, _ = ddp_results
    x1, _ = _views()
    model = _projector()
    _logsumexp_loss(model(x1)).backward()  # one process, global batch: gather is identity
    for result in results:
        for got, expected in zip(result["own_grads"], model.parameters()):
            torch.testing.assert_close(got, expected.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_nt_xent_gathered_equals_single_process(ddp_results):
    losses = pytest.importorskip("skelssl.losses")
    results, _ = ddp_results
    x1, x2 = _views()
    model = _projector()
    loss = losses.nt_xent(model(x1), model(x2), 0.5, gather=True)
    loss.backward()
    for result in results:  # nt_xent computes in float32
        torch.testing.assert_close(result["nt_xent_loss"], loss.detach(), rtol=1e-5, atol=1e-6)
        for got, expected in zip(result["nt_xent_grads"], model.parameters()):
            torch.testing.assert_close(got, expected.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_ddp_training_matches_one_process(ddp_results, tmp_path):
    results, out_dir = ddp_results
    assert results[0]["summary"]["world_size"] == WORLD and results[0]["summary"]["steps"] == 4
    assert torch.load(out_dir / "last.pt", weights_only=True)["step"] == 4
    # 4 logged steps + 2 epochs + the untrained encoder's feature check at step 0
    assert len((out_dir / "metrics.jsonl").read_text().splitlines()) == 4 + 2 + 1
    method = NoiseFreeMethod()
    summary = train(method, _toy_data(), TrainConfig(**TRAIN_CONFIG), tmp_path, quiet=True)
    assert summary["steps"] == 4
    for result in results:
        for key, value in method.state_dict().items():
            torch.testing.assert_close(result["weights"][key], value, rtol=1e-5, atol=1e-6)
