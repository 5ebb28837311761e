"""Methods registry, SimCLR with a virtual camera, and the supervised / random baselines."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from skelssl.augment import virtual_camera
from skelssl.config import load_config
from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.methods import (
    METHODS,
    RandomInit,
    SimCLR,
    SimCLRConfig,
    Supervised,
    SupervisedConfig,
    build_method,
)
from skelssl.methods.byol import BYOL
from skelssl.methods.byol import augment as byol_augment
from skelssl.models import EncoderConfig
from skelssl.skeleton import get_layout

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SPEC = DataSpec(layout="kinect-v1-20", num_classes=3, frames=8, bodies=1, channels=3)
TINY_GRU = EncoderConfig(name="gru", hidden_size=8, num_layers=1)


def tiny_batch(n: int = 6, seed: int = 0) -> dict:
    """Random joints (N, 8, 1, 20, 3), zero-padded after varied lengths."""
    generator = torch.Generator().manual_seed(seed)
    joints = torch.randn(n, SPEC.frames, SPEC.bodies, 20, 3, generator=generator)
    lengths = torch.tensor([8, 6, 8, 5, 7, 8][:n])
    joints[torch.arange(SPEC.frames)[None, :] >= lengths[:, None]] = 0.0
    return {
        "joints": joints,
        "lengths": lengths,
        "labels": torch.arange(n) % SPEC.num_classes,
        "index": torch.arange(n),
        "generator": torch.Generator().manual_seed(seed + 1),
    }


def simclr(**params) -> SimCLR:
    return build_method("simclr", SimCLRConfig(**params), TINY_GRU, SPEC)


# ---------------------------------------------------------------- registry


def test_methods_dict_and_unknown_name():
    assert METHODS["simclr"] is SimCLR and METHODS["supervised"] is Supervised
    assert METHODS["random"] is RandomInit
    with pytest.raises(SkelsslError, match="unknown method 'simclrr'.*random.*simclr.*supervised"):
        build_method("simclrr", None, TINY_GRU, SPEC)


def test_build_method_params_from_dict_strict_and_default_encoder():
    method = build_method("simclr", {"temperature": 0.2}, None, SPEC)
    assert method.params.temperature == 0.2
    assert method.encoder.out_dim == 2 * 256  # the default preset: 2-layer bidirectional GRU 256
    with pytest.raises(SkelsslError, match="unknown key params.temprature"):
        build_method("simclr", {"temprature": 0.2}, TINY_GRU, SPEC)


@pytest.mark.parametrize(
    "bad", [{"temperature": 0.0}, {"vary_angles": ["alpha", "delta"]}, {"noise_std": -1.0}]
)
def test_simclr_rejects_bad_params(bad):
    with pytest.raises(SkelsslError, match="params"):
        build_method("simclr", bad, TINY_GRU, SPEC)


# ---------------------------------------------------------------- SimCLR


def test_simclr_forward_backward_finite():
    method = simclr()
    out = method.loss(tiny_batch())
    assert set(out) == {"loss", "contrastive_accuracy"}
    assert torch.isfinite(out["loss"]) and out["loss"].item() > 0
    assert not out["contrastive_accuracy"].requires_grad
    assert 0.0 <= out["contrastive_accuracy"].item() <= 1.0
    out["loss"].backward()
    for part in (method.encoder, method.projector):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0
    assert method.projector[-1].out_features == 128  # SimCLR's projection size


def test_simclr_is_reproducible_from_the_batch_generator():
    torch.manual_seed(0)
    method = simclr()
    first = method.loss(tiny_batch(seed=4))["loss"]
    second = method.loss(tiny_batch(seed=4))["loss"]
    other = method.loss(tiny_batch(seed=5))["loss"]
    assert first.item() == pytest.approx(second.item(), rel=1e-6)
    assert first.item() != pytest.approx(other.item(), rel=1e-6)


def test_simclr_views_follow_the_virtual_camera_settings():
    batch = tiny_batch()
    x, lengths = batch["joints"], batch["lengths"]
    layout = get_layout(SPEC.layout)
    settings = dict(angle_step=90.0, max_distance=2, unit_distance=0.5, per_frame=True)
    method = simclr(vary_angles=["alpha", "beta"], **settings)
    view = method.make_view(x, lengths, torch.Generator().manual_seed(7))[0]

    def camera(vary):
        seeded = torch.Generator().manual_seed(7)
        return virtual_camera(x, layout, lengths=lengths, vary=vary, generator=seeded, **settings)

    no_gamma, with_gamma = camera(("alpha", "beta")), camera(("alpha", "beta", "gamma"))
    assert torch.equal(view, no_gamma)
    assert not torch.allclose(view, with_gamma)


def test_simclr_camera_off_only_centres_and_keeps_padding_zero():
    batch = tiny_batch()
    x, lengths = batch["joints"], batch["lengths"]
    still = simclr(vary_angles=[], max_distance=0)
    view = still.make_view(x, lengths, torch.Generator().manual_seed(0))[0]
    centre = x[:, :1, :1, get_layout(SPEC.layout).center : get_layout(SPEC.layout).center + 1]
    valid = (torch.arange(SPEC.frames)[None, :] < lengths[:, None])[:, :, None, None, None]
    assert torch.allclose(view, (x - centre) * valid, atol=1e-6)  # Gao et al. Eq. (1) only
    # Holding angles fixed: only γ (about z) keeps z; only α (about x) keeps x.
    only_gamma = simclr(vary_angles=["gamma"], max_distance=0)
    only_alpha = simclr(vary_angles=["alpha"], max_distance=0)
    for method, axis in ((only_gamma, 2), (only_alpha, 0)):
        turned = method.make_view(x, lengths, torch.Generator().manual_seed(3))[0]
        assert torch.allclose(turned[..., axis], view[..., axis], atol=1e-5)
        assert not torch.allclose(turned, view, atol=1e-3)
    moving = simclr().make_view(x, lengths, torch.Generator().manual_seed(0))[0]
    assert not torch.allclose(moving, view)
    assert (moving[~valid.expand_as(moving)] == 0).all()


def test_simclr_can_draw_skeleton_byols_views():
    batch = {**tiny_batch(), "generator": torch.Generator().manual_seed(2)}
    v1, lengths1, v2, lengths2 = simclr(views="skeleton-byol").views(batch)
    expected = BYOL.Config()
    seeded = torch.Generator().manual_seed(2)
    x, lengths = batch["joints"], batch["lengths"]
    layout = get_layout(SPEC.layout)
    first = byol_augment(x, lengths, expected.aggressive, layout, expected, seeded)
    second = byol_augment(x, lengths, expected.conservative, layout, expected, seeded)
    assert torch.equal(v1, first[0]) and torch.equal(lengths2, second[1])
    assert torch.equal(v2, second[0]) and torch.equal(lengths1, first[1])
    with pytest.raises(SkelsslError, match="params.views"):
        simclr(views="byol")


def test_simclr_extra_augmentations_change_the_view():
    batch = tiny_batch()
    x, lengths = batch["joints"], batch["lengths"]
    plain = simclr().make_view(x, lengths, torch.Generator().manual_seed(0))[0]
    sheared = simclr(shear_magnitude=0.5).make_view(x, lengths, torch.Generator().manual_seed(0))[0]
    noisy = simclr(noise_std=0.1).make_view(x, lengths, torch.Generator().manual_seed(0))[0]
    assert not torch.allclose(plain, sheared) and not torch.allclose(plain, noisy)


# ---------------------------------------------------------------- baselines


def separable_batch(n: int = 12) -> dict:
    """Class k sequences are constant offsets (k - 1) + small noise: linearly separable."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % SPEC.num_classes
    joints = (labels.float() - 1.0)[:, None, None, None, None] + 0.1 * torch.randn(
        n, SPEC.frames, 1, 20, 3, generator=generator
    )
    return {"joints": joints, "lengths": torch.full((n,), SPEC.frames), "labels": labels}


