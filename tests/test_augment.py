"""Tests for skelssl.augment on tiny batches (N=4, T=8, M=2, V=20)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from skelssl import augment
from skelssl.errors import SkelsslError
from skelssl.skeleton import get_layout

LAYOUT = get_layout("kinect-v1-20")
N, T, M, V = 4, 8, 2, LAYOUT.num_joints
LENGTHS = torch.tensor([8, 5, 3, 8])


def make_batch(seed: int = 0) -> torch.Tensor:
    """Random skeletons with padding after LENGTHS and body 1 absent in some frames."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(N, T, M, V, 3, generator=generator)
    frames = torch.arange(T)
    x[frames[None, :] >= LENGTHS[:, None]] = 0.0
    x[0, :, 1] = 0.0  # second body never present in sample 0
    x[3, 2:4, 1] = 0.0  # second body missing in two frames of sample 3
    return x


def make_centred_batch(seed: int = 0) -> torch.Tensor:
    """Like make_batch, with body 0's centre joint of frame 0 at the origin."""
    x = make_batch(seed)
    centre = x[:, :1, :1, LAYOUT.center : LAYOUT.center + 1].clone()
    return (x - centre) * augment.valid_mask(x, LENGTHS)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bone_lengths(x: torch.Tensor) -> torch.Tensor:
    parents = torch.as_tensor(LAYOUT.bone_parents())
    return (x - x[..., parents, :]).norm(dim=-1)


def assert_zero_where_invalid(out: torch.Tensor, x: torch.Tensor, lengths=LENGTHS) -> None:
    invalid = ~augment.valid_mask(x, lengths).expand_as(x)
    assert invalid.any()
    assert torch.equal(out[invalid], torch.zeros_like(out[invalid]))


# ---------------------------------------------------------------------------- valid_mask


def test_valid_mask_marks_padding_and_absent_bodies():
    x = make_batch()
    mask = augment.valid_mask(x, LENGTHS)
    assert mask.shape == (N, T, M, 1, 1) and mask.dtype == torch.bool
    assert not mask[1, 5:].any() and mask[1, :5, 0].all()
    assert not mask[0, :, 1].any()
    assert not mask[3, 2:4, 1].any() and mask[3, 4:, 1].all()
    assert augment.valid_mask(x).sum() == mask.sum()  # padding is zero anyway


def test_wrong_shapes_raise_skelssl_error():
    with pytest.raises(SkelsslError):
        augment.rotate(torch.zeros(2, 3, 4))
    with pytest.raises(SkelsslError):
        augment.left_right_drop(torch.zeros(1, 2, 1, 25, 3), LAYOUT)
    with pytest.raises(SkelsslError):
        augment.temporal_mask(make_batch(), torch.tensor([9, 1, 1, 1]))


# ---------------------------------------------------------------------------- rotation


def test_rotation_matrix_is_rz_ry_rx():
    alpha, beta, gamma = (
        torch.tensor([0.3, -1.1]),
        torch.tensor([0.7, 2.0]),
        torch.tensor([-0.4, 0.9]),
    )
    composed = (
        augment.rotation_matrix(0.0, 0.0, gamma)
        @ augment.rotation_matrix(0.0, beta, 0.0)
        @ augment.rotation_matrix(alpha, 0.0, 0.0)
    )
    assert torch.allclose(augment.rotation_matrix(alpha, beta, gamma), composed, atol=1e-6)
    # Rz(90°) maps the x axis onto the y axis; Rx(90°) maps y onto z
    rz = augment.rotation_matrix(0.0, 0.0, math.pi / 2)
    assert torch.allclose(
        rz @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6
    )
    rx = augment.rotation_matrix(math.pi / 2, 0.0, 0.0)
    assert torch.allclose(
        rx @ torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]), atol=1e-6
    )
    r = augment.rotation_matrix(alpha, beta, gamma)
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand(2, 3, 3), atol=1e-6)


def test_rotate_keeps_bone_lengths_and_padding():
    x = make_batch()
    out = augment.rotate(x, lengths=LENGTHS, generator=seeded())
    assert not torch.allclose(out, x)
    assert torch.allclose(bone_lengths(out), bone_lengths(x), atol=1e-5)
    assert_zero_where_invalid(out, x)


