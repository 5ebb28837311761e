"""Skeleton BYOL: augmentations, EMA and λ schedule, target BN modes, multi-view sampling,
collapse diagnostics,
the method's forward/backward and the evaluation protocols on tiny data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import savgol_filter as scipy_savgol

from skelssl.augment import (
    camera_view,
    cyclic_shift,
    left_right_drop,
    resample,
    savgol_filter,
    shear,
)
from skelssl.data.sampling import MultiViewDataset
from skelssl.data.types import DataSpec, SkeletonData
from skelssl.dist import ema_update
from skelssl.errors import SkelsslError
from skelssl.evaluation import byol as byol_protocols
from skelssl.losses import byol_loss, soft_target_distillation
from skelssl.methods import METHODS, build_method
from skelssl.methods.byol import BYOL, target_momentum
from skelssl.models import EncoderConfig
from skelssl.models.batchnorm import batch_norms
from skelssl.skeleton import get_layout

LAYOUT = get_layout("kinect-v1-20")
SPEC = DataSpec(layout="kinect-v1-20", num_classes=3, frames=20, bodies=1, channels=3)
TINY_STGCN = EncoderConfig(name="stgcn", width=0.25, use_bones=True, temporal_kernel=3)
TINY_PARAMS = {"hidden_dim": 16, "projection_dim": 8}


def tiny_joints(n: int = 4, frames: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    joints = torch.randn(n, frames, 1, 20, 3, generator=generator)
    lengths = torch.tensor([frames, frames - 4, frames, 9, frames - 1, 17][:n])
    joints[torch.arange(frames)[None, :] >= lengths[:, None]] = 0.0
    return joints, lengths


def tiny_method(**params) -> BYOL:
    return build_method("byol", {**TINY_PARAMS, **params}, TINY_STGCN, SPEC)


# ---------------------------------------------------------------------------- augmentations


def test_shear_with_zero_factors_is_identity():
    joints, lengths = tiny_joints()
    assert torch.equal(shear(joints, 0.0, lengths=lengths), joints)


def test_left_right_drop_zeroes_exactly_one_side():
    joints, _ = tiny_joints(n=6)
    joints = joints + 10.0  # no coordinate is zero before the drop
    dropped = left_right_drop(joints, LAYOUT, p=1.0, generator=torch.Generator().manual_seed(1))
    left, right = list(LAYOUT.left), list(LAYOUT.right)
    for sample in dropped:
        left_zero = bool((sample[..., left, :] == 0).all())
        right_zero = bool((sample[..., right, :] == 0).all())
        assert left_zero != right_zero
        others = [j for j in range(20) if j not in left + right]
        assert (sample[..., others, :] != 0).all()


def test_resampling_rate_one_is_identity_and_rate_changes_length():
    joints, lengths = tiny_joints()
    same, same_lengths = resample(joints, lengths, min_rate=1.0, max_rate=1.0)
    assert torch.equal(same, joints) and torch.equal(same_lengths, lengths)
    faster, faster_lengths = resample(joints, lengths, min_rate=2.0, max_rate=2.0)
    assert torch.equal(faster_lengths, (lengths - 1) // 2 + 1)
    assert torch.allclose(faster[0, 3], joints[0, 6])  # frame j reads frame 2j
    assert (faster[0, faster_lengths[0] :] == 0).all()


def test_savgol_keeps_a_quadratic_and_matches_scipy():
    t = torch.arange(30, dtype=torch.float64)
    quadratic = (0.2 * t**2 - 3 * t + 2)[None, :, None, None, None].expand(1, 30, 1, 2, 3)
    kept = savgol_filter(quadratic, torch.tensor([30]), p=1.0)
    assert torch.allclose(kept, quadratic, atol=1e-9)
    joints, lengths = tiny_joints(frames=30)
    joints = joints.double()
    smoothed = savgol_filter(joints, lengths, p=1.0)
    reference = scipy_savgol(joints[1, : lengths[1]].numpy(), 15, 2, axis=0, mode="interp")
    assert np.allclose(smoothed[1, : lengths[1]].numpy(), reference, atol=1e-9)
    assert (smoothed[1, lengths[1] :] == 0).all()
    assert torch.equal(smoothed[3], joints[3])  # 9 frames < window: unchanged


def test_cyclic_shift_rotates_valid_frames():
    joints, lengths = tiny_joints()
    shifted = cyclic_shift(joints, lengths, generator=torch.Generator().manual_seed(3))
    for i, length in enumerate(lengths.tolist()):
        offsets = [
            o
            for o in range(length)
            if torch.equal(shifted[i, :length], joints[i, :length].roll(-o, 0))
        ]
        assert offsets, f"sample {i} is not a rotation"
        assert (shifted[i, length:] == 0).all()


# ---------------------------------------------------------------------------- EMA, λ, loss


def test_target_momentum_schedule_goes_cosine_from_base_to_one():
    assert target_momentum(0.0, 0.99) == pytest.approx(0.99)
    assert target_momentum(1.0, 0.99) == pytest.approx(1.0)
    assert target_momentum(0.5, 0.99) == pytest.approx(0.995)
    assert target_momentum(0.25, 0.99) == pytest.approx(1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2)


def test_ema_update_formula():
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    expected = 0.9 * target.weight.detach() + 0.1 * online.weight.detach()
    ema_update(target, online, 0.9)
    assert torch.allclose(target.weight, expected)


def test_after_step_applies_eq3_with_current_lambda():
    method = tiny_method()
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(1.0)
    online = next(method.encoder.parameters()).detach().clone()
    target = next(method.target_encoder.parameters()).detach().clone()
    method.after_step(0.5)
    assert torch.allclose(next(method.target_encoder.parameters()), 0.99 * target + 0.01 * online)
    assert float(method.target_momentum) == pytest.approx(0.995)
    method.load_state_dict(tiny_method().state_dict())  # λ back to 0.99 from the buffer
    target = next(method.target_encoder.parameters()).detach().clone()
    online = next(method.encoder.parameters()).detach().clone()
    method.after_step(0.6)
    assert torch.allclose(next(method.target_encoder.parameters()), 0.99 * target + 0.01 * online)


def test_byol_loss_is_normalised_l2():
    p, z = torch.randn(5, 4), torch.randn(5, 4)
    naive = ((p / p.norm(dim=1, keepdim=True) - z / z.norm(dim=1, keepdim=True)) ** 2).sum(1).mean()
    assert torch.allclose(byol_loss(p, z), naive, atol=1e-6)
    assert byol_loss(z, z).item() == pytest.approx(0.0, abs=1e-6)


def test_soft_target_distillation_is_minimal_at_the_teacher():
    teacher = torch.randn(4, 5)
    entropy = soft_target_distillation(teacher, teacher)
    assert soft_target_distillation(teacher + torch.randn(4, 5), teacher) > entropy


# ---------------------------------------------------------------------------- momentum BN


def test_momentum_online_bn_updates_target_statistics_from_online_batch():
    method = tiny_method(
        bn_mode="momentum-online", bn_momentum=0.5, pipelines="conservative",
        min_rate=1.0, max_rate=1.0,
    )  # fmt: skip
    joints, lengths = tiny_joints()
    online_norm = method.encoder.data_norm
    target_norm = method.target_encoder.data_norm
    before = target_norm.running_mean.clone()
    x = torch.cat([joints, joints])
    both = torch.cat([lengths, lengths])
    method.loss({"joints": joints, "lengths": lengths})
    batch_mean = data_norm_input(method, x).mean(dim=(0, 2))
    assert torch.allclose(target_norm.running_mean, 0.5 * before + 0.5 * batch_mean, atol=1e-5)
    assert not target_norm.training  # the target normalises with the EMA statistics
    # the target's forward uses them: changing them changes its output
    method.eval()
    out = method.target(x, both)[1].clone()
    target_norm.running_mean.add_(1.0)
    assert not torch.allclose(method.target(x, both)[1], out)
    assert online_norm.training is False  # method.eval() reached the online network


def data_norm_input(method: BYOL, x: torch.Tensor) -> torch.Tensor:
    """What the ST-GCN's first BN layer sees: (N, V·C, T)."""
    from skelssl.models.stgcn import concat_bones

    inputs = concat_bones(x, method.encoder.parents)
    return inputs.permute(0, 2, 3, 4, 1).reshape(x.shape[0], -1, x.shape[1])