def test_supervised_loss_decreases():
    torch.manual_seed(0)
    method = build_method(
        "supervised", SupervisedConfig(rotation_degrees=0, shear_magnitude=0), TINY_GRU, SPEC
    )
    optimizer = torch.optim.Adam(method.parameters(), lr=0.02)
    batch = separable_batch()
    losses = []
    for _ in range(25):
        out = method.loss(batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(out["loss"].item())
    assert losses[-1] < 0.5 * losses[0]
    assert method.loss(batch)["accuracy"].item() == 1.0


def test_supervised_augments_only_in_training():
    method = build_method("supervised", None, TINY_GRU, SPEC)
    assert method.params.rotation_degrees > 0 and method.params.shear_magnitude > 0
    batch = {**tiny_batch(), "generator": torch.Generator().manual_seed(0)}
    augmented = method.augment(batch["joints"], batch["lengths"], torch.Generator().manual_seed(0))
    assert not torch.allclose(augmented, batch["joints"])
    method.eval()
    first = method.loss({**batch, "generator": torch.Generator().manual_seed(1)})["loss"]
    second = method.loss({**batch, "generator": torch.Generator().manual_seed(2)})["loss"]
    assert first.item() == second.item()  # eval: no augmentation, generator unused
    assert method(batch["joints"], batch["lengths"]).shape == (6, SPEC.num_classes)


def test_random_init_has_an_encoder_and_refuses_to_train():
    method = build_method("random", None, TINY_GRU, SPEC)
    assert method.encoder(tiny_batch()["joints"]).shape == (6, method.encoder.out_dim)
    with pytest.raises(SkelsslError, match="epochs=0"):
        method.loss(tiny_batch())


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("path", "method", "optimizer"),
    [
        ("nwucla/simclr.yaml", "simclr", "lars"),
        ("synthetic/simclr.yaml", "simclr", "lars"),
        ("nwucla/supervised.yaml", "supervised", "adam"),
    ],
)
def test_configs_load_strictly(path, method, optimizer):
    config = load_config(path=CONFIGS / path)
    assert config.method == method and config.train.optimizer == optimizer
    if path.startswith("nwucla"):
        assert config.data.split == "xview" and config.data.preprocess.frames == 50
    if method == "simclr":
        assert config.train.lr_scaling == "linear"