def test_rotate_angles_stay_within_limits():
    x = torch.zeros(64, 1, 1, V, 3)
    x[..., 0] = 1.0  # every joint at (1, 0, 0)
    out = augment.rotate(x, (0.0, 0.0, 10.0), generator=seeded())
    angle = torch.rad2deg(torch.atan2(out[..., 1], out[..., 0]))
    assert angle.abs().max() <= 10.0 + 1e-4 and angle.abs().max() > 5.0
    assert torch.allclose(out[..., 2], torch.zeros_like(out[..., 2]))


# ---------------------------------------------------------------------------- shear, noise


def test_zero_shear_is_identity_and_shear_changes_shape():
    x = make_batch()
    assert torch.allclose(augment.shear(x, 0.0, lengths=LENGTHS, generator=seeded()), x)
    out = augment.shear(x, 0.5, lengths=LENGTHS, generator=seeded())
    assert not torch.allclose(bone_lengths(out), bone_lengths(x))
    assert_zero_where_invalid(out, x)


def test_gaussian_noise_has_requested_scale_on_valid_entries_only():
    x = make_batch()
    out = augment.gaussian_noise(x, 0.1, lengths=LENGTHS, generator=seeded())
    valid = augment.valid_mask(x, LENGTHS).expand_as(x)
    assert 0.07 < (out - x)[valid].std() < 0.13
    assert_zero_where_invalid(out, x)


# ---------------------------------------------------------------------------- left/right drop


def test_left_right_drop_zeroes_exactly_one_side_when_applied():
    x = make_batch()
    out = augment.left_right_drop(x, LAYOUT, p=1.0, generator=seeded())
    left, right = list(LAYOUT.left), list(LAYOUT.right)
    others = [v for v in range(V) if v not in left + right]
    sides = []
    for i in range(N):
        left_zero = not out[i, :, :, left].any()
        right_zero = not out[i, :, :, right].any()
        assert left_zero != right_zero
        kept = right if left_zero else left
        assert torch.equal(out[i, :, :, kept], x[i, :, :, kept])
        sides.append(left_zero)
    assert torch.equal(out[:, :, :, others], x[:, :, :, others])
    # both sides occur over many samples
    many = augment.left_right_drop(
        make_batch().repeat(8, 1, 1, 1, 1), LAYOUT, p=1.0, generator=seeded()
    )
    left_dropped = ~many[:, :, :, left].flatten(1).any(dim=1)
    assert 0 < left_dropped.sum() < many.shape[0]


def test_left_right_drop_with_p_zero_changes_nothing():
    x = make_batch()
    assert torch.equal(augment.left_right_drop(x, LAYOUT, p=0.0, generator=seeded()), x)


# ---------------------------------------------------------------------------- temporal


def test_temporal_mask_zeroes_the_right_number_of_contiguous_frames():
    x = make_batch()
    out = augment.temporal_mask(x, LENGTHS, ratio=0.25, generator=seeded())
    for i, length in enumerate(LENGTHS.tolist()):
        expected = math.floor(0.25 * length + 0.5)
        zeroed = torch.nonzero(~out[i, :length].flatten(1).any(dim=1)).flatten()
        assert len(zeroed) == expected
        if expected:
            assert zeroed.max() - zeroed.min() + 1 == expected  # contiguous
        kept = [t for t in range(length) if t not in zeroed.tolist()]
        assert torch.equal(out[i, kept], x[i, kept])
    assert_zero_where_invalid(out, x)


def test_temporal_crop_resize_shape_and_lengths():
    x = make_batch()
    out, lengths = augment.temporal_crop_resize(x, LENGTHS, out_frames=6, generator=seeded())
    assert out.shape == (N, 6, M, V, 3)
    assert lengths.tolist() == [6] * N and lengths.dtype == torch.long
    out_default, _ = augment.temporal_crop_resize(x, LENGTHS, generator=seeded())
    assert out_default.shape == x.shape


def test_temporal_crop_resize_full_crop_is_identity_when_frames_match():
    full = torch.full((N,), T)
    x_full = torch.randn(N, T, 1, V, 3, generator=seeded(3))
    out, _ = augment.temporal_crop_resize(x_full, full, min_ratio=1.0, generator=seeded())
    assert torch.allclose(out, x_full, atol=1e-6)
    # a crop of a linear motion stays linear: frames sampled from inside the valid span
    ramp = torch.arange(T, dtype=torch.float32)[None, :, None, None, None].expand(N, T, 1, V, 3) + 1
    ramp = ramp * (torch.arange(T)[None, :] < LENGTHS[:, None])[:, :, None, None, None]
    out, _ = augment.temporal_crop_resize(
        ramp.contiguous(), LENGTHS, out_frames=5, generator=seeded()
    )
    for i, length in enumerate(LENGTHS.tolist()):
        values = out[i, :, 0, 0, 0]
        assert values.min() >= 1 and values.max() <= length
        steps = values.diff()
        assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-5)


