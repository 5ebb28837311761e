"""MS²L: jigsaw permutations, mean-contrastive loss, ablation switches, training strategies."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from skelssl.config import load_config
from skelssl.data.types import DataSpec, SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluation.ms2l import (
    ActionClassifier,
    StrategyConfig,
    _optimiser,
    build_optimisers,
    check_transfer,
    moving_theta,
    train_recognition,
)
from skelssl.losses import mean_contrastive
from skelssl.methods import METHODS, build_method
from skelssl.methods.ms2l import (
    MS2L,
    inverse_labels,
    jigsaw_permutations,
    observed_counts,
    part_order,
    predicted_counts,
    spatial_jigsaw,
    spatial_jigsaw_sources,
    temporal_jigsaw,
    temporal_jigsaw_source,
)
from skelssl.models import EncoderConfig
from skelssl.skeleton import get_layout

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SPEC = DataSpec(layout="kinect-v1-20", num_classes=3, frames=12, bodies=1, channels=3)
TINY_GRU = EncoderConfig(name="gru", hidden_size=6, num_layers=1)


def tiny_batch(seed: int = 0) -> dict:
    """Random joints (4, 12, 1, 20, 3), zero-padded after varied lengths."""
    generator = torch.Generator().manual_seed(seed)
    joints = torch.randn(4, SPEC.frames, 1, 20, 3, generator=generator)
    lengths = torch.tensor([12, 9, 12, 7])
    joints[torch.arange(SPEC.frames)[None, :] >= lengths[:, None]] = 0.0
    return {"joints": joints, "lengths": lengths, "generator": torch.Generator().manual_seed(1)}


def tiny_method(**params) -> MS2L:
    torch.manual_seed(0)
    return build_method("ms2l", params, TINY_GRU, SPEC)


# ---------------------------------------------------------------------------- jigsaw


def test_jigsaw_permutations_are_a_bijection_with_six_labels():
    orders = jigsaw_permutations(3)
    assert orders.shape == (6, 3)
    assert len({tuple(row) for row in orders.tolist()}) == 6  # label -> order is one-to-one
    assert all(sorted(row) == [0, 1, 2] for row in orders.tolist())
    assert orders[0].tolist() == [0, 1, 2]  # label 0 leaves the sequence as it is
    inverse = inverse_labels(orders)
    for label in range(6):
        composed = orders[label][orders[inverse[label]]]
        assert composed.tolist() == [0, 1, 2]


def test_temporal_jigsaw_is_a_permutation_of_frames_and_invertible():
    batch = tiny_batch()
    x, lengths = batch["joints"], batch["lengths"]
    orders = jigsaw_permutations(3)
    labels = torch.tensor([1, 5, 0, 3])
    source = temporal_jigsaw_source(lengths, labels, orders, SPEC.frames)
    for row in source.tolist():
        assert sorted(row) == list(range(SPEC.frames))
    shuffled = temporal_jigsaw(x, lengths, labels, orders)
    # sample 0 (12 frames, label 1 = order (0, 2, 1)): segment 1 is input segment 2
    assert torch.equal(shuffled[0, 4:8], x[0, 8:12])
    assert torch.equal(shuffled[2], x[2])  # label 0: unchanged
    assert torch.equal(shuffled[3, 6:], x[3, 6:])  # frames beyond 3·⌊7/3⌋ stay
    restored = temporal_jigsaw(shuffled, lengths, inverse_labels(orders)[labels], orders)
    assert torch.equal(restored, x)


def test_spatial_jigsaw_permutes_whole_body_parts_and_is_invertible():
    layout = get_layout("kinect-v1-20")
    orders = jigsaw_permutations(5)
    sources = spatial_jigsaw_sources(layout, orders)
    assert sources.shape == (120, 20)
    assert torch.equal(sources[0], torch.arange(20))
    assert all(sorted(row) == list(range(20)) for row in sources.tolist())
    x = tiny_batch()["joints"]
    labels = torch.tensor([7, 0, 119, 64])
    shuffled = spatial_jigsaw(x, labels, sources)
    restored = spatial_jigsaw(shuffled, inverse_labels(orders)[labels], sources)
    assert torch.equal(restored, x)
    # label 119 = (4, 3, 2, 1, 0): the right leg fills the trunk's slots
    assert torch.equal(
        shuffled[2][..., list(layout.parts["trunk"]), :], x[2][..., [16, 17, 18, 19], :]
    )
    assert sorted(part_order(get_layout("ntu-25")).tolist()) == list(range(25))


# ---------------------------------------------------------------------------- losses


def test_mean_contrastive_matches_a_hand_computation_for_three_views_of_two_samples():
    views = torch.tensor(
        [
            [[1.0, 0.0], [0.0, 2.0]],
            [[1.0, 1.0], [-1.0, 1.0]],
            [[2.0, -1.0], [0.0, 1.0]],
        ]
    )  # (M=3, N=2, D=2)
    temperature = 0.5

    def cosine(u, v):
        return sum(a * b for a, b in zip(u, v)) / math.sqrt(
            sum(a * a for a in u) * sum(b * b for b in v)
        )

    rows = views.tolist()
    means = [[sum(rows[m][n][d] for m in range(3)) / 3 for d in range(2)] for n in range(2)]
    total = 0.0
    for m in range(3):
        for n in range(2):
            scores = [math.exp(cosine(rows[m][n], means[k]) / temperature) for k in range(2)]
            total += -math.log(scores[n] / sum(scores))
    expected = total / 6
    assert mean_contrastive(views, temperature).item() == pytest.approx(expected, rel=1e-5)


def test_observed_frames_are_fifty_of_two_hundred_and_scale_with_length():
    lengths = torch.tensor([200, 100, 40, 2, 1])
    assert observed_counts(lengths, 50, 150).tolist() == [50, 25, 10, 1, 1]


def test_absolute_observation_takes_the_first_real_frames_and_leaves_one_to_predict():
    lengths = torch.tensor([200, 120, 51, 50, 31, 2, 1])
    observed = observed_counts(lengths, 50, 150, "absolute")
    assert observed.tolist() == [50, 50, 50, 49, 30, 1, 1]
    predicted = predicted_counts(lengths, observed, 150, "absolute")
    assert predicted.tolist() == [150, 70, 1, 1, 1, 1, 0]
    assert predicted_counts(lengths, observed, 60, "absolute").tolist()[:2] == [60, 60]
    assert predicted_counts(lengths, observed, 60, "ratio").tolist()[:2] == [150, 70]


def test_masked_view_is_encoded_over_its_observed_frames_only():
    """The motion input (the masked contrastive view) ignores what follows its observed
    frames: the encoder reads only them, so the loss does not change when the padding
    zeros after them are replaced by anything (here: a longer, different clip)."""
    method = tiny_method(tasks=["motion"], observed_frames=3, noise_std=0.0)
    batch = tiny_batch()
    observed = observed_counts(batch["lengths"], 3, 150, "absolute")
    seen = []
    original_forward = method.encoder.forward

    def recording_forward(x, lengths=None, return_sequence=False):
        seen.append(lengths.clone())
        return original_forward(x, lengths, return_sequence)

    method.encoder.forward = recording_forward
    method.loss(batch)
    assert torch.equal(seen[0], observed)
    motion = tiny_method(tasks=["motion"], observed_frames=3, noise_std=0.0)
    feature_a = motion.encoder(batch["joints"], observed)
    changed = batch["joints"].clone()
    changed[:, 3:] = 5.0  # frames after the observed ones
    feature_b = motion.encoder(changed, observed)
    assert torch.allclose(feature_a, feature_b)


def test_motion_reduction_mean_divides_the_sum_by_the_predicted_frames():
    batch = tiny_batch()
    summed = tiny_method(tasks=["motion"], observed_frames=4).loss(batch)["loss_motion"]
    mean = tiny_method(tasks=["motion"], observed_frames=4, motion_reduction="mean")
    averaged = mean.loss(batch)["loss_motion"]
    assert averaged.item() < summed.item() / 2  # 3 to 8 predicted frames per sample
    assert averaged.item() > summed.item() / 9


def test_equations_as_written_weigh_the_motion_term_by_the_coordinates_and_l_c_by_the_views():
    """frame_error=sum is Eq. (1)'s squared norm (60 coordinates: 60x the mean);
    contrastive_reduction=sum is Eq. (3) over each sample's M = 3 views (3x); L_j unchanged."""
    ours = tiny_method(observed_frames=4).loss(tiny_batch())
    written = tiny_method(observed_frames=4, frame_error="sum", contrastive_reduction="sum").loss(
        tiny_batch()
    )
    assert torch.allclose(written["loss_motion"], 60 * ours["loss_motion"], rtol=1e-5)
    assert torch.allclose(written["loss_contrastive"], 3 * ours["loss_contrastive"], rtol=1e-5)
    assert torch.equal(written["loss_jigsaw"], ours["loss_jigsaw"])


