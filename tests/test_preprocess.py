"""Preprocessing steps on tiny hand-built sequences."""

from __future__ import annotations

import numpy as np
import pytest

from skelssl.data.preprocess import (
    PreprocessConfig,
    body_presence,
    center_on_joint,
    count_bodies,
    crop_or_pad,
    fix_length,
    median_bone_length,
    minmax_normalize,
    normalize_space,
    preprocess,
    repeat_to_length,
    resample_frames,
    retime,
    select_bodies,
    view_normalize,
)
from skelssl.data.types import RawDataset, Sequence
from skelssl.errors import SkelsslError
from skelssl.skeleton import get_layout

LAYOUT = get_layout("kinect-v1-20")


def random_sequence(frames=7, bodies=2, seed=0) -> np.ndarray:
    """(T, M, 20, 3) float32 with all bodies present and no coordinate exactly zero."""
    rng = np.random.default_rng(seed)
    joints = rng.normal(size=(frames, bodies, LAYOUT.num_joints, 3)) + 3.0
    return joints.astype(np.float32)


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    parents = LAYOUT.bone_parents()
    return np.linalg.norm(joints - joints[..., parents, :], axis=-1)


# ---------------------------------------------------------------- temporal


def test_resample_gives_frames_and_keeps_first_and_last():
    joints = random_sequence(frames=7)
    for frames in (3, 7, 20):
        out = resample_frames(joints, frames)
        assert out.shape == (frames,) + joints.shape[1:]
        np.testing.assert_allclose(out[0], joints[0], rtol=1e-6)
        np.testing.assert_allclose(out[-1], joints[-1], rtol=1e-6)


def test_resample_interpolates_linearly():
    joints = np.zeros((2, 1, LAYOUT.num_joints, 3), np.float32)
    joints[0] = 1.0
    joints[1] = 3.0
    out = resample_frames(joints, 3)
    np.testing.assert_allclose(out[:, 0, 0, 0], [1.0, 2.0, 3.0])


def test_resample_single_frame_repeats_it():
    joints = random_sequence(frames=1)
    out = resample_frames(joints, 5)
    np.testing.assert_array_equal(out, np.repeat(joints, 5, axis=0))


def test_resample_does_not_blend_absent_bodies_with_zeros():
    joints = random_sequence(frames=4)
    joints[2:, 1] = 0.0  # second body leaves after frame 1
    out = resample_frames(joints, 9)
    present = body_presence(out)[:, 1]
    # every output frame of body 1 is either exactly zero or a blend of present frames
    for t in range(9):
        if not present[t]:
            assert np.all(out[t, 1] == 0)
    lower, upper = joints[:2, 1].min(), joints[:2, 1].max()
    values = out[present, 1]
    assert values.min() >= lower - 1e-5 and values.max() <= upper + 1e-5


def test_crop_and_zero_pad():
    joints = random_sequence(frames=5)
    cropped, length = fix_length(joints, 3, "crop")
    np.testing.assert_array_equal(cropped, joints[:3])
    assert length == 3
    padded, length = fix_length(joints, 8, "crop")
    np.testing.assert_array_equal(padded[:5], joints)
    assert np.all(padded[5:] == 0) and length == 5
    np.testing.assert_array_equal(crop_or_pad(joints, 5), joints)


def test_at_most_keeps_short_clips_native_and_downsamples_long_ones():
    joints = np.arange(5 * 1 * 2 * 3, dtype=np.float32).reshape(5, 1, 2, 3) + 1
    padded, length = fix_length(joints, 8, "at-most")
    assert length == 5
    np.testing.assert_array_equal(padded[:5], joints)  # native rate, not stretched
    assert not padded[5:].any()
    down, length = fix_length(joints, 3, "at-most")
    assert length == 3
    np.testing.assert_allclose(down, resample_frames(joints, 3))


def test_at_most_stride_cuts_the_tail_by_an_integer_stride_and_pads_short_clips():
    joints = np.arange(9 * 1 * 2 * 3, dtype=np.float32).reshape(9, 1, 2, 3) + 1
    short, length = fix_length(joints, 12, "at-most-stride")
    assert length == 9
    np.testing.assert_array_equal(short[:9], joints)
    assert not short[9:].any()
    cut, length = fix_length(joints, 5, "at-most-stride")  # stride 9 // 5 = 1: first 5 frames
    assert length == 5
    np.testing.assert_array_equal(cut, joints[:5])
    strided, _ = fix_length(joints, 4, "at-most-stride")  # stride 2: frames 0, 2, 4, 6
    np.testing.assert_array_equal(strided, joints[[0, 2, 4, 6]])