def test_temporal_crop_resize_keeps_absent_bodies_zero():
    x = make_batch()
    out, _ = augment.temporal_crop_resize(x, LENGTHS, out_frames=7, generator=seeded())
    assert not out[0, :, 1].any()  # body absent throughout stays absent
    assert out[:, :, 0].flatten(2).any(dim=2).all()  # body 0 present in every output frame


# ---------------------------------------------------------------------------- virtual camera


def test_virtual_camera_without_rotation_or_distance_is_identity_on_centred_input():
    x = make_centred_batch()
    assert torch.equal(x[:, 0, 0, LAYOUT.center], torch.zeros(N, 3))
    out = augment.virtual_camera(
        x, LAYOUT, lengths=LENGTHS, vary=(), max_distance=0, generator=seeded()
    )
    assert torch.allclose(out, x, atol=1e-6)
    out = augment.virtual_camera(
        x,
        LAYOUT,
        lengths=LENGTHS,
        continuous=True,
        max_degrees=0.0,
        max_distance=0,
        generator=seeded(),
    )
    assert torch.allclose(out, x, atol=1e-6)


def test_virtual_camera_moves_origin_to_first_frame_body_centre():
    x = make_batch()
    assert x[:, 0, 0, LAYOUT.center].norm(dim=-1).min() > 0.1
    out = augment.virtual_camera(x, LAYOUT, lengths=LENGTHS, max_distance=0, generator=seeded())
    assert torch.allclose(out[:, 0, 0, LAYOUT.center], torch.zeros(N, 3), atol=1e-5)
    assert torch.allclose(bone_lengths(out), bone_lengths(x), atol=1e-4)
    assert_zero_where_invalid(out, x)