def _zero_decoder_loss(motion_target: str, batch: dict) -> float:
    """L_m with h_m's output forced to zeros, so the loss is the targets' own size."""
    method = tiny_method(tasks=["motion"], observed_frames=4, noise_std=0.0)
    method.params.motion_target = motion_target
    original = method.motion_head.forward

    def zero_frames(feature, steps, anchor=None):
        frames = original(feature, steps, None) * 0.0
        return frames if anchor is None else frames + anchor[:, None, :]

    method.motion_head.forward = zero_frames
    return method.loss(batch)["loss_motion"].item()


def _frame_mse_sum(frames: Tensor, lengths, first) -> float:
    """Per-sample sum over frames [first, length) of the frame's mean squared coordinate,
    averaged over samples (Eq. (1) with a zero prediction)."""
    n, t = frames.shape[:2]
    flat = frames.reshape(n, t, -1).pow(2).mean(dim=2)
    return sum(flat[i, first[i] : lengths[i]].sum().item() for i in range(n)) / n


def test_motion_targets_future_whole_and_offset():
    """Target "future" is the future frames themselves, "whole" every real frame, and
    "future-offset" the future minus the last observed frame."""
    batch = tiny_batch()
    x, lengths = batch["joints"], batch["lengths"]
    observed = observed_counts(lengths, 4, 150, "absolute")
    future = _zero_decoder_loss("future", batch)
    whole = _zero_decoder_loss("whole", batch)
    offset = _zero_decoder_loss("future-offset", batch)
    assert future == pytest.approx(_frame_mse_sum(x, lengths, observed), rel=1e-5)
    assert whole == pytest.approx(_frame_mse_sum(x, lengths, [0] * len(x)), rel=1e-5)
    last = x[torch.arange(len(x)), observed - 1][:, None]  # (N, 1, M, V, C)
    assert offset == pytest.approx(_frame_mse_sum(x - last, lengths, observed), rel=1e-5)


