"""The procedural synthetic dataset: determinism, metadata, geometry, difficulty."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skelssl.data.synthetic import CLASS_NAMES, SyntheticConfig, generate, iter_sequences
from skelssl.errors import SkelsslError
from skelssl.skeleton import NTU_25

J = {name: index for index, name in enumerate(NTU_25.joint_names)}
SMALL = {"classes": 4, "subjects": 2, "takes": 2, "cameras": 2}


def _bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(T, M, V, 3) -> (T, M, bones)."""
    child, parent = np.array(NTU_25.bones).T
    return np.linalg.norm(joints[:, :, child] - joints[:, :, parent], axis=-1)


def _pairwise_distances(joints: np.ndarray) -> np.ndarray:
    """(T, M, V, 3) -> (T, M*V, M*V)."""
    points = joints.reshape(joints.shape[0], -1, 3)
    return np.linalg.norm(points[:, :, None] - points[:, None], axis=-1)


@pytest.fixture(scope="module")
def default_dataset():
    return generate(SyntheticConfig(), quiet=True)


def test_same_seed_same_arrays_and_different_seed_differs():
    first = generate(SyntheticConfig(**SMALL, seed=3), quiet=True).sequences
    second = generate(SyntheticConfig(**SMALL, seed=3), quiet=True).sequences
    other = generate(SyntheticConfig(**SMALL, seed=4), quiet=True).sequences
    assert [s.name for s in first] == [s.name for s in second]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.joints, b.joints)
    assert any(
        a.joints.shape != c.joints.shape or not np.allclose(a.joints, c.joints)
        for a, c in zip(first, other)
    )


def test_performances_do_not_depend_on_how_many_classes_are_requested():
    fewer = generate(SyntheticConfig(**{**SMALL, "classes": 2}), quiet=True).sequences
    more = generate(SyntheticConfig(**{**SMALL, "classes": 3}), quiet=True).sequences
    for a, b in zip(fewer, more):
        assert a.name == b.name
        np.testing.assert_array_equal(a.joints, b.joints)


def test_generate_is_built_on_the_stream():
    config = SyntheticConfig(**SMALL)
    streamed = list(itertools.islice(iter_sequences(config), 5))
    generated = generate(config, quiet=True).sequences[:5]
    for a, b in zip(streamed, generated):
        assert a.name == b.name
        np.testing.assert_array_equal(a.joints, b.joints)


def test_counts_metadata_and_protocols(default_dataset):
    data = default_dataset
    assert len(data.sequences) == 16 * 10 * 3 * 3 == SyntheticConfig().num_sequences
    assert data.class_names == list(CLASS_NAMES) and len(CLASS_NAMES) == 16
    assert (data.layout, data.source) == ("ntu-25", "synthetic")
    assert list(data.splits) == ["xsub", "xview"]
    first = data.sequences[0]
    assert first.name == "synthetic_c01_s01_t1_v1"
    assert (first.label, first.subject, first.setup, first.view) == (0, 1, 1, 1)
    assert first.performance == "c01_s01_t1"
    assert len({s.name for s in data.sequences}) == len(data.sequences)
    performances = {}
    for sequence in data.sequences:
        performances.setdefault(sequence.performance, set()).add(sequence.view)
    assert len(performances) == 16 * 10 * 3
    assert all(views == {1, 2, 3} for views in performances.values())
    xsub = data.splits["xsub"]
    xview = data.splits["xview"]
    assert {s.subject for s in data.sequences if xsub(s)} == {1, 3, 5, 7, 9}
    assert {s.subject for s in data.sequences if not xsub(s)} == {2, 4, 6, 8, 10}
    assert {s.view for s in data.sequences if not xview(s)} == {3}
    assert np.bincount([s.label for s in data.sequences]).tolist() == [90] * 16


def test_shapes_dtype_and_lengths(default_dataset):
    lengths = []
    for sequence in default_dataset.sequences:
        assert sequence.joints.dtype == np.float32
        assert sequence.joints.shape[1:] == (1, 25, 3)
        assert np.isfinite(sequence.joints).all()
        lengths.append(sequence.num_frames)
    assert 40 <= min(lengths) and max(lengths) <= 120
    assert max(lengths) - min(lengths) > 50  # lengths really vary


def test_two_bodies_stand_apart_and_short_lengths_are_respected():
    config = SyntheticConfig(
        classes=2, subjects=1, takes=2, cameras=1, bodies=2, min_frames=5, max_frames=9
    )
    for sequence in generate(config, quiet=True).sequences:
        assert sequence.joints.shape[1:] == (2, 25, 3)
        assert 5 <= sequence.num_frames <= 9
        gap = np.linalg.norm(
            sequence.joints[:, 0, J["spine_mid"]] - sequence.joints[:, 1, J["spine_mid"]], axis=-1
        )
        assert gap.min() > 0.5