def test_momentum_bn_uses_the_targets_own_statistics():
    method = tiny_method(
        bn_mode="momentum", bn_momentum=0.5, pipelines="conservative", min_rate=1.0, max_rate=1.0
    )
    target_norm = method.target_encoder.data_norm
    first, lengths = tiny_joints()
    second, _ = tiny_joints(seed=3)
    method.loss({"joints": first, "lengths": lengths})  # the first batch initialises them
    first_mean = data_norm_input(method, torch.cat([first, first])).mean(dim=(0, 2))
    assert torch.allclose(target_norm.running_mean, first_mean, atol=1e-5)
    method.loss({"joints": second, "lengths": lengths})  # then Eq. (4) with α = 0.5
    second_mean = data_norm_input(method, torch.cat([second, second])).mean(dim=(0, 2))
    expected = 0.5 * first_mean + 0.5 * second_mean
    assert torch.allclose(target_norm.running_mean, expected, atol=1e-5)
    assert not target_norm.training  # it normalises with these EMA statistics
    # deeper layers too: statistics of the target's own activations, not the online's
    deep = batch_norms(method.target_encoder)[-1]
    assert int(deep.num_batches_tracked) == 2
    method.eval()  # evaluation leaves them alone
    method.target(torch.cat([second, second]), torch.cat([lengths, lengths]))
    assert torch.allclose(target_norm.running_mean, expected, atol=1e-5)