def test_repeat_tiles_short_and_crops_long():
    joints = random_sequence(frames=3)
    tiled, length = fix_length(joints, 7, "repeat")
    assert length == 7
    np.testing.assert_array_equal(tiled, joints[[0, 1, 2, 0, 1, 2, 0]])
    np.testing.assert_array_equal(repeat_to_length(joints, 2), joints[:2])


def test_fix_length_rejects_empty_and_unknown_mode():
    with pytest.raises(SkelsslError, match="no frames"):
        fix_length(np.zeros((0, 1, 20, 3), np.float32), 4, "resample")
    with pytest.raises(SkelsslError, match="unknown temporal mode"):
        fix_length(random_sequence(), 4, "stretch")


# ---------------------------------------------------------------- bodies


def test_count_and_select_bodies():
    joints = random_sequence(bodies=3)
    joints[:, 2] = 0.0
    assert count_bodies(joints) == 2
    assert select_bodies(joints, 1).shape[1] == 1
    padded = select_bodies(joints, 4)
    assert padded.shape[1] == 4 and np.all(padded[:, 3] == 0)


# ---------------------------------------------------------------- spatial


def test_centre_puts_first_frame_centre_joint_at_origin():
    joints = random_sequence()
    out = center_on_joint(joints, LAYOUT.center)
    np.testing.assert_allclose(out[0, 0, LAYOUT.center], 0.0, atol=1e-6)
    # both bodies share the origin: their relative position is kept
    np.testing.assert_allclose(out[:, 1] - out[:, 0], joints[:, 1] - joints[:, 0], atol=1e-5)


def test_centre_uses_first_frame_where_body_present_and_keeps_absent_zero():
    joints = random_sequence(frames=5)
    joints[:2, 0] = 0.0  # body 0 enters at frame 2
    joints[3:, 1] = 0.0  # body 1 leaves after frame 2
    out = center_on_joint(joints, LAYOUT.center)
    np.testing.assert_allclose(out[2, 0, LAYOUT.center], 0.0, atol=1e-6)
    assert np.all(out[:2, 0] == 0) and np.all(out[3:, 1] == 0)


def test_view_normalize_aligns_shoulders_and_spine_and_keeps_bone_lengths():
    joints = center_on_joint(random_sequence(seed=3), LAYOUT.center)
    out = view_normalize(joints, LAYOUT)
    shoulder = out[0, 0, LAYOUT.right_shoulder] - out[0, 0, LAYOUT.left_shoulder]
    spine = out[0, 0, LAYOUT.spine_top] - out[0, 0, LAYOUT.spine_base]
    assert shoulder[0] > 0
    np.testing.assert_allclose(shoulder[1:], 0.0, atol=1e-5)
    assert spine[1] > 0
    np.testing.assert_allclose(spine[2], 0.0, atol=1e-5)
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(joints), rtol=1e-4, atol=1e-5)


def test_view_normalize_by_the_hips_makes_the_spine_exact_and_the_hips_orthogonal():
    joints = center_on_joint(random_sequence(seed=4), LAYOUT.center)
    out = view_normalize(joints, LAYOUT, axis="hips")
    spine = out[0, 0, LAYOUT.spine_top] - out[0, 0, LAYOUT.spine_base]
    hips = out[0, 0, LAYOUT.index("right_hip")] - out[0, 0, LAYOUT.index("left_hip")]
    assert spine[1] > 0
    np.testing.assert_allclose(spine[[0, 2]], 0.0, atol=1e-5)
    assert hips[0] > 0
    np.testing.assert_allclose(hips[2], 0.0, atol=1e-5)
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(joints), rtol=1e-4, atol=1e-5)
    with pytest.raises(SkelsslError, match="view_axis"):
        PreprocessConfig(view_axis="feet").validate()


def test_view_normalize_batched_matches_single():
    batch = np.stack([random_sequence(seed=s) for s in range(3)])
    together = view_normalize(batch, LAYOUT)
    for i in range(3):
        np.testing.assert_allclose(together[i], view_normalize(batch[i], LAYOUT), rtol=1e-5)


