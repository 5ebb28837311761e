"""Encoders (GRU, ST-GCN), their presets, and the MLP head builder, on tiny CPU inputs."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.models import (
    ENCODER_PRESETS,
    ENCODERS,
    EncoderConfig,
    build_encoder,
    encoder_preset,
    mlp,
)
from skelssl.models.stgcn import concat_bones, hop_distances, spatial_partitions
from skelssl.skeleton import get_layout

LAYOUT_OF_JOINTS = {20: "kinect-v1-20", 25: "ntu-25"}
# small variants of each preset: same family and options, tiny sizes (tests stay fast)
TINY = {
    name: replace(config, hidden_size=min(config.hidden_size, 8), width=0.25)
    for name, config in ENCODER_PRESETS.items()
}


def spec_for(joints: int, bodies: int, frames: int = 12, channels: int = 3) -> DataSpec:
    return DataSpec(LAYOUT_OF_JOINTS[joints], 5, frames, bodies, channels)


def random_batch(spec: DataSpec, n: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    layout = get_layout(spec.layout)
    shape = (n, spec.frames, spec.bodies, layout.num_joints, spec.channels)
    return torch.randn(shape, generator=generator)


def tiny_encoder(name: str, spec: DataSpec, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_encoder(TINY[name], spec)


@pytest.mark.parametrize("joints,bodies", [(20, 1), (25, 2)])
@pytest.mark.parametrize("preset", sorted(ENCODER_PRESETS))
def test_output_shapes(preset, joints, bodies):
    spec = spec_for(joints, bodies, frames=10)
    encoder = tiny_encoder(preset, spec).eval()
    x = random_batch(spec, n=2)
    features, states = encoder(x, torch.tensor([10, 6]), return_sequence=True)
    assert features.shape == (2, encoder.out_dim)
    expected_frames = 10 if TINY[preset].name == "gru" else math.ceil(10 / 4)
    assert states.shape == (2, expected_frames, encoder.seq_dim)
    assert encoder(x).shape == (2, encoder.out_dim)
    assert torch.isfinite(features).all()


def test_full_size_preset_dims():
    spec = spec_for(25, 2)
    dims = {name: build_encoder(ENCODER_PRESETS[name], spec).out_dim for name in ENCODER_PRESETS}
    assert dims["gru-ms2l"] == 60 and dims["gru-crrl"] == 512
    assert dims["stgcn"] == 256 and dims["stgcn-0.5"] == 128 and dims["stgcn-0.25"] == 64
    assert dims["stgcn-byol-0.25"] == 64


@pytest.mark.parametrize("preset", ["gru-ms2l", "gru-crrl", "stgcn", "stgcn-byol-0.25"])
def test_padding_does_not_change_features(preset):
    short_spec, long_spec = spec_for(20, 1, frames=9), spec_for(20, 1, frames=16)
    torch.manual_seed(3)
    config = replace(TINY[preset], dropout=0.0)
    short_encoder = build_encoder(config, short_spec).eval()
    long_encoder = build_encoder(config, long_spec).eval()
    long_encoder.load_state_dict(short_encoder.state_dict())
    lengths = torch.tensor([9, 5, 1])
    x = (
        random_batch(short_spec)
        * (torch.arange(9)[None, :] < lengths[:, None])[..., None, None, None]
    )
    padded = torch.cat([x, torch.zeros(3, 7, 1, 20, 3)], dim=1)
    with torch.no_grad():
        short_features, short_states = short_encoder(x, lengths, return_sequence=True)
        long_features, long_states = long_encoder(padded, lengths, return_sequence=True)
    torch.testing.assert_close(long_features, short_features, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        long_states[:, : short_states.shape[1]], short_states, rtol=1e-5, atol=1e-5
    )
    assert long_states[:, short_states.shape[1] :].abs().max() == 0


def test_padded_states_are_zero_and_garbage_in_padding_is_ignored_by_gru():
    spec = spec_for(20, 1, frames=8)
    encoder = tiny_encoder("gru-crrl", spec).eval()
    x = random_batch(spec)
    lengths = torch.tensor([8, 4, 2])
    with torch.no_grad():
        features, states = encoder(x, lengths, return_sequence=True)
        noisy = x.clone()
        noisy[1, 4:] = 100.0
        assert torch.allclose(encoder(noisy, lengths), features, atol=1e-6)
    assert states[1, 4:].abs().max() == 0 and states[2, 2:].abs().max() == 0
    assert states[1, :4].abs().min() > 0


def test_gru_last_pooling_concatenates_final_states_of_both_directions():
    spec = spec_for(20, 1, frames=6)
    config = EncoderConfig(name="gru", hidden_size=4, num_layers=1, pooling="last")
    encoder = build_encoder(config, spec).eval()
    x = random_batch(spec, n=1)
    with torch.no_grad():
        features, states = encoder(x, return_sequence=True)
    # forward direction ends at the last frame, backward direction at the first
    torch.testing.assert_close(features[0, :4], states[0, -1, :4])
    torch.testing.assert_close(features[0, 4:], states[0, 0, 4:])


def test_absent_second_body_does_not_change_stgcn_features():
    spec = spec_for(25, 2, frames=8)
    encoder = tiny_encoder("stgcn", spec).eval()
    one_body = random_batch(spec, n=2)[:, :, :1]
    with torch.no_grad():
        alone = encoder(torch.cat([one_body, torch.zeros_like(one_body)], dim=2))
        twice = encoder(torch.cat([one_body, one_body], dim=2))
        other = encoder(torch.cat([one_body, torch.ones_like(one_body)], dim=2))
    torch.testing.assert_close(alone, twice, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(alone, other, atol=1e-4)  # a present second body does count


def test_hop_distances_on_kinect_layout():
    distance = hop_distances(get_layout("kinect-v1-20"))
    assert distance[1, 1] == 0 and distance[0, 1] == 1
    assert (
        distance[7, 1] == 5
    )  # left hand -> wrist -> elbow -> shoulder -> shoulder centre -> spine
    assert (distance == distance.T).all()


@pytest.mark.parametrize("layout_name", ["kinect-v1-20", "ntu-25"])
def test_spatial_partitions(layout_name):
    layout = get_layout(layout_name)
    adjacency = spatial_partitions(layout)
    v = layout.num_joints
    assert adjacency.shape == (3, v, v)
    root, centripetal, centrifugal = adjacency != 0
    assert (root == np.eye(v, dtype=bool)).all()  # each joint's root subset is itself
    np.testing.assert_allclose(adjacency.sum(axis=(0, 2)), np.ones(v), rtol=1e-6)
    parents = layout.bone_parents()
    for joint in range(v):
        if joint != layout.center:
            assert centripetal[joint, parents[joint]]  # the parent is closer to the centre
            assert centrifugal[parents[joint], joint]
    assert not centripetal[layout.center].any()  # nothing is closer than the centre
    # hop normalisation: each neighbour weighs 1 / (number of neighbours incl. itself)
    degree = 1 + np.bincount(np.array(layout.bones).ravel(), minlength=v)
    np.testing.assert_allclose(adjacency[0].diagonal(), 1 / degree, rtol=1e-6)


def test_bones_double_the_channels():
    spec = spec_for(20, 1, frames=6)
    layout = get_layout(spec.layout)
    x = random_batch(spec, n=2)
    parents = torch.from_numpy(layout.bone_parents())
    both = concat_bones(x, parents)
    assert both.shape == (2, 6, 1, 20, 6)
    torch.testing.assert_close(both[..., 5, 3:], x[..., 5, :] - x[..., 4, :])  # elbow - shoulder
    assert both[..., layout.center, 3:].abs().max() == 0
    encoder = build_encoder(TINY["stgcn-byol-0.25"], spec)
    assert encoder.data_norm.num_features == 1 * 20 * 6
    assert encoder.blocks[0].graph_conv.conv.in_channels == 6


@pytest.mark.parametrize("preset", ["gru-crrl", "stgcn-byol-0.25"])
def test_gradients_reach_every_parameter(preset):
    spec = spec_for(25, 2, frames=8)
    encoder = tiny_encoder(preset, spec).train()
    features, states = encoder(random_batch(spec, n=4), torch.tensor([8, 7, 3, 2]), True)
    (features.square().mean() + states.square().mean()).backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_stgcn_width_and_minimum_channels():
    spec = spec_for(20, 1)
    narrow = build_encoder(EncoderConfig(name="stgcn", width=0.25), spec)
    assert [b.graph_conv.out_channels for b in narrow.blocks][:4] == [16, 16, 16, 16]
    wide = build_encoder(EncoderConfig(name="stgcn", width=2.0), spec)
    assert wide.out_dim == 512
    assert sum(p.numel() for p in wide.parameters()) > 3 * sum(
        p.numel() for p in build_encoder(EncoderConfig(name="stgcn"), spec).parameters()
    )


@pytest.mark.parametrize(
    "config",
    [
        EncoderConfig(name="transformer"),
        EncoderConfig(name="stgcn", width=4.0),
        EncoderConfig(name="stgcn", temporal_kernel=4),
        EncoderConfig(name="gru", pooling="max"),
        EncoderConfig(name="gru", dropout=1.5),
        EncoderConfig(name="gru", use_bones=True),
        EncoderConfig(name="gru", gru_init="kaiming"),
    ],
)
def test_bad_configs_are_user_errors(config):
    with pytest.raises(SkelsslError):
        build_encoder(config, spec_for(20, 1))


def test_wrong_input_shape_is_a_user_error():
    encoder = tiny_encoder("stgcn", spec_for(20, 1))
    with pytest.raises(SkelsslError, match="expects a batch"):
        encoder(torch.zeros(2, 12, 1, 25, 3))


def test_presets_and_registry():
    assert set(ENCODERS) == {"gru", "stgcn"}
    preset = encoder_preset("gru-ms2l")
    preset.hidden_size = 1
    assert ENCODER_PRESETS["gru-ms2l"].hidden_size == 30  # a copy, not the shared preset
    assert ENCODER_PRESETS["stgcn-byol-0.5"].use_bones
    with pytest.raises(SkelsslError, match="unknown encoder preset"):
        encoder_preset("resnet")


def test_mlp_layers():
    head = mlp([16, 16, 8])
    assert [type(layer) for layer in head] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert head[0].bias is None and head[3].bias is not None
    plain = mlp([16, 32, 32, 4], batch_norm=False, last_batch_norm=True, last_bias=False)
    assert [type(layer) for layer in plain] == [
        nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.BatchNorm1d,
    ]  # fmt: skip
    assert plain[0].bias is not None and plain[4].bias is None
    assert plain(torch.randn(5, 16)).shape == (5, 4)
    assert isinstance(mlp([4, 4, 2], activation=nn.GELU)[2], nn.GELU)
    with pytest.raises(SkelsslError):
        mlp([8])


def conv_then_aggregate(graph_conv, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """The ST-GCN graph convolution as the peers' code computes it (Yan et al. Eq. (10)):
    1x1 conv to K·C_out channels, then a sum over partitions and neighbours."""
    b, _, t, v = x.shape
    y = graph_conv.conv(x).view(b, graph_conv.partitions, graph_conv.out_channels, t, v)
    return torch.einsum("bkctj,kij->bcti", y, adjacency)


@pytest.mark.parametrize("channels_last", [True, False])
def test_folded_graph_conv_equals_conv_then_aggregate(channels_last):
    from skelssl.models.stgcn import GraphConv

    torch.manual_seed(0)
    adjacency = torch.from_numpy(spatial_partitions(get_layout("ntu-25")))
    adjacency = (adjacency * (1 + torch.rand(adjacency.shape))).requires_grad_()
    graph_conv = GraphConv(4, 6, partitions=3)
    nn.init.normal_(graph_conv.conv.bias)
    x = torch.randn(2, 4, 5, 25, requires_grad=True)
    folded_input = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    folded = graph_conv(folded_input, adjacency)
    reference = conv_then_aggregate(graph_conv, x, adjacency)
    torch.testing.assert_close(folded, reference, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(reference)
    grads = torch.autograd.grad((folded * weights).sum(), [x, adjacency, *graph_conv.parameters()])
    expected = torch.autograd.grad(
        (reference * weights).sum(), [x, adjacency, *graph_conv.parameters()]
    )
    for grad, reference_grad in zip(grads, expected):
        torch.testing.assert_close(grad, reference_grad, rtol=1e-4, atol=1e-4)


def test_stgcn_parameter_names_and_shapes_unchanged():
    """Checkpoints written before the folded graph convolution still load."""
    spec = spec_for(25, 2)
    encoder = build_encoder(replace(ENCODER_PRESETS["stgcn-0.25"], temporal_kernel=3), spec)
    shapes = {name: tuple(p.shape) for name, p in encoder.state_dict().items()}
    assert shapes["blocks.0.graph_conv.conv.weight"] == (48, 3, 1, 1)
    assert shapes["blocks.0.graph_conv.conv.bias"] == (48,)
    assert shapes["blocks.0.edge_importance"] == (3, 25, 25)
    assert shapes["blocks.4.residual.0.weight"] == (32, 16, 1, 1)
    assert shapes["blocks.9.temporal_conv.weight"] == (64, 64, 3, 1)
    assert not any(name.startswith("blocks.0.residual") for name in shapes)
    # adjacency + parents buffers, data_norm, 10 blocks, the two projected residuals
    assert len(shapes) == 2 + 5 + 10 * 15 + 2 * 7


def test_stgcn_features_do_not_depend_on_memory_layout_or_mask_skipping():
    """Unpadded batches skip the frame masks on CPU; the result is the same."""
    spec = spec_for(25, 2, frames=8)
    encoder = tiny_encoder("stgcn", spec).eval()
    x = random_batch(spec, n=2)
    full = encoder(x, torch.tensor([8, 8]))
    torch.testing.assert_close(encoder(x), full)
    padded = x.clone()
    padded[1, 6:] = 0
    features = encoder(padded, torch.tensor([8, 6]))
    torch.testing.assert_close(features[0], full[0])
    assert not torch.allclose(features[1], full[1])


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_gru_unpadded_fast_path_equals_packed_sequence(pooling):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    spec = spec_for(20, 1, frames=7)
    torch.manual_seed(0)
    encoder = build_encoder(replace(TINY["gru-crrl"], pooling=pooling, dropout=0.0), spec)
    x = random_batch(spec, n=3)
    features, states = encoder(x, torch.tensor([7, 7, 7]), return_sequence=True)
    lengths = torch.tensor([7, 7, 7])
    packed = pack_padded_sequence(x.reshape(3, 7, -1), lengths, batch_first=True)
    packed_states, last_hidden = encoder.gru(packed)
    reference_states, _ = pad_packed_sequence(packed_states, batch_first=True)
    torch.testing.assert_close(states, reference_states)
    if pooling == "mean":
        torch.testing.assert_close(features, reference_states.mean(dim=1))
    else:
        torch.testing.assert_close(features, last_hidden[-2:].transpose(0, 1).reshape(3, -1))


@pytest.mark.parametrize("preset", ["stgcn", "gru-crrl"])
def test_traced_encoder_keeps_masking_for_lengths_seen_only_later(preset):
    """The unpadded fast paths must not be baked into a traced export."""
    spec = spec_for(20, 1, frames=8)
    encoder = tiny_encoder(preset, spec).eval()
    x = random_batch(spec, n=1)
    with torch.no_grad():
        traced = torch.jit.trace(encoder, (x, torch.tensor([8])), check_trace=False)
        torch.testing.assert_close(traced(x, torch.tensor([5])), encoder(x, torch.tensor([5])))


def test_gru_orthogonal_init_is_the_ms2l_authors_and_the_default_stays_pytorchs():
    spec = spec_for(20, 1)
    config = EncoderConfig(name="gru", hidden_size=6, num_layers=2, bidirectional=True)
    torch.manual_seed(0)
    default = build_encoder(config, spec).gru
    torch.manual_seed(0)
    authors = build_encoder(replace(config, gru_init="orthogonal"), spec).gru
    recurrent = authors.weight_hh_l1_reverse  # (3H, H): orthonormal columns
    torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(6), atol=1e-5, rtol=0)
    assert all(bias.abs().max() == 0 for name, bias in authors.named_parameters() if "bias" in name)
    bound = math.sqrt(6 / sum(authors.weight_ih_l0.shape))  # Xavier-uniform
    assert authors.weight_ih_l0.abs().max() <= bound
    assert all(bias.abs().max() > 0 for name, bias in default.named_parameters() if "bias" in name)
    assert default.weight_hh_l0.abs().max() <= 1 / math.sqrt(6)  # nn.GRU's own uniform


@pytest.mark.parametrize(("bidirectional", "bias"), [(True, True), (False, True), (True, False)])
def test_padded_gru_equals_the_packed_gru_with_its_gradients(bidirectional, bias):
    """padded_gru (the CPU path for padded batches) gives the packed GRU's states, final
    hidden states and gradients, layer by layer and in both directions."""
    from skelssl.models.gru import packed_gru, padded_gru

    torch.manual_seed(0)
    gru = nn.GRU(5, 4, num_layers=2, batch_first=True, bidirectional=bidirectional, bias=bias)
    gru = gru.double()
    x = torch.randn(4, 9, 5, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([9, 3, 6, 1])
    weight = torch.randn(9, 4 * (2 if bidirectional else 1), dtype=torch.float64)

    def outputs_and_gradients(states, last_hidden):
        loss = (states * weight).sum() + last_hidden.square().sum()
        return states, last_hidden, torch.autograd.grad(loss, [x, *gru.parameters()])

    reference = outputs_and_gradients(*packed_gru(gru, x, lengths))
    ours = outputs_and_gradients(*padded_gru(gru, x, lengths))
    torch.testing.assert_close(ours[0], reference[0])
    torch.testing.assert_close(ours[1], reference[1])
    for mine, theirs in zip(ours[2], reference[2], strict=True):
        torch.testing.assert_close(mine, theirs)
