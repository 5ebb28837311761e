"""benchmarks/gpu_suite.py: its --smoke run on CPU, and the CUDA tests it runs on a GPU
(marked ``cuda``; they skip with a reason where no CUDA device is present)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from skelssl import augment
from skelssl.errors import SkelsslError
from skelssl.skeleton import get_layout
from skelssl.train import train
from skelssl.train_config import TrainConfig
from test_train import CONFIG, ToyMethod, _metrics, _state, _toy_data

REPO = Path(__file__).resolve().parents[1]
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.slow
def test_gpu_suite_smoke_runs_every_step_on_cpu(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_suite.py", "--smoke", "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_suite.json").read_text())
    names = [row["recipe"] for row in report["recipes"]]
    assert names == [
        "byol",
        "crrl-cml",
        "crrl",
        "ms2l",
        "ms2l-2x300",
        "random-ms2l",
        "random-2x300",
        "simclr",
        "simclr-bone",
        "simclr-motion",
    ]
    evaluated = [row for row in report["recipes"] if "linear" in row]
    assert len(evaluated) == 9 and all(0 <= row["knn"] <= 100 for row in evaluated)
    methods = ["byol", "crrl", "ms2l", "ms2l", "random", "random", *["simclr"] * 3]
    assert [row["method"] for row in report["summary_rows"]] == methods
    (fused,) = report["ensembles"]  # the recommended recipe's three streams, fused
    assert fused["members"] == ["simclr", "simclr-bone", "simclr-motion"]
    assert (
        0 <= fused["linear"] <= 100
        and "Score-level ensembles" in (tmp_path / "gpu_suite.md").read_text()
    )
    assert report["encoders"][0]["sequences_per_second"] > 0
    text = (tmp_path / "gpu_suite.md").read_text()
    assert "| byol |" in text and "- ms2l-2x300 − random-2x300: " in text  # the gap to random
    assert [row["epochs"] for row in report["recipes"] if row["method"] == "random"] == [0, 0]
    closing = done.stdout.splitlines()[-(len(names) + 2) :]  # the closing table, then "wrote"
    assert closing[0].split()[0] == "recipe" and closing[-1].startswith("wrote ")


def test_unknown_amp_dtype_is_a_config_error(tmp_path):
    config = TrainConfig(**{**CONFIG, "amp_dtype": "float8"})
    with pytest.raises(SkelsslError, match="train.amp_dtype"):
        train(ToyMethod(), _toy_data(), config, tmp_path, quiet=True)


# ----------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("amp_dtype", ["bfloat16", "float16"])
def test_amp_train_step_on_cuda(tmp_path, amp_dtype):
    config = TrainConfig(**{**CONFIG, "device": "cuda", "epochs": 2, "amp_dtype": amp_dtype})
    summary = train(ToyMethod(), _toy_data(), config, tmp_path, quiet=True)
    assert summary["device"].startswith("cuda") and summary["final_loss"] < 10
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)
    assert bool(checkpoint["scaler"]) == (amp_dtype == "float16")  # bf16 needs no scaler


@pytest.mark.cuda
@requires_cuda
def test_stgcn_bf16_train_step_close_to_fp32_on_cuda():
    from skelssl.data.types import DataSpec
    from skelssl.models import build_encoder, encoder_preset

    spec = DataSpec("kinect-v1-20", 10, 32, 1, 3)
    torch.manual_seed(0)
    encoder = build_encoder(encoder_preset("stgcn-0.25"), spec).cuda()
    x = torch.randn(8, 32, 1, 20, 3, device="cuda")
    with torch.no_grad():
        reference = encoder.eval()(x)
        with torch.autocast("cuda", torch.bfloat16):
            low = encoder(x)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), reference, rtol=0.05, atol=0.05)
    encoder.train()
    with torch.autocast("cuda", torch.bfloat16):
        loss = encoder(x).float().square().mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)


@pytest.mark.cuda
@requires_cuda
def test_gru_encoder_bf16_autocast_with_padding_on_cuda():
    from skelssl.data.types import DataSpec
    from skelssl.models import build_encoder, encoder_preset

    spec = DataSpec("kinect-v1-20", 10, 20, 1, 3)
    encoder = build_encoder(encoder_preset("gru-crrl"), spec).cuda()
    x = torch.randn(4, 20, 1, 20, 3, device="cuda")
    lengths = torch.tensor([20, 15, 20, 9], device="cuda")
    with torch.autocast("cuda", torch.bfloat16):
        features = encoder(x, lengths)
    features.float().square().mean().backward()
    assert torch.isfinite(features.float()).all()


@pytest.mark.cuda
@requires_cuda
def test_trainer_on_cuda_resumes_bit_exact(tmp_path):
    config = TrainConfig(**{**CONFIG, "device": "cuda", "amp_dtype": "bfloat16"})
    straight = ToyMethod()
    train(straight, _toy_data(), config, tmp_path / "straight", quiet=True)
    with pytest.raises(KeyboardInterrupt):
        train(ToyMethod(interrupt_at=6), _toy_data(), config, tmp_path / "resumed", quiet=True)
    resumed = ToyMethod(seed=123)
    train(resumed, _toy_data(), config, tmp_path / "resumed", resume=True, quiet=True)
    final, expected = _state(resumed), _state(straight)
    for key in expected:
        assert torch.equal(final[key], expected[key]), key
    assert _metrics(tmp_path / "resumed") == _metrics(tmp_path / "straight")


class _DrawOnCPU:
    """``torch`` as the augmentations see it, except that random draws come from a CPU
    generator and move to the requested device: the same draws on CPU and CUDA."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def __getattr__(self, name):
        return getattr(torch, name)

    def rand(self, *shape, generator=None, device=None, **kwargs):
        return torch.rand(*shape, generator=self.generator, **kwargs).to(device)

    def randn(self, *shape, generator=None, device=None, **kwargs):
        return torch.randn(*shape, generator=self.generator, **kwargs).to(device)


AUGMENTATIONS = {
    "rotate": lambda x, n: augment.rotate(x, lengths=n),
    "shear": lambda x, n: augment.shear(x, 0.5, lengths=n),
    "gaussian_noise": lambda x, n: augment.gaussian_noise(x, 0.01, lengths=n),
    "left_right_drop": lambda x, n: augment.left_right_drop(x, get_layout("kinect-v1-20")),
    "temporal_crop_resize": lambda x, n: augment.temporal_crop_resize(x, n, out_frames=12)[0],
    "temporal_mask": lambda x, n: augment.temporal_mask(x, n),
    "virtual_camera": lambda x, n: augment.virtual_camera(x, get_layout("kinect-v1-20"), lengths=n),
}


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentation_on_cuda_equals_cpu_for_the_same_draws(monkeypatch, name):
    x = torch.randn(6, 16, 1, 20, 3, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([16, 12, 9, 16, 5, 14])
    outputs = {}
    for device in ("cpu", "cuda"):
        monkeypatch.setattr(augment, "torch", _DrawOnCPU(torch.Generator().manual_seed(7)))
        outputs[device] = AUGMENTATIONS[name](x.to(device), lengths.to(device)).cpu()
    torch.testing.assert_close(outputs["cuda"], outputs["cpu"], rtol=1e-4, atol=1e-5)