def test_view_normalize_keeps_absent_bodies_zero_and_needs_3d():
    joints = random_sequence()
    joints[4:, 1] = 0.0
    out = view_normalize(joints, LAYOUT)
    assert np.all(out[4:, 1] == 0) and np.all(body_presence(out)[:4])
    with pytest.raises(SkelsslError, match="3-D"):
        view_normalize(joints[..., :2], LAYOUT)


def test_minmax_maps_each_axis_to_exactly_minus_one_one():
    joints = random_sequence(frames=6)
    joints[5] = 0.0  # a padding frame
    out = minmax_normalize(joints, separate_bodies=True)
    valid = out[:5]
    for body in range(2):
        np.testing.assert_allclose(valid[:, body].reshape(-1, 3).min(axis=0), -1.0, atol=1e-6)
        np.testing.assert_allclose(valid[:, body].reshape(-1, 3).max(axis=0), 1.0, atol=1e-6)
    assert np.all(out[5] == 0)
    joint = minmax_normalize(joints, separate_bodies=False)
    np.testing.assert_allclose(joint[:5].reshape(-1, 3).min(axis=0), -1.0, atol=1e-6)
    np.testing.assert_allclose(joint[:5].reshape(-1, 3).max(axis=0), 1.0, atol=1e-6)
    assert not np.allclose(joint, out)


# ---------------------------------------------------------------- whole dataset


def make_raw(lengths=(4, 9, 12), bodies=(1, 2, 1)) -> RawDataset:
    sequences = []
    for i, (frames, present) in enumerate(zip(lengths, bodies)):
        joints = random_sequence(frames=frames, bodies=2, seed=i)
        joints[:, present:] = 0.0
        sequences.append(
            Sequence(
                joints,
                label=i % 2,
                name=f"s{i}",
                subject=i,
                view=1 + i % 2,
                performance=f"p{i // 2}",
            )
        )
    return RawDataset(
        sequences=sequences,
        class_names=["a", "b"],
        layout=LAYOUT.name,
        source="hand",
        splits={"xview": lambda s: s.view == 1, "all": lambda s: True},
    )


@pytest.mark.parametrize("temporal", ["resample", "crop", "repeat", "at-most"])
def test_preprocess_shapes_lengths_and_protocols(temporal):
    raw = make_raw()
    config = PreprocessConfig(frames=8, temporal=temporal, minmax=True)
    data = preprocess(raw, config, quiet=True)
    assert data.joints.shape == (3, 8, 2, LAYOUT.num_joints, 3)
    assert data.joints.dtype == np.float32
    expected = [4, 8, 8] if temporal in ("crop", "at-most") else [8, 8, 8]
    np.testing.assert_array_equal(data.lengths, expected)
    np.testing.assert_array_equal(data.splits["xview"], [True, False, True])
    assert list(data.splits) == ["xview", "all"]
    assert np.all(data.joints[0, :, 1] == 0) and np.all(data.joints[2, :, 1] == 0)
    assert np.all(np.abs(data.joints) <= 1.0 + 1e-6)
    np.testing.assert_array_equal(data.performances, ["p0", "p0", "p1"])


def test_preprocess_body_count_follows_dataset_and_max_bodies():
    raw = make_raw(bodies=(1, 1, 1))
    assert preprocess(raw, PreprocessConfig(frames=4), quiet=True).joints.shape[2] == 1
    raw = make_raw(bodies=(1, 2, 1))
    assert (
        preprocess(raw, PreprocessConfig(frames=4, max_bodies=1), quiet=True).joints.shape[2] == 1
    )


def test_preprocess_centre_and_view_on_whole_dataset():
    data = preprocess(make_raw(), PreprocessConfig(frames=6), quiet=True)
    first = data.joints[:, 0, 0]
    np.testing.assert_allclose(first[:, LAYOUT.center], 0.0, atol=1e-5)
    shoulder = first[:, LAYOUT.right_shoulder] - first[:, LAYOUT.left_shoulder]
    np.testing.assert_allclose(shoulder[:, 1:], 0.0, atol=1e-5)