def test_plain_bn_target_uses_batch_statistics():
    method = tiny_method(bn_mode="plain")
    before = method.target_encoder.data_norm.running_mean.clone()
    joints, lengths = tiny_joints()
    method.loss({"joints": joints, "lengths": lengths})
    assert method.target_encoder.data_norm.training
    assert not torch.equal(before, method.target_encoder.data_norm.running_mean)
    assert len(batch_norms(method.encoder)) == len(batch_norms(method.target_encoder))
    assert BYOL.Config().bn_mode == "plain"  # the default


def test_predictor_learning_rate_scale_is_a_parameter_group():
    from skelssl.optim import build_optimizer
    from skelssl.train_config import TrainConfig

    method = tiny_method(predictor_lr_scale=10.0)
    optimizer = build_optimizer(method, TrainConfig(lr=0.1))
    fast = {id(p) for g in optimizer.param_groups if g["lr"] > 0.5 for p in g["params"]}
    slow = {id(p) for g in optimizer.param_groups if g["lr"] < 0.5 for p in g["params"]}
    assert {round(g["lr"], 6) for g in optimizer.param_groups} == {0.1, 1.0}
    assert fast == {id(p) for p in method.predictor.parameters()}
    assert id(method.encoder.data_norm.weight) in slow


# ---------------------------------------------------------------------------- multi-view, method


def tiny_data(performances: list[str]) -> SkeletonData:
    n = len(performances)
    joints = np.zeros((n, 20, 1, 20, 3), dtype=np.float32)
    joints[:, :, :, :, :] = np.arange(n, dtype=np.float32)[:, None, None, None, None] + 1
    return SkeletonData(
        joints=joints, lengths=np.full(n, 20), labels=np.arange(n) % 3,
        subjects=np.zeros(n, int), views=np.arange(n) % 3, setups=np.zeros(n, int),
        performances=np.array(performances), names=np.array([f"s{i}" for i in range(n)]),
        class_names=["a", "b", "c"], layout="kinect-v1-20", source="tiny",
    )  # fmt: skip


