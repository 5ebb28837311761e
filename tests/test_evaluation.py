"""Evaluation protocols on tiny hand-made data and tiny CPU encoders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.generic import (
    EvalConfig,
    authors_lr_factor,
    finetune,
    knn,
    knn_class_scores,
    knn_on_features,
    linear_probe,
    linear_probe_on_features,
    linear_test_curve_diagnostic,
    supervised_baseline,
)
from skelssl.evaluation.metrics import classification_accuracy, confusion_matrix, effective_rank

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny ops on a shared, busy machine: one thread avoids OpenMP barrier stalls."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_data(joints: np.ndarray, labels, num_classes: int, lengths=None) -> SkeletonData:
    n = joints.shape[0]
    lengths = (
        np.full(n, joints.shape[1], dtype=np.int64) if lengths is None else np.asarray(lengths)
    )
    return SkeletonData(
        joints=joints.astype(np.float32),
        lengths=lengths.astype(np.int64),
        labels=np.asarray(labels, dtype=np.int64),
        subjects=np.full(n, -1, dtype=np.int64),
        views=np.full(n, -1, dtype=np.int64),
        setups=np.full(n, -1, dtype=np.int64),
        performances=np.array([""] * n),
        names=np.array([f"s{i}" for i in range(n)]),
        class_names=[f"class{c}" for c in range(num_classes)],
        layout="test",
        source="test",
    )


def separable_data(n_per_class: int, num_classes: int, seed: int, frames: int = 6) -> SkeletonData:
    """Sequences (T, 1, 4, 3): each class a fixed pose plus noise; lengths vary, zero padded."""
    prototypes = np.random.default_rng(1234).normal(size=(num_classes, 1, 4, 3)) * 2
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), n_per_class)
    lengths = rng.integers(3, frames + 1, size=labels.size)
    joints = prototypes[labels][:, None] + 0.3 * rng.normal(size=(labels.size, frames, 1, 4, 3))
    joints[np.arange(frames)[None, :] >= lengths[:, None]] = 0
    return make_data(joints, labels, num_classes, lengths)


class FirstFrameFeatures(nn.Module):
    """Features = the x coordinate of every joint in frame 0, body 0: (N,T,M,V,C) -> (N, V)."""

    def __init__(self, joints: int):
        super().__init__()
        self.out_dim = joints
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x, lengths=None):
        return x[:, 0, 0, :, 0] + 0 * self.unused


class MeanPoolEncoder(nn.Module):
    """Mean over valid frames, flatten, linear, BatchNorm, ReLU: (N,T,M,V,C) -> (N, D)."""

    def __init__(self, in_features: int = 12, out_dim: int = 8, seed: int = 0):
        super().__init__()
        self.out_dim = out_dim
        self.linear = nn.Linear(in_features, out_dim)
        self.norm = nn.BatchNorm1d(out_dim)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.linear.weight.copy_(
                torch.randn(self.linear.weight.shape, generator=generator) * 0.5
            )
            self.linear.bias.zero_()

    def forward(self, x, lengths=None):
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], device=x.device)
        valid = (torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None]).to(x.dtype)
        pooled = (x * valid[:, :, None, None, None]).sum(1) / lengths[:, None, None, None]
        return torch.relu(self.norm(self.linear(pooled.flatten(1))))


# ---------------------------------------------------------------------------- accuracy
def test_top5_on_a_tiny_example():
    scores = torch.tensor(
        [
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.1],  # label 0: top-1 hit
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.1],  # label 4: 5th place, top-5 hit
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.1],  # label 5: last, miss
            [0.1, 0.2, 0.3, 0.9, 0.5, 0.0],  # label 3: top-1 hit
        ]
    )
    result = classification_accuracy(scores, torch.tensor([0, 4, 5, 3]))
    assert result["top1"] == pytest.approx(50.0)
    assert result["top5"] == pytest.approx(75.0)


def test_top5_equals_top1_with_fewer_than_five_classes():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.2, 0.3, 0.1]])
    result = classification_accuracy(scores, torch.tensor([0, 1, 1]))
    assert result["top1"] == pytest.approx(200 / 3)
    assert result["top5"] == result["top1"]


def test_confusion_matrix_counts_true_by_predicted():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    with pytest.raises(SkelsslError):
        confusion_matrix([0, 3], [0, 1], 3)


# ---------------------------------------------------------------------------- kNN
def test_knn_cosine_and_euclidean_disagree_on_a_crafted_example():
    bank = np.array([[1.0, 0.0], [10.0, 1.0]])  # class 0 near, class 1 same direction
    query = np.array([[1.0, 0.1]])
    cosine = knn_on_features(
        bank, [0, 1], query, [0], 2, EvalConfig(), device=CPU, return_predictions=True
    )
    euclid = knn_on_features(
        bank,
        [0, 1],
        query,
        [0],
        2,
        EvalConfig(knn_metric="euclidean"),
        device=CPU,
        return_predictions=True,
    )
    assert cosine["predictions"] == [1] and cosine["top1"] == 0.0
    assert euclid["predictions"] == [0] and euclid["top1"] == 100.0
    assert (cosine["k"], cosine["metric"], cosine["weighted"]) == (1, "cosine", False)
    assert euclid["metric"] == "euclidean"


def test_knn_k1_predictions_on_hand_made_features():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    bank_labels = np.array([0, 1, 2, 3])
    queries = np.array([[0.9, 0.2], [0.1, -2.0], [-3.0, 0.5], [0.2, 0.7]])
    result = knn_on_features(
        bank, bank_labels, queries, [0, 3, 2, 0], 4, device=CPU, return_predictions=True
    )
    assert result["predictions"] == [0, 3, 2, 1]
    assert result["top1"] == pytest.approx(75.0)


def test_weighted_knn_matches_instdisc_weights_and_beats_majority():
    bank = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6], [-1.0, 0.0]])
    bank_labels = torch.tensor([1, 0, 0, 2])
    query = torch.tensor([[1.0, 0.0]])
    majority = knn_class_scores(bank, bank_labels, query, 3, k=3, weighted=False)
    weighted = knn_class_scores(bank, bank_labels, query, 3, k=3, weighted=True)
    assert majority.argmax(1).item() == 0  # two neighbours of class 0
    assert weighted.argmax(1).item() == 1  # one very close neighbour of class 1
    # InstDisc: score_c = sum exp(s_i / 0.07); ours is scaled by exp(-s_max / 0.07)
    reference = torch.tensor([2 * np.exp(0.8 / 0.07), np.exp(1.0 / 0.07), 0.0]) / np.exp(1.0 / 0.07)
    assert torch.allclose(weighted[0].double(), reference.double(), rtol=1e-4)


def test_unweighted_knn_breaks_ties_by_the_nearest_neighbour():
    bank = torch.tensor([[1.0, 0.5], [1.0, 0.1]])
    bank_labels = torch.tensor([0, 1])
    scores = knn_class_scores(bank, bank_labels, torch.tensor([[1.0, 0.0]]), 2, k=2)
    assert scores.argmax(1).item() == 1
    assert scores.floor().tolist() == [[1.0, 1.0]]  # the counts are intact


def test_knn_top5_ignores_classes_without_votes():
    bank = np.array([[1.0, 0.1 * i] for i in range(5)] + [[-1.0, 0.0]])  # class 5 far away
    query = np.array([[1.0, 0.0]])
    result = knn_on_features(bank, np.arange(6), query, [5], 6, EvalConfig(knn_k=5), device=CPU)
    assert result["top5"] == 0.0  # class 5 got no vote, it is not in a top-5 guess


def test_knn_with_fewer_than_5_neighbours_reports_no_top5():
    bank, query = np.eye(6), np.eye(6)[:2]
    result = knn_on_features(bank, np.arange(6), query, [0, 1], 6, EvalConfig(knn_k=1), device=CPU)
    assert result["top1"] == 100.0 and "top5" not in result


def test_knn_end_to_end_with_an_encoder():
    joints = np.zeros((4, 2, 1, 2, 3), dtype=np.float32)
    joints[:, 0, 0, :, 0] = [[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.2, 0.8]]
    data = make_data(joints, [0, 1, 0, 1], 2)
    train, test = data.subset(np.array([0, 1])), data.subset(np.array([2, 3]))
    result = knn(FirstFrameFeatures(2), train, test, EvalConfig(), device=CPU, quiet=True)
    assert result["top1"] == 100.0
    assert (result["n_train"], result["n_test"], result["k"]) == (2, 2, 1)
    json.dumps(result)


# ---------------------------------------------------------------------------- features
def test_features_do_not_depend_on_batch_size_and_mode_is_restored(tmp_path):
    data = separable_data(5, 3, seed=0)
    path = tmp_path / "joints.npy"
    np.save(path, data.joints)
    data.joints = np.load(path, mmap_mode="r")  # read-only memmap, as the cache gives
    encoder = MeanPoolEncoder()
    encoder.train()
    encoder(
        torch.from_numpy(np.array(data.joints)), torch.from_numpy(data.lengths)
    )  # move BN stats
    encoder.train()
    whole = extract_features(encoder, data, batch_size=64, device=CPU)
    pieces = extract_features(encoder, data, batch_size=4, device=CPU)
    assert whole.shape == (15, 8) and whole.dtype == np.float32
    np.testing.assert_allclose(whole, pieces, rtol=1e-5, atol=1e-6)
    assert encoder.training


# ---------------------------------------------------------------------------- linear probe
def test_linear_probe_separates_separable_features_deterministically():
    train, test = separable_data(8, 4, seed=1), separable_data(4, 4, seed=2)
    config = EvalConfig(linear_epochs=40, batch_size=8)
    encoder = FirstFrameFeatures(4)
    first = linear_probe(
        encoder, train, test, config, device=CPU, quiet=True, return_predictions=True
    )
    second = linear_probe(encoder, train, test, config, device=CPU, quiet=True)
    assert first["protocol"] == "linear"
    assert first["top1"] >= 93.75 and first["train_top1"] == 100.0
    assert (first["n_train"], first["n_test"]) == (32, 16)
    assert first["top1"] == second["top1"] and first["loss_curve"] == second["loss_curve"]
    assert len(first["loss_curve"]) == 40 and first["loss_curve"][-1] < first["loss_curve"][0]
    assert len(first["predictions"]) == 16
    json.dumps(first)


def test_linear_probe_standardises_with_train_statistics():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 10)
    features = rng.normal(size=(20, 3)) + labels[:, None] * 3.0
    shifted = features * 1000.0 + 5000.0  # same problem, other scale: same answer
    config = EvalConfig(linear_epochs=30, batch_size=8)
    plain = linear_probe_on_features(features, labels, features, labels, 2, config, device=CPU)
    scaled = linear_probe_on_features(shifted, labels, shifted, labels, 2, config, device=CPU)
    assert plain["top1"] == scaled["top1"] == 100.0
    np.testing.assert_allclose(plain["loss_curve"], scaled["loss_curve"], rtol=1e-3)


def test_linear_probe_on_raw_features_with_the_step_schedule():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 10)
    features = rng.normal(size=(20, 3)) + labels[:, None] * 3.0
    shifted = features * 1000.0 + 5000.0  # raw: the scale now changes the training
    config = EvalConfig(
        linear_epochs=30, batch_size=8, linear_standardise=False, linear_schedule="step"
    )
    plain = linear_probe_on_features(features, labels, features, labels, 2, config, device=CPU)
    scaled = linear_probe_on_features(shifted, labels, shifted, labels, 2, config, device=CPU)
    assert plain["top1"] == 100.0 and plain["loss_curve"][-1] < plain["loss_curve"][0]
    assert not np.allclose(plain["loss_curve"], scaled["loss_curve"], rtol=1e-3)
    with pytest.raises(SkelsslError, match="linear_schedule"):
        EvalConfig(linear_schedule="linear").validate()


def test_the_test_curve_diagnostic_watches_the_probe_without_changing_it():
    """``test_curve`` scores the test split after every epoch: its last point is the
    reported final epoch, and the training (loss curve, final top-1) is the same without it."""
    rng = np.random.default_rng(0)
    train_labels, test_labels = np.repeat([0, 1, 2], 12), np.repeat([0, 1, 2], 6)
    centres = rng.normal(size=(3, 5)) * 1.2
    train = rng.normal(size=(36, 5)) + centres[train_labels]
    test = rng.normal(size=(18, 5)) + centres[test_labels]
    config = EvalConfig(linear_epochs=15, batch_size=8)
    args = (train, train_labels, test, test_labels, 3, config)
    watched = linear_probe_on_features(*args, device=CPU, test_curve=True)
    plain = linear_probe_on_features(*args, device=CPU)
    assert len(watched["test_curve"]) == 15 and "test_curve" not in plain
    assert watched["test_curve"][-1] == watched["top1"] == plain["top1"]
    assert watched["loss_curve"] == plain["loss_curve"]
    assert len(set(watched["test_curve"])) > 1  # it moves while the head learns


def test_authors_schedule_halves_one_epoch_late():
    milestones = (15, 35, 50, 66, 75)  # CRRL's linear_eval: x0.5 applied after epoch m + 1
    factors = [authors_lr_factor(e, milestones, 0.5) for e in range(85)]
    assert factors[:17] == [1.0] * 17 and factors[17] == 0.5
    assert factors[36] == 0.5 and factors[37] == 0.25 and factors[84] == 0.5**5


def test_linear_test_curve_diagnostic_records_every_epoch():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 12)
    features = rng.normal(size=(36, 4)) + np.eye(3, 4)[labels] * 1.5
    test_labels = np.repeat([0, 1, 2], 6)
    test_features = rng.normal(size=(18, 4)) + np.eye(3, 4)[test_labels] * 1.5
    result = linear_test_curve_diagnostic(
        features, labels, test_features, test_labels, 3, epochs=12, milestones=(3, 6), device=CPU
    )
    curve = result["test_curve"]
    assert len(curve) == 12 and result["final_top1"] == curve[-1]
    assert result["best_test_top1"] == max(curve) >= result["final_top1"]
    assert curve[result["best_test_epoch"] - 1] == max(curve)
    assert result["best_test_top1"] > 100 / 3  # it learns something
    again = linear_test_curve_diagnostic(
        features, labels, test_features, test_labels, 3, epochs=12, milestones=(3, 6), device=CPU
    )
    assert again["test_curve"] == curve
    json.dumps(result)


def test_bad_config_is_a_user_error():
    data = separable_data(2, 2, seed=0)
    with pytest.raises(SkelsslError, match="knn_metric"):
        knn(FirstFrameFeatures(4), data, data, EvalConfig(knn_metric="manhattan"), device=CPU)
    with pytest.raises(SkelsslError, match="label fraction"):
        finetune(MeanPoolEncoder(), data, data, EvalConfig(), label_fraction=0.0, device=CPU)


# ---------------------------------------------------------------------------- finetuning
@pytest.fixture
def label_sampling(monkeypatch):
    """The real label_fraction_indices, or a class-balanced stand-in while it is missing."""
    try:
        import skelssl.data.sampling  # noqa: F401
    except ImportError:
        import sys
        import types

        def label_fraction_indices(labels, fraction, seed):
            rng = np.random.default_rng(seed)
            chosen = [
                rng.permutation(np.flatnonzero(labels == c))[
                    : max(1, round(fraction * np.sum(labels == c)))
                ]
                for c in np.unique(labels)
            ]
            return np.sort(np.concatenate(chosen))

        module = types.ModuleType("skelssl.data.sampling")
        module.label_fraction_indices = label_fraction_indices
        monkeypatch.setitem(sys.modules, "skelssl.data.sampling", module)


def test_finetune_beats_chance_with_half_the_labels_over_two_seeds(label_sampling):
    pytest.importorskip("skelssl.augment")
    train, test = separable_data(6, 3, seed=3), separable_data(4, 3, seed=4)
    encoder = MeanPoolEncoder()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    config = EvalConfig(finetune_epochs=15, finetune_lr=0.05, batch_size=4)
    result = finetune(
        encoder, train, test, config, label_fraction=0.5, seeds=2, device=CPU, quiet=True
    )
    assert result["protocol"] == "finetune" and result["label_fraction"] == 0.5
    assert len(result["runs"]) == 2 and [run["seed"] for run in result["runs"]] == [0, 1]
    assert result["n_train"] == 9  # round(0.5 * 6) = 3 per class
    assert result["top1"] == pytest.approx(np.mean([run["top1"] for run in result["runs"]]))
    assert result["top1_std"] == pytest.approx(
        np.std([run["top1"] for run in result["runs"]], ddof=1)
    )
    assert result["top1"] > 100 / 3 + 20
    for name, value in encoder.state_dict().items():  # each run trained a copy
        assert torch.equal(value, before[name]), name
    json.dumps(result)


def test_finetune_is_deterministic_and_seeds_matter(label_sampling):
    train, test = separable_data(4, 2, seed=5), separable_data(3, 2, seed=6)
    config = EvalConfig(
        finetune_epochs=3, finetune_augment=False, batch_size=4, finetune_optimizer="sgd"
    )
    run = dict(label_fraction=0.5, device=CPU, quiet=True)
    first = finetune(MeanPoolEncoder(), train, test, config, **run)
    again = finetune(MeanPoolEncoder(), train, test, config, **run)
    other = finetune(MeanPoolEncoder(), train, test, config, seed=7, **run)
    assert first["runs"][0]["loss_curve"] == again["runs"][0]["loss_curve"]
    assert first["runs"][0]["loss_curve"] != other["runs"][0]["loss_curve"]
    assert first["top1_std"] == 0.0 and first["n_train"] == 4


def test_supervised_baseline_reinitialises_the_encoder():
    train, test = separable_data(3, 2, seed=8), separable_data(2, 2, seed=9)
    config = EvalConfig(finetune_epochs=2, finetune_augment=False, batch_size=8)
    run = dict(device=CPU, quiet=True)
    a = supervised_baseline(MeanPoolEncoder(seed=0), train, test, config, **run)
    b = supervised_baseline(MeanPoolEncoder(seed=1), train, test, config, **run)
    tuned = finetune(MeanPoolEncoder(seed=0), train, test, config, label_fraction=1.0, **run)
    assert a["protocol"] == "supervised" and a["label_fraction"] == 1.0 and a["n_train"] == 6
    # a fresh initialisation: the starting weights of the encoder do not matter ...
    assert a["runs"][0]["loss_curve"] == b["runs"][0]["loss_curve"]
    # ... whereas finetune starts from them
    assert tuned["runs"][0]["loss_curve"] != a["runs"][0]["loss_curve"]


def test_effective_rank_counts_the_directions_features_use():
    rng = np.random.default_rng(0)
    isotropic = rng.standard_normal((4000, 8))
    assert 7.5 < effective_rank(isotropic) <= 8.0
    on_a_line = rng.standard_normal((100, 1)) * rng.standard_normal((1, 8)) + 3.0
    assert effective_rank(on_a_line) == pytest.approx(1.0, abs=1e-3)
    assert effective_rank(np.ones((10, 4))) == 0.0  # constant features: nothing varies