def test_frame_head_reads_each_future_frame_from_its_own_encoder_state():
    """motion_head="frame" (Sec. 4.1's one FC layer): the motion input is encoded over the
    whole clip (its future zeroed) and frame j is predicted from the state at frame j, so
    the loss is that of the FC applied to those states; without noise nothing of the future
    reaches the input."""
    batch = tiny_batch()
    method = tiny_method(tasks=["motion"], observed_frames=4, noise_std=0.0, motion_head="frame")
    assert isinstance(method.motion_head, torch.nn.Linear)
    x, lengths = batch["joints"], batch["lengths"]
    observed = observed_counts(lengths, 4, 150, "absolute")
    view = x * (torch.arange(x.shape[1])[None, :] < observed[:, None])[..., None, None, None]
    _, states = method.encoder(view, lengths, return_sequence=True)
    frames = method.motion_head(states)  # (N, T, F)
    n, flat = len(x), x.reshape(len(x), x.shape[1], -1)
    last = flat[torch.arange(n), observed - 1]
    expected = 0.0
    for i in range(n):
        future = slice(int(observed[i]), int(lengths[i]))
        error = (frames[i, future] + last[i] - flat[i, future]).pow(2).mean(dim=1)
        expected += error.sum() / n
    assert method.loss(batch)["loss_motion"].item() == pytest.approx(expected.item(), rel=1e-5)
    every = tiny_method(motion_head="frame")  # with the other tasks, whatever the modes
    for mode in ("temporal", "spatial"):
        every.params.motion_mode = mode
        assert torch.isfinite(every.loss(batch)["loss"])