def test_multi_view_sampler_returns_two_views_of_one_performance():
    performances = ["p0", "p0", "p0", "p1", "p2", "p2"]
    dataset = MultiViewDataset(tiny_data(performances), seed=0)
    assert len(dataset) == 3
    seen_different = False
    for epoch in range(6):
        dataset.set_epoch(epoch)
        for item in range(len(dataset)):
            sample = dataset[item]
            first, second = int(sample["index"]), int(sample["index_other_view"])
            assert performances[first] == performances[second]
            assert float(sample["joints_other_view"][0, 0, 0, 0]) == second + 1
            seen_different |= first != second
    assert seen_different
    dataset.set_epoch(1)
    assert dataset.views(1) == (3, 3)  # one view: the fallback
    again = MultiViewDataset(tiny_data(performances), seed=0)
    again.set_epoch(1)
    assert dataset.views(0) == again.views(0)  # deterministic by (seed, epoch, item)


def test_forward_backward_on_a_tiny_multi_view_batch():
    assert METHODS["byol"] is BYOL
    method = tiny_method()
    joints, lengths = tiny_joints()
    other, other_lengths = tiny_joints(seed=1)
    batch = {
        "joints": joints, "lengths": lengths, "joints_other_view": other,
        "lengths_other_view": other_lengths, "generator": torch.Generator().manual_seed(0),
    }  # fmt: skip
    losses = method.loss(batch)
    assert 0 <= losses["loss"].item() <= 8  # two terms, each in [0, 4]
    assert "effective_rank" not in losses  # diagnostics only when the trainer asks
    losses["loss"].backward()
    assert all(p.grad is not None for p in method.encoder.parameters())
    assert all(p.grad is None for p in method.target_encoder.parameters())
    assert method.predictor[0].weight.grad.abs().sum() > 0


def test_config_errors_name_the_field():
    with pytest.raises(SkelsslError, match="pipelines"):
        tiny_method(pipelines="both")
    with pytest.raises(SkelsslError, match="aggressive"):
        tiny_method(aggressive=["flip"])
    with pytest.raises(SkelsslError, match="params.views"):
        tiny_method(views="camera")
    with pytest.raises(SkelsslError, match="params.camera.tilt"):
        tiny_method(views="virtual-camera", camera={"tilt": 1})


def test_virtual_camera_views_are_simclrs_camera_with_the_given_settings():
    joints, lengths = tiny_joints()
    camera = {"vary": ["beta"], "max_distance": 0}
    method = tiny_method(views="virtual-camera", camera=camera)
    v1, lengths1, v2, _ = method.views(
        {"joints": joints, "lengths": lengths, "generator": torch.Generator().manual_seed(3)}
    )
    seeded = torch.Generator().manual_seed(3)
    expected = camera_view(joints, LAYOUT, lengths=lengths, generator=seeded, **camera)[0]
    assert torch.equal(v1, expected) and torch.equal(lengths1, lengths)
    assert not torch.allclose(v1, v2)  # two draws of the camera
    assert torch.allclose(v1[..., 1], v2[..., 1], atol=1e-5)  # β turns about y: y is kept


# ---------------------------------------------------------------------------- protocols


def protocol_data(n: int = 12, seed: int = 0) -> SkeletonData:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    joints = rng.normal(size=(n, 8, 1, 20, 3)).astype(np.float32) * 0.1
    joints[np.arange(n), :, :, 5 * labels] += 1.0  # separable classes: one joint moved per class
    data = tiny_data([f"p{i}" for i in range(n)])
    data.joints, data.labels, data.lengths = joints, labels, np.full(n, 8)
    return data