def test_preprocess_errors_are_user_errors():
    raw = make_raw()
    with pytest.raises(SkelsslError, match="temporal"):
        preprocess(raw, PreprocessConfig(temporal="warp"), quiet=True)
    with pytest.raises(SkelsslError, match="no joint"):
        preprocess(raw, PreprocessConfig(center_joint="tail"), quiet=True)
    raw.sequences[1].joints = raw.sequences[1].joints[:, :, :10]
    with pytest.raises(SkelsslError, match="s1"):
        preprocess(raw, PreprocessConfig(), quiet=True)


def test_retime_changes_only_time_and_dtype():
    data = preprocess(make_raw(), PreprocessConfig(frames=8, temporal="crop"), quiet=True)
    same = retime(data, PreprocessConfig(frames=8))
    np.testing.assert_array_equal(same.joints, data.joints)
    longer = retime(data, PreprocessConfig(frames=16, temporal="resample"))
    assert longer.joints.shape[1] == 16
    np.testing.assert_array_equal(longer.lengths, [16, 16, 16])
    np.testing.assert_allclose(
        longer.joints[0, -1], data.joints[0, 3], rtol=1e-6
    )  # last valid frame


# ---------------------------------------------------------------- units


def human_sequence(frames=5) -> np.ndarray:
    """(T, 1, 20, 3): a Kinect clip's scale in metres (bones about 0.2 m)."""
    return random_sequence(frames=frames, bodies=1, seed=4) * 0.12


@pytest.mark.parametrize("factor", [1000.0, 100.0, 39.37])  # mm, cm, inches
def test_units_auto_brings_millimetres_centimetres_and_inches_back_to_metres(factor):
    metres = human_sequence()
    config = PreprocessConfig(center=False, view_normalize=False)
    out = normalize_space(metres * factor, LAYOUT, config)
    expected = metres * factor * (0.001 if factor == 1000 else 0.01)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    bone = median_bone_length(out[None], LAYOUT, body_presence(out[None]))[0]
    assert 0.02 < bone < 2.0


def test_units_keep_metres_and_as_is_keeps_every_unit():
    metres = human_sequence()
    auto = PreprocessConfig(center=False, view_normalize=False)
    np.testing.assert_array_equal(normalize_space(metres, LAYOUT, auto), metres)
    as_is = PreprocessConfig(center=False, view_normalize=False, units="as-is")
    np.testing.assert_array_equal(normalize_space(metres * 1000, LAYOUT, as_is), metres * 1000)
    with pytest.raises(SkelsslError, match="units"):
        PreprocessConfig(units="feet").validate()


def test_median_bone_skips_absent_bodies_and_missing_joints():
    joints = human_sequence()
    joints = np.concatenate([joints, np.zeros_like(joints)], axis=1)  # 2nd body absent
    expected = np.median(bone_lengths(joints[:, 0])[:, 1:])  # the root's bone is not one
    joints[0, 0, 7] = 0.0  # a missing hand: its bone to the wrist would span the origin
    present = body_presence(joints)
    bone = median_bone_length(joints, LAYOUT, present)
    assert abs(bone - expected) < 0.02 and np.isfinite(bone)
    assert np.isnan(median_bone_length(np.zeros_like(joints), LAYOUT, present * False))


@pytest.mark.usefixtures("private_cache")
@pytest.mark.parametrize("dataset", ["ntu60", "pku-mmd", "synthetic"])
def test_units_auto_leaves_the_real_datasets_in_metres(dataset, request):
    """NTU and PKU-MMD (and the synthetic set) are in metres: units=auto must not touch
    them, so no recipe's numbers move (NW-UCLA: 1484 of 1484 clips at factor 1, measured)."""
    from skelssl.config import load_config
    from skelssl.data.cache import load_dataset
    from skelssl.data.preprocess import metre_scale

    roots = {"ntu60": "ntu_root", "pku-mmd": "pku_root"}
    overrides = [f"data.name={dataset}", "data.preprocess.units=as-is"]
    if dataset in roots:
        overrides.append(f"data.root={request.getfixturevalue(roots[dataset])}")
    data = load_dataset(load_config("simclr", None, overrides).data, quiet=True)
    layout = get_layout(data.layout)
    scale = metre_scale(data.joints, layout, body_presence(data.joints))
    assert len(scale) == len(data) and np.all(scale == 1.0)