def test_decoder_without_input_depends_on_the_feature_through_its_state_only():
    method = tiny_method(tasks=["motion"], decoder_input="zeros")
    feature = torch.randn(2, method.encoder.out_dim)
    frames = method.motion_head(feature, 5)
    decoder = method.motion_head
    state = torch.tanh(decoder.initial_state(feature))[None]
    states, _ = decoder.gru(torch.zeros(2, 5, feature.shape[1]), state)
    assert torch.allclose(frames, decoder.to_frame(states))
    fed = tiny_method(tasks=["motion"]).motion_head
    fed.load_state_dict(decoder.state_dict())
    assert not torch.allclose(fed(feature, 5), frames)


def test_projection_hidden_makes_an_mlp_head():
    method = tiny_method(projection_hidden=16)
    assert isinstance(method.projection_head, torch.nn.Sequential)
    assert method.projection_head[0].out_features == 16
    assert torch.isfinite(method.loss(tiny_batch())["loss"])


def test_mixed_contrastive_mode_masks_one_way_and_shuffles_the_other():
    """Table 8's "Spatial P + Temporal J": the masked view of "spatial", the shuffled of
    "temporal" (each transform has its own generator, so the draws match)."""
    batch = tiny_batch()

    def views(mode: str) -> Tensor:
        torch.manual_seed(0)
        method = tiny_method(tasks=["contrastive"], contrastive_mode=mode)
        return method.contrastive_features({**batch, "generator": torch.Generator().manual_seed(2)})

    mixed, spatial, temporal = views("spatial-temporal"), views("spatial"), views("temporal")
    assert torch.allclose(mixed[1], spatial[1]) and torch.allclose(mixed[2], temporal[2])
    assert not torch.allclose(mixed[1], temporal[1])


def test_jigsaw_hidden_makes_an_mlp_head_with_batch_norm():
    method = tiny_method(jigsaw_hidden=16)
    layers = [type(layer) for layer in method.jigsaw_head]
    assert layers == [torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU, torch.nn.Linear]
    assert method.jigsaw_head[-1].out_features == 6  # 3! orders
    out = method.loss(tiny_batch())
    out["loss"].backward()
    assert method.jigsaw_head[0].weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- the method


def test_contrastive_features_are_the_views_the_loss_contrasts():
    method = tiny_method(view_rotation=20.0)
    batch = tiny_batch()
    loss = method.loss({**batch, "generator": torch.Generator().manual_seed(5)})
    views = method.contrastive_features({**batch, "generator": torch.Generator().manual_seed(5)})
    assert views.shape[0] == 3  # original, masked, shuffled
    again = mean_contrastive(method.projection_head(views), method.params.temperature)
    assert torch.allclose(again, loss["loss_contrastive"])
    motion_only = tiny_method(tasks=["motion"]).contrastive_features(batch)
    assert motion_only.shape == views.shape  # the views it would contrast


def test_forward_backward_gives_every_parameter_a_gradient():
    method = tiny_method()
    out = method.loss(tiny_batch())
    assert set(out) == {"loss", "loss_motion", "loss_jigsaw", "loss_contrastive", "jigsaw_accuracy"}
    total = out["loss_motion"] + out["loss_jigsaw"] + out["loss_contrastive"]
    assert out["loss"].item() == pytest.approx(total.item())  # L_self = L_m + L_j + L_c
    out["loss"].backward()
    missing = [name for name, p in method.named_parameters() if p.grad is None]
    assert not missing
    assert torch.isfinite(out["loss"])


def _encoder_inputs(method: MS2L, batch: dict) -> tuple[list[Tensor], dict]:
    """The views ``method.loss`` encodes (in slot order) and the clip its motion loss reads."""
    seen, target = [], {}
    original_forward, original_motion = method.encoder.forward, method.motion_loss

    def recording_forward(x, lengths=None, return_sequence=False):
        seen.extend(x.reshape(-1, *batch["joints"].shape).unbind(0))
        return original_forward(x, lengths, return_sequence)

    def recording_motion(feature, x, lengths, info, states=None):
        target["clip"] = x
        return original_motion(feature, x, lengths, info, states)

    method.encoder.forward, method.motion_loss = recording_forward, recording_motion
    method.loss(batch)
    return seen, target


def _bone_lengths(x: Tensor) -> Tensor:
    """Distances of every joint to joint 0 (rotation-invariant). (N,T,M,V,3) -> (N,T,M,V)."""
    return (x - x[..., :1, :]).norm(dim=-1)