def recover_rotations(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Least-squares R per sequence with out = R x over all present joints: (N, 3, 3)."""
    rotations = []
    for i in range(x.shape[0]):
        points_in, points_out = x[i].reshape(-1, 3), out[i].reshape(-1, 3)
        solution = torch.linalg.lstsq(points_in.double(), points_out.double()).solution
        rotations.append(solution.T.float())
    return torch.stack(rotations)


def test_virtual_camera_grid_angles_are_multiples_of_60_degrees():
    x = make_centred_batch()
    x = x.repeat(4, 1, 1, 1, 1)  # 16 sequences
    lengths = LENGTHS.repeat(4)
    out = augment.virtual_camera(x, LAYOUT, lengths=lengths, max_distance=0, generator=seeded())
    rotations = recover_rotations(x, out)
    grid = torch.deg2rad(torch.arange(0.0, 360.0, 60.0))
    candidates = torch.stack(
        [augment.rotation_matrix(a, b, g) for a, b, g in itertools.product(grid, grid, grid)]
    )  # (216, 3, 3)
    distance = (rotations[:, None] - candidates[None]).flatten(2).norm(dim=-1).min(dim=1).values
    assert distance.max() < 1e-3
    assert not torch.allclose(rotations, torch.eye(3).expand_as(rotations), atol=1e-3)
    # a 45° step is not on the 60° grid
    out45 = augment.virtual_camera(
        x, LAYOUT, lengths=lengths, angle_step=45.0, max_distance=0, generator=seeded()
    )
    distance45 = (
        (recover_rotations(x, out45)[:, None] - candidates[None])
        .flatten(2)
        .norm(dim=-1)
        .min(dim=1)
        .values
    )
    assert distance45.max() > 1e-2


def test_virtual_camera_vary_holds_other_angles_at_zero():
    x = make_centred_batch()
    out = augment.virtual_camera(
        x, LAYOUT, lengths=LENGTHS, vary=("gamma",), max_distance=0, generator=seeded(1)
    )
    # rotation about z only: z coordinates unchanged
    assert torch.allclose(out[..., 2], x[..., 2], atol=1e-5)


def pairwise_frame_distances(x: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """Distances between every joint of body 0 in frame a and every joint in frame b."""
    return torch.cdist(x[:, a, 0], x[:, b, 0])


def test_virtual_camera_per_sequence_is_rigid_and_per_frame_is_not():
    x = make_centred_batch()
    per_sequence = augment.virtual_camera(x, LAYOUT, lengths=LENGTHS, generator=seeded())
    assert torch.allclose(
        pairwise_frame_distances(per_sequence, 0, 2), pairwise_frame_distances(x, 0, 2), atol=1e-4
    )
    rigid = [0, 3]  # samples with at least 6 valid frames
    assert torch.allclose(
        pairwise_frame_distances(per_sequence[rigid], 0, 5),
        pairwise_frame_distances(x[rigid], 0, 5),
        atol=1e-4,
    )
    per_frame = augment.virtual_camera(
        x, LAYOUT, lengths=LENGTHS, per_frame=True, generator=seeded()
    )
    assert not torch.allclose(
        pairwise_frame_distances(per_frame[rigid], 0, 5),
        pairwise_frame_distances(x[rigid], 0, 5),
        atol=1e-2,
    )
    # within a frame the skeleton is still rigid
    assert torch.allclose(bone_lengths(per_frame), bone_lengths(x), atol=1e-4)
    assert_zero_where_invalid(per_frame, x)


def test_virtual_camera_distance_is_a_multiple_of_unit_distance():
    x = make_centred_batch().repeat(4, 1, 1, 1, 1)
    out = augment.virtual_camera(
        x, LAYOUT, vary=(), max_distance=3, unit_distance=0.5, generator=seeded()
    )
    present = augment.valid_mask(x)[:, :, :, 0, 0]
    shifts = []
    for i in range(x.shape[0]):
        shift = (out[i] - x[i])[present[i]]  # (P, V, 3), the same vector everywhere
        assert torch.allclose(shift, shift[0, 0].expand_as(shift), atol=1e-5)
        shifts.append(shift[0, 0].norm() / 0.5)
    steps = torch.stack(shifts)
    assert torch.allclose(steps, steps.round(), atol=1e-4) and steps.max() <= 3 + 1e-4
    assert len(set(steps.round().tolist())) > 1


# ---------------------------------------------------------------------------- all together


def all_augmentations(x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "rotate": augment.rotate(x, lengths=LENGTHS, generator=generator),
        "shear": augment.shear(x, lengths=LENGTHS, generator=generator),
        "noise": augment.gaussian_noise(x, lengths=LENGTHS, generator=generator),
        "drop": augment.left_right_drop(x, LAYOUT, p=0.5, generator=generator),
        "mask": augment.temporal_mask(x, LENGTHS, generator=generator),
        "camera": augment.virtual_camera(x, LAYOUT, lengths=LENGTHS, generator=generator),
        "camera_frames": augment.virtual_camera(
            x, LAYOUT, lengths=LENGTHS, continuous=True, per_frame=True, generator=generator
        ),
        "random_apply": augment.random_apply(
            lambda y: augment.shear(y, 0.5, lengths=LENGTHS, generator=generator), x, 0.5, generator
        ),
    }


def test_every_augmentation_keeps_padding_zero_and_input_untouched():
    x = make_batch()
    original = x.clone()
    outputs = all_augmentations(x, seeded())
    assert torch.equal(x, original)
    for name, out in outputs.items():
        assert out.shape == x.shape, name
        assert out.dtype == x.dtype, name
        assert_zero_where_invalid(out, x)
    cropped, _ = augment.temporal_crop_resize(x, LENGTHS, generator=seeded())
    assert torch.equal(x, original)
    assert not cropped[0, :, 1].any()


def test_seeded_generator_is_deterministic():
    x = make_batch()
    first = all_augmentations(x, seeded(7))
    second = all_augmentations(x, seeded(7))
    other = all_augmentations(x, seeded(8))
    for name in first:
        assert torch.equal(first[name], second[name]), name
    assert not torch.equal(first["rotate"], other["rotate"])
    assert not torch.equal(first["camera"], other["camera"])
    crop_a, _ = augment.temporal_crop_resize(x, LENGTHS, generator=seeded(7))
    crop_b, _ = augment.temporal_crop_resize(x, LENGTHS, generator=seeded(7))
    assert torch.equal(crop_a, crop_b)


def test_random_apply_mixes_augmented_and_original_samples():
    x = make_batch().repeat(4, 1, 1, 1, 1)
    out = augment.random_apply(lambda y: y * 2, x, 0.5, seeded())
    doubled = torch.tensor([torch.equal(out[i], x[i] * 2) for i in range(x.shape[0])])
    unchanged = torch.tensor([torch.equal(out[i], x[i]) for i in range(x.shape[0])])
    assert (doubled | unchanged).all() and doubled.any() and unchanged.any()
    assert torch.equal(augment.random_apply(lambda y: y * 2, x, 0.0, seeded()), x)
