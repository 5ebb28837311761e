"""benchmarks/nwucla_crrl.py: the paired study arithmetic and the kNN diagnosis's features."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def crrl_benchmark(import_benchmark):
    return import_benchmark("nwucla_crrl")


def arm(linear: list[float], knn: list[float]) -> dict:
    per_seed = {
        seed: {"linear_top1": a, "knn_top1": b} for seed, (a, b) in enumerate(zip(linear, knn))
    }
    return {"linear_top1": float(np.mean(linear)), "per_seed": per_seed}


def test_paired_difference_names_its_arms_and_pairs_by_seed(crrl_benchmark):
    arms = {"paper": arm([50, 60, 55], [40, 45, 50]), "view-norm": arm([58, 61, 60], [50, 44, 60])}
    result = crrl_benchmark.paired_difference(arms, "view-norm", "paper")
    assert result["winner"] == "view-norm"
    assert result["view-norm_minus_paper_linear_top1"] == pytest.approx(14 / 3, abs=0.01)
    assert result["view-norm_better_linear_top1_seeds"] == 3
    assert result["view-norm_better_knn_top1_seeds"] == 2  # 10, -1, 10
    # the optimiser study's keys are unchanged
    assert "adam_minus_sgd_knn_top1_std" in crrl_benchmark.paired_difference(
        {"adam": arms["paper"], "sgd": arms["view-norm"]}
    )


def test_standardised_uses_the_training_statistics_only(crrl_benchmark):
    train = np.array([[1.0, 10.0], [3.0, 30.0]])
    test = np.array([[2.0, 50.0]])
    train_z, test_z = crrl_benchmark.standardised(train, test)
    np.testing.assert_allclose(train_z, [[-1, -1], [1, 1]])
    np.testing.assert_allclose(test_z, [[0, 3]])


def test_minmax_per_coordinate_scales_each_joint_over_its_frames_and_keeps_padding(crrl_benchmark):
    joints = np.zeros((1, 4, 1, 2, 1))  # (N, T, M, V, C): 3 real frames, 1 padding frame
    joints[0, :3, 0, 0, 0] = [1, 2, 3]
    joints[0, :3, 0, 1, 0] = [5, 5, 7]
    scaled = crrl_benchmark.minmax_per_coordinate(joints)[0, :, 0, :, 0]
    np.testing.assert_allclose(scaled, [[-1, -1], [0, -1], [1, 1], [0, 0]])