def test_view_rotation_gives_each_input_its_own_rotation_and_the_motion_target_its_copy():
    """The deviation: motion input, jigsaw input and the original view are each rotated
    on their own (distances kept, coordinates changed, no two alike), and the motion loss
    predicts the rotated clip its input was cut from."""
    batch = tiny_batch()
    x = batch["joints"]
    method = tiny_method(view_rotation=30.0, noise_std=0.0, observed_frames=3)
    (masked, shuffled, original), target = _encoder_inputs(method, batch)
    assert not torch.allclose(original, x, atol=1e-3)
    assert torch.allclose(_bone_lengths(original), _bone_lengths(x), atol=1e-5)
    assert torch.allclose(_bone_lengths(target["clip"]), _bone_lengths(x), atol=1e-5)
    assert torch.allclose(masked[:, :3], target["clip"][:, :3], atol=1e-6)  # cut from it
    assert not torch.allclose(masked[:, :3], original[:, :3], atol=1e-3)
    assert not torch.allclose(shuffled, original, atol=1e-3)
    padded = torch.arange(x.shape[1])[None, :] >= batch["lengths"][:, None]
    assert original[padded].abs().max() == 0  # padding stays zero


def test_without_view_rotation_every_input_is_cut_from_the_batch_itself():
    batch = tiny_batch()
    (masked, _, original), target = _encoder_inputs(
        tiny_method(noise_std=0.0, observed_frames=3), batch
    )
    assert torch.equal(original, batch["joints"]) and target["clip"] is batch["joints"]
    assert torch.equal(masked[:, :3], batch["joints"][:, :3])


def _loss_terms(method: MS2L, reference: MS2L) -> dict[str, float]:
    """Loss terms of ``method`` with the weights of ``reference`` where shapes agree."""
    own = method.state_dict()
    shared = {
        k: v for k, v in reference.state_dict().items() if k in own and own[k].shape == v.shape
    }
    method.load_state_dict(shared, strict=False)
    with torch.no_grad():
        out = method.loss(tiny_batch())
    return {k: v.item() for k, v in out.items() if k.startswith("loss_")}


@pytest.mark.parametrize(
    ("switch", "changed"),
    [
        ({"motion_mode": "spatial"}, {"loss_motion"}),
        ({"jigsaw_mode": "spatial"}, {"loss_jigsaw"}),
        ({"contrastive_mode": "spatial"}, {"loss_contrastive"}),
        ({"contrastive_mode": "spatial-temporal"}, {"loss_contrastive"}),
        ({"noise_std": 0.5}, {"loss_motion", "loss_contrastive"}),  # noise is in the masked view
    ],
)
def test_each_ablation_switch_changes_only_its_loss_terms(switch, changed):
    reference = tiny_method()
    base = _loss_terms(tiny_method(), reference)
    varied = _loss_terms(tiny_method(**switch), reference)
    assert set(varied) == set(base)
    for term in base:
        if term in changed:
            assert varied[term] != pytest.approx(base[term], abs=1e-6), term
        else:
            assert varied[term] == pytest.approx(base[term], abs=1e-6), term


@pytest.mark.parametrize(
    "tasks",
    [["motion"], ["jigsaw"], ["contrastive"], ["motion", "jigsaw"], ["jigsaw", "contrastive"]],
)
def test_task_subsets_keep_exactly_their_terms_unchanged(tasks):
    reference = tiny_method()
    base = _loss_terms(tiny_method(), reference)
    subset = _loss_terms(tiny_method(tasks=tasks), reference)
    assert set(subset) == {f"loss_{task}" for task in tasks}
    for term, value in subset.items():
        assert value == pytest.approx(base[term], abs=1e-6)


def test_more_contrastive_views_and_heads_only_for_enabled_tasks():
    method = tiny_method(
        tasks=["contrastive"], contrastive_views=["original", "masked", "masked", "shuffled"]
    )
    assert not hasattr(method, "motion_head") and not hasattr(method, "jigsaw_head")
    out = method.loss(tiny_batch())
    assert set(out) == {"loss", "loss_contrastive"}
    assert torch.isfinite(out["loss"])
    assert tiny_method(jigsaw_mode="spatial").jigsaw_head.out_features == 120