def test_protocols_run_on_tiny_data():
    train, test = protocol_data(), protocol_data(seed=1)
    encoder = tiny_method().encoder
    config = byol_protocols.ProtocolConfig(
        batch_size=6, linear_epochs=2, linear_lr=1.0, semi_epochs=1, semi_lr=0.5,
        fractions=[0.5], samplings=2, distill_epochs=1, distill_lr=0.05,
    )  # fmt: skip
    linear = byol_protocols.linear_evaluation(encoder, train, test, config, device="cpu")
    assert 0 <= linear["top1"] <= 100 and len(linear["loss_curve"]) == 2
    semi = byol_protocols.semi_supervised(encoder, train, test, config, device="cpu")
    assert len(semi[0.5]["runs"]) == 2 and semi[0.5]["n_labelled"] == 6
    teacher = byol_protocols.finetune_classifier(
        encoder, train, np.arange(len(train)), config, seed=0, device=torch.device("cpu")
    )
    student = byol_protocols.distill(
        teacher, tiny_method().encoder, train, test, config, device="cpu"
    )
    assert 0 <= student["top1"] <= 100
    # frozen first third: a finetune with frozen_fraction=1 leaves the encoder unchanged
    frozen = byol_protocols.finetune_classifier(
        encoder,
        train,
        np.arange(8),
        config,
        seed=0,
        device=torch.device("cpu"),
        frozen_fraction=0.999,
    )
    pairs = zip(frozen.encoder.state_dict().values(), encoder.state_dict().values())
    assert all(torch.equal(a, b) for a, b in pairs)


def calibrated(encoder: torch.nn.Module, data: SkeletonData) -> torch.nn.Module:
    """The encoder with BatchNorm running statistics of ``data`` (as after pre-training)."""
    encoder.train()
    with torch.no_grad():
        for _ in range(30):
            encoder(torch.from_numpy(data.joints), torch.from_numpy(data.lengths))
    return encoder.eval()


def test_default_protocol_learning_rates_learn_separable_classes():
    """At their default learning rates (linear: the paper's 30 on the feature-normalised
    head; semi-supervised: 0.1) both protocols clearly beat chance on separable data."""
    train, test = protocol_data(n=48), protocol_data(n=48, seed=1)
    for data in (train, test):
        data.joints[np.arange(48), :, :, 5 * data.labels] += 2.0  # more separable
    torch.manual_seed(0)
    encoder = calibrated(tiny_method().encoder, train)
    config = byol_protocols.ProtocolConfig(
        batch_size=12, linear_epochs=10, semi_epochs=20, fractions=[0.5], samplings=1
    )
    linear = byol_protocols.linear_evaluation(encoder, train, test, config, device="cpu")
    semi = byol_protocols.semi_supervised(encoder, train, test, config, device="cpu")
    assert linear["top1"] > 60 and semi[0.5]["top1"] > 45  # chance: 33 %


# ---------------------------------------------------------------------------- collapse checks

GRU_SPEC = DataSpec(layout="kinect-v1-20", num_classes=4, frames=16, bodies=1, channels=3)
SMALL_GRU = EncoderConfig(name="gru", hidden_size=16, num_layers=1)