def test_bone_lengths_are_constant_in_time_and_differ_between_subjects():
    config = SyntheticConfig(classes=12, subjects=2, takes=1, cameras=1, noise_std=0.0)
    per_subject = {}
    for sequence in generate(config, quiet=True).sequences:
        lengths = _bone_lengths(sequence.joints)
        assert lengths.std(axis=0).max() < 1e-4
        per_subject.setdefault(sequence.subject, []).append(lengths.mean(axis=0))
    for lengths in per_subject.values():  # the same body in every class
        assert np.ptp(np.stack(lengths), axis=0).max() < 1e-4
    difference = np.abs(per_subject[1][0] - per_subject[2][0])
    assert difference.max() > 0.01


def test_cameras_of_one_performance_are_rigid_transforms_of_each_other():
    config = SyntheticConfig(classes=3, subjects=1, takes=1, cameras=3, bodies=2, noise_std=0.0)
    sequences = generate(config, quiet=True).sequences
    for label in range(3):
        views = [s.joints for s in sequences if s.label == label]
        assert len(views) == 3
        reference = _pairwise_distances(views[0])
        for other in views[1:]:
            np.testing.assert_allclose(_pairwise_distances(other), reference, atol=1e-4)
            assert np.abs(other - views[0]).max() > 0.1  # but seen from elsewhere


def test_left_limbs_are_on_the_bodys_left_and_the_body_faces_the_camera(default_dataset):
    facing, left_side = [], []
    for sequence in default_dataset.sequences:
        pose = sequence.joints[0, 0].astype(np.float64)
        hips_left = pose[J["left_hip"]] - pose[J["right_hip"]]
        up = pose[J["spine_shoulder"]] - pose[J["spine_base"]]
        forward = np.cross(hips_left, up)  # x_left cross y_up = z_forward (right-handed)
        to_camera = -pose[J["spine_mid"]]  # the camera sits at the origin
        facing.append(forward @ to_camera > 0)
        centre = pose[J["spine_mid"]]
        left_side.append(
            all(
                (pose[J[f"left_{joint}"]] - centre) @ hips_left
                > (pose[J[f"right_{joint}"]] - centre) @ hips_left
                for joint in ("shoulder", "elbow", "knee", "foot")
            )
        )
    assert np.mean(facing) == 1.0
    assert np.mean(left_side) > 0.97


def test_kinect_convention_y_up_z_away_from_camera(default_dataset):
    pose = default_dataset.sequences[0].joints[0, 0]
    assert pose[J["head"], 1] > pose[J["spine_base"], 1] > pose[J["left_foot"], 1]
    assert 2.0 < pose[J["spine_mid"], 2] < 4.0


def test_mean_pose_classifier_is_above_chance_but_not_perfect(default_dataset):
    """Static poses alone leave confusions (e.g. waving vs raising a hand)."""
    sequences = default_dataset.sequences
    features = np.stack(
        [
            (s.joints[:, 0] - s.joints[:, 0, J["spine_mid"]][:, None]).mean(0).ravel()
            for s in sequences
        ]
    )
    labels = np.array([s.label for s in sequences])
    is_train = np.array([default_dataset.splits["xsub"](s) for s in sequences])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(features[is_train], labels[is_train])
    accuracy = (model.predict(features[~is_train]) == labels[~is_train]).mean()
    assert 0.5 < accuracy < 0.95, accuracy


@pytest.mark.parametrize(
    "field, value",
    [
        ("classes", 1),
        ("classes", 17),
        ("bodies", 3),
        ("max_frames", 10),
        ("noise_std", -1.0),
        ("cameras", 0),
    ],
)
def test_bad_config_raises_a_user_error(field, value):
    with pytest.raises(SkelsslError, match=f"synthetic.{field}"):
        generate(SyntheticConfig(**{field: value}), quiet=True)


def _pair_accuracy(dataset, names, feature):
    labels_of = {CLASS_NAMES.index(name) for name in names}
    chosen = [s for s in dataset.sequences if s.label in labels_of]
    features = np.stack(
        [feature(s.joints[:, 0] - s.joints[:, 0, J["spine_mid"]][:, None]) for s in chosen]
    )
    labels = np.array([s.label for s in chosen])
    is_train = np.array([dataset.splits["xsub"](s) for s in chosen])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(features[is_train], labels[is_train])
    return (model.predict(features[~is_train]) == labels[~is_train]).mean()


@pytest.mark.parametrize(
    "pair", [("sitting_down", "standing_up"), ("lifting_both_arms", "lowering_both_arms")]
)
def test_time_reversed_pairs_need_temporal_order(default_dataset, pair):
    """The mean pose barely separates a time-reversed pair; the change over time does."""

    def mean_pose(joints):
        return joints.mean(0).ravel()

    def change(joints):
        quarter = max(len(joints) // 4, 1)
        return (joints[-quarter:].mean(0) - joints[:quarter].mean(0)).ravel()

    assert _pair_accuracy(default_dataset, pair, mean_pose) < 0.8
    assert _pair_accuracy(default_dataset, pair, change) > 0.95