@pytest.mark.parametrize(
    "params",
    [
        {"tasks": []},
        {"tasks": ["motion", "rotation"]},
        {"motion_mode": "sideways"},
        {"contrastive_views": ["original"]},
        {"jigsaw_segments": 1},
        {"masked_parts": 5},
        {"temperature": 0.0},
        {"observation": "relative"},
        {"motion_reduction": "max"},
        {"frame_error": "rms"},
        {"contrastive_reduction": "max"},
        {"motion_target": "past"},
        {"motion_head": "mlp"},
        {"decoder_input": "noise"},
        {"projection_hidden": -1},
        {"jigsaw_hidden": -1},
        {"contrastive_mode": "spatial-sideways"},
        {"contrastive_mode": "temporal-spatial-temporal"},
        {"view_rotation": -5.0},
        {"view_shear": -0.1},
    ],
)
def test_bad_params_raise_a_user_error(params):
    with pytest.raises(SkelsslError):
        build_method("ms2l", params, TINY_GRU, SPEC)


def test_registered_and_configs_load():
    assert METHODS["ms2l"] is MS2L
    # NW-UCLA stretches the paper's decay (every 100 iterations) to every 300, chosen on a
    # validation split (configs/nwucla/ms2l.yaml)
    for folder, step_every in (("nwucla", 300), ("synthetic", 100)):
        config = load_config("ms2l", CONFIGS / folder / "ms2l.yaml")
        assert config.train.optimizer == "adam" and config.train.step_every == step_every
        assert config.encoder.hidden_size == 30 and config.encoder.num_layers == 1


# ---------------------------------------------------------------------------- strategies


def test_moving_theta_rises_linearly_then_stays_at_one():
    assert moving_theta(0, 10) == 0.0
    assert moving_theta(2.5, 10) == pytest.approx(0.25)
    assert moving_theta(10, 10) == 1.0
    assert moving_theta(37, 10) == 1.0
    with pytest.raises(SkelsslError):
        moving_theta(1, 0)


def tiny_data(n: int = 12, seed: int = 0) -> SkeletonData:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % SPEC.num_classes
    joints = rng.normal(size=(n, SPEC.frames, 1, 20, 3)).astype(np.float32)
    joints += labels[:, None, None, None, None].astype(np.float32)  # separable classes
    return SkeletonData(
        joints=joints,
        lengths=np.full(n, SPEC.frames, dtype=np.int64),
        labels=labels.astype(np.int64),
        subjects=np.zeros(n, dtype=np.int64),
        views=np.zeros(n, dtype=np.int64),
        setups=np.zeros(n, dtype=np.int64),
        performances=np.array([str(i) for i in range(n)]),
        names=np.array([f"s{i}" for i in range(n)]),
        class_names=["a", "b", "c"],
        layout="kinect-v1-20",
        source="tiny",
    )


@pytest.mark.parametrize("strategy", ["rand-s", "pretrain", "finetune", "moving", "jointly"])
def test_strategies_train_and_leave_the_given_method_untouched(strategy):
    method = tiny_method()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    config = StrategyConfig(epochs=2, batch_size=6, moving_epochs=2)
    result = train_recognition(strategy, method, tiny_data(), tiny_data(6, seed=1), config)
    assert result["strategy"] == strategy and result["epochs"] == 2
    assert 0 <= result["top1"] <= 100 and result["n_train"] == 12 and result["n_test"] == 6
    assert len(result["self_curve"]) == 2 and all(math.isfinite(v) for v in result["self_curve"])
    if strategy == "moving":
        assert result["theta_curve"][0] < result["theta_curve"][1] <= 1
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())


def test_monitor_scores_every_epoch_without_changing_the_training():
    config = StrategyConfig(epochs=2, batch_size=6, track_self_loss=False)
    plain = train_recognition("rand-s", tiny_method(), tiny_data(), tiny_data(6, seed=1), config)
    watched = train_recognition(
        "rand-s", tiny_method(), tiny_data(), tiny_data(6, seed=1), config,
        monitor=tiny_data(6, seed=2),
    )  # fmt: skip
    assert len(watched["monitor_curve"]) == 2 and "monitor_curve" not in plain
    assert all(0 <= v <= 100 for v in watched["monitor_curve"])
    assert watched["cls_curve"] == plain["cls_curve"] and watched["top1"] == plain["top1"]