def class_data(n: int, seed: int, noise: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Four classes, each a fixed random sequence, plus per-sample noise: (n, 16, 1, 20, 3)."""
    prototypes = torch.randn(4, 16, 1, 20, 3, generator=torch.Generator().manual_seed(123))
    labels = torch.arange(n) % 4
    noise_draw = torch.randn(n, 16, 1, 20, 3, generator=torch.Generator().manual_seed(seed))
    return prototypes[labels] + noise * noise_draw, labels


def knn_accuracy(encoder, train, train_labels, test, test_labels) -> float:
    """1-NN (cosine) accuracy of the frozen encoder's features."""
    encoder.eval()
    with torch.no_grad():
        a = torch.nn.functional.normalize(encoder(train), dim=1)
        b = torch.nn.functional.normalize(encoder(test), dim=1)
    encoder.train()
    return float((train_labels[(b @ a.T).argmax(dim=1)] == test_labels).float().mean())


def train_small_byol(steps: int, oracle: bool, **params) -> tuple[BYOL, dict]:
    """BYOL with a small GRU on :func:`class_data`; ``oracle``: the second view is another
    sample of the same class. Returns the method and the last step's losses (with the
    collapse diagnostics)."""
    torch.manual_seed(0)
    settings = {"hidden_dim": 32, "projection_dim": 16, "pipelines": "conservative",
                "multi_view": False, **params}  # fmt: skip
    method = build_method("byol", settings, SMALL_GRU, GRU_SPEC)
    joints, labels = class_data(64, seed=1)
    trainable = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    losses = {}
    for step in range(steps):
        rows = torch.randperm(64, generator=generator)[:32]
        batch = {"joints": joints[rows], "lengths": torch.full((32,), 16),
                 "generator": generator, "diagnostics": step == steps - 1}  # fmt: skip
        if oracle:  # the positive: a random sample of the same class
            offsets = torch.randint(16, (32,), generator=generator)
            batch["joints_other_view"] = joints[(rows % 4) + 4 * offsets]
        losses = method.loss(batch)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        method.after_step((step + 1) / steps)
    return method, losses


def test_fixed_byol_tells_the_true_partner_from_a_shuffled_one():
    _, losses = train_small_byol(30, oracle=False)
    assert losses["loss_true_partner"] < 0.5 * losses["loss_shuffled_partner"]
    assert losses["target_cosine"] < 0.9
    assert 1 < losses["effective_rank"] <= 32 and 1 < losses["effective_rank_target"] <= 32


def test_oracle_positives_teach_the_classes():
    """Ladder check (3): with same-class positives the machinery must learn the classes."""
    method, _ = train_small_byol(0, oracle=True)
    train, train_labels = class_data(64, seed=1)
    test, test_labels = class_data(64, seed=2)
    before = knn_accuracy(method.encoder, train, train_labels, test, test_labels)
    method, _ = train_small_byol(40, oracle=True)
    after = knn_accuracy(method.encoder, train, train_labels, test, test_labels)
    assert after >= before + 0.06, (before, after)


def test_momentum_bn_from_online_statistics_squashes_the_targets():
    """The paper's wording of Eq. (4) (online statistics) makes every target point the same
    way from the first step; the targets' own statistics (plain, momentum) do not."""
    joints, lengths = tiny_joints(n=6)
    cosines = {}
    for mode in ("plain", "momentum", "momentum-online"):
        torch.manual_seed(0)
        method = tiny_method(bn_mode=mode)
        losses = method.loss({"joints": joints, "lengths": lengths, "diagnostics": True})
        cosines[mode] = float(losses["target_cosine"])
    assert cosines["momentum-online"] > 0.99
    assert cosines["plain"] < 0.9 and cosines["momentum"] < 0.9


def test_collapse_warning_fires_once_past_the_grace_period():
    method = tiny_method()
    collapsed = {"loss_true_partner": torch.tensor(0.2), "loss_shuffled_partner": torch.tensor(0.2),
                 "target_cosine": torch.tensor(0.5)}  # fmt: skip
    method.progress = 0.05  # inside the grace period: silent
    for _ in range(5):
        method.check_collapse(collapsed)
    assert not method.warned_collapse
    method.progress = 0.5
    with pytest.warns(RuntimeWarning, match="collapsed"):
        method.check_collapse(collapsed)
    assert method.warned_collapse
    healthy = {**collapsed, "loss_true_partner": torch.tensor(0.1)}
    method.check_collapse(healthy)
    assert method.bad_diagnostics == 0


def test_random_encoder_estimates_bn_statistics_on_the_training_data():
    data = protocol_data()
    for statistics in ("train", "init"):
        torch.manual_seed(0)
        method = build_method("random", {"bn_statistics": statistics}, TINY_STGCN, SPEC)
        weights = {k: v.clone() for k, v in method.encoder.state_dict().items()}
        method.prepare(data)
        norm = method.encoder.data_norm
        changed = not torch.equal(norm.running_mean, weights["data_norm.running_mean"])
        assert changed == (statistics == "train")
        assert torch.equal(method.encoder.data_norm.weight, weights["data_norm.weight"])
    with pytest.raises(SkelsslError, match="bn_statistics"):
        build_method("random", {"bn_statistics": "test"}, TINY_STGCN, SPEC)