def test_classifier_schedule_is_the_papers_step_decay_or_constant():
    """Sec. 4.1: Adam from 0.01, x0.1 every 100 iterations, down to 1e-4; step_every 0
    keeps the lr (the authors' code)."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimiser = _optimiser([parameter], 0.01, 100, "all", StrategyConfig())
    rates = []
    for _ in range(301):
        rates.append(optimiser.adam.param_groups[0]["lr"])
        optimiser.adam.step()
        optimiser.scheduler.step()
    assert rates[99] == pytest.approx(0.01) and rates[100] == pytest.approx(1e-3)
    assert rates[200] == pytest.approx(1e-4) and rates[300] == pytest.approx(1e-4)
    assert _optimiser([parameter], 1e-3, 0, "all", StrategyConfig()).scheduler is None
    with pytest.raises(SkelsslError, match="step_every"):
        StrategyConfig(step_every=-1).validate()
    with pytest.raises(SkelsslError, match="self_encoder needs self_lr"):
        StrategyConfig(self_encoder=True).validate()


def test_self_optimiser_holds_the_heads_or_the_encoder_too():
    """self_lr > 0: L_self's own Adam over its heads (f stays in C's, on the whole loss), or
    with self_encoder over f too (C's Adam then minimises L_cls alone); the default and the
    strategies without L_self keep one Adam."""
    method = tiny_method()
    classifier = ActionClassifier(method.encoder, 3)
    encoder_ids = {id(p) for p in method.encoder.parameters()}
    head_ids = {id(p) for p in method.parameters()} - encoder_ids

    def held(optimiser):
        return {id(p) for p in optimiser.parameters}

    (single,) = build_optimisers("jointly", method, classifier, StrategyConfig())
    assert single.term == "all" and head_ids | encoder_ids <= held(single)
    (rand_s,) = build_optimisers("rand-s", method, classifier, StrategyConfig(self_lr=0.01))
    assert not head_ids & held(rand_s)
    c, own = build_optimisers("jointly", method, classifier, StrategyConfig(self_lr=0.01))
    assert (c.term, own.term) == ("all", "self") and held(own) == head_ids
    assert encoder_ids <= held(c) and own.adam.param_groups[0]["lr"] == 0.01
    config = StrategyConfig(self_lr=0.01, self_step_every=5, self_encoder=True)
    c, own = build_optimisers("moving", method, classifier, config)
    assert (c.term, own.term) == ("cls", "self") and held(own) == head_ids | encoder_ids
    assert encoder_ids <= held(c) and own.scheduler is not None and c.scheduler is None


@pytest.mark.parametrize("self_encoder", [False, True])
def test_jointly_trains_with_its_own_self_optimiser(self_encoder):
    """Both forms run, train the heads and f, and differ from the one-Adam Jointly."""
    method = tiny_method()
    config = StrategyConfig(epochs=2, batch_size=4, self_lr=0.01, self_encoder=self_encoder)
    plain = train_recognition("jointly", method, tiny_data(), tiny_data(6, seed=1),
                              StrategyConfig(epochs=2, batch_size=4))  # fmt: skip
    own = train_recognition("jointly", method, tiny_data(), tiny_data(6, seed=1), config)
    assert len(own["self_curve"]) == 2 and all(np.isfinite(own["self_curve"]))
    assert own["self_curve"] != plain["self_curve"]


def test_pretrain_strategy_freezes_the_encoder_and_the_classifier_is_a_gru():
    method = tiny_method()
    classifier = ActionClassifier(method.encoder, 3, "gru", hidden=5)
    batch = tiny_batch()
    assert classifier(batch["joints"], batch["lengths"]).shape == (4, 3)
    classifier.frozen = True
    classifier(batch["joints"], batch["lengths"]).sum().backward()
    assert all(p.grad is None for p in method.encoder.parameters())
    assert classifier.gru.weight_ih_l0.grad is not None


def test_transfer_needs_the_source_layout():
    method = tiny_method()
    check_transfer(method, tiny_data())
    ntu = build_method("ms2l", None, TINY_GRU, DataSpec("ntu-25", 3, 12, 1, 3))
    with pytest.raises(SkelsslError, match="layout"):
        check_transfer(ntu, tiny_data())
