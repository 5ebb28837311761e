"""Input streams (joint, bone, motion, bone-motion): one definition, checked against a hand
computation on a three-joint chain; every method trains on a stream; a bone run goes end to
end (pretrain, evaluate, embed, export) on the tiny synthetic set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from skelssl.cli import main
from skelssl.config import load_config
from skelssl.data.streams import STREAMS, to_stream
from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.methods import METHODS
from skelssl.models import EncoderConfig, StreamEncoder, build_encoder
from skelssl.runs import load_run, pretrain
from skelssl.skeleton import Layout
from tiny import TINY_SYNTHETIC

pytestmark = pytest.mark.usefixtures("private_cache")

# a chain rooted at joint 0: parent(1) = 0, parent(2) = 1
CHAIN = Layout(
    name="chain-3",
    joint_names=("root", "middle", "tip"),
    bones=((1, 0), (2, 1)),
    parts={},
    center=0,
    left_shoulder=1,
    right_shoulder=2,
    spine_base=0,
    spine_top=1,
)
# one sample, T = 4 of which 3 are valid, M = 1, V = 3, C = 2
FRAMES = [
    [[1, 0], [2, 1], [4, 1]],
    [[1, 1], [3, 1], [3, 3]],
    [[2, 1], [2, 2], [5, 2]],
    [[0, 0], [0, 0], [0, 0]],  # padding
]
# by hand: bone = joint - parent, the root's bone zero
BONES = [
    [[0, 0], [1, 1], [2, 0]],
    [[0, 0], [2, 0], [0, 2]],
    [[0, 0], [0, 1], [3, 0]],
    [[0, 0], [0, 0], [0, 0]],
]
# by hand: x[t + 1] - x[t] for t < 2, zero at the last valid frame (t = 2) and after
MOTION = [
    [[0, 1], [1, 0], [-1, 2]],
    [[1, 0], [-1, 1], [2, -1]],
    [[0, 0], [0, 0], [0, 0]],
    [[0, 0], [0, 0], [0, 0]],
]
BONE_MOTION = [
    [[0, 0], [1, -1], [-2, 2]],
    [[0, 0], [-2, 1], [3, -2]],
    [[0, 0], [0, 0], [0, 0]],
    [[0, 0], [0, 0], [0, 0]],
]


def batch(frames) -> torch.Tensor:
    return torch.tensor(frames, dtype=torch.float32)[None, :, None]  # (1, T, 1, V, C)


@pytest.mark.parametrize(
    ("stream", "expected"),
    [("joint", FRAMES), ("bone", BONES), ("motion", MOTION), ("bone-motion", BONE_MOTION)],
)
def test_streams_match_the_hand_computation(stream, expected):
    out = to_stream(batch(FRAMES), torch.tensor([3]), CHAIN, stream)
    assert out.shape == (1, 4, 1, 3, 2)
    assert torch.equal(out, batch(expected))


def test_motion_is_zero_at_and_after_the_last_valid_frame():
    # frame 2 holds coordinates, but lengths says only frames 0-1 are valid
    out = to_stream(batch(FRAMES), torch.tensor([2]), CHAIN, "motion")
    assert torch.equal(out[0, 0], batch(MOTION)[0, 0])
    assert not out[0, 1:].any()


def test_absent_bodies_and_padding_stay_zero():
    joints = torch.zeros(1, 4, 2, 3, 2)
    joints[:, :, 0] = batch(FRAMES)[:, :, 0]
    joints[0, :2, 1] = torch.tensor(FRAMES[:2], dtype=torch.float32) + 10  # leaves after t = 1
    for stream in STREAMS:
        out = to_stream(joints, torch.tensor([3]), CHAIN, stream)
        assert not out[0, 3].any(), stream  # padding frame
        assert not out[0, 2:, 1].any(), stream  # body 1 absent from t = 2
    motion = to_stream(joints, torch.tensor([3]), CHAIN, "motion")
    assert torch.equal(motion[0, 0, 1], motion[0, 0, 0])  # the same step, shifted by 10
    assert not motion[0, 1, 1].any()  # leaving is not a movement


def test_the_score_channel_passes_through():
    scores = torch.rand(1, 4, 1, 3, 1)
    joints = torch.cat([batch(FRAMES), scores], dim=-1)
    out = to_stream(joints, torch.tensor([3]), CHAIN, "bone", coordinate_channels=2)
    assert torch.equal(out[..., :2], batch(BONES)) and torch.equal(out[..., 2:], scores)


def test_unknown_stream_and_wrong_layout_are_user_errors():
    with pytest.raises(SkelsslError, match="known: joint, bone, motion, bone-motion"):
        to_stream(batch(FRAMES), None, CHAIN, "velocity")
    with pytest.raises(SkelsslError, match="layout has 25 joints"):
        to_stream(batch(FRAMES), None, "ntu-25", "bone")
    with pytest.raises(SkelsslError, match="data.stream 'bones'"):
        load_config("simclr", None, ["data.stream=bones"])


@pytest.mark.parametrize("encoder", ["gru", "stgcn"])
def test_stream_encoder_converts_then_encodes(encoder):
    spec = DataSpec("ntu-25", 4, 12, 2, 3, stream="bone-motion")
    config = EncoderConfig(name=encoder, hidden_size=8, num_layers=1, width=0.25,
                           temporal_kernel=3)  # fmt: skip
    wrapped = build_encoder(config, spec).eval()
    assert isinstance(wrapped, StreamEncoder) and wrapped.out_dim == wrapped.encoder.out_dim
    assert not isinstance(build_encoder(config, DataSpec("ntu-25", 4, 12, 2, 3)), StreamEncoder)
    x, lengths = torch.randn(3, 12, 2, 25, 3), torch.tensor([12, 7, 3])
    x[1, 7:] = 0
    x[2, 3:] = 0
    with torch.no_grad():
        expected = wrapped.encoder(to_stream(x, lengths, "ntu-25", "bone-motion"), lengths)
        assert torch.allclose(wrapped(x, lengths), expected)
        features, states = wrapped(x, lengths, return_sequence=True)
    assert torch.allclose(features, expected) and states.shape[0] == 3
    assert set(wrapped.state_dict()) == {f"encoder.{k}" for k in wrapped.encoder.state_dict()}


DATA = [o for o in TINY_SYNTHETIC if not o.startswith("encoder.")]
TINY_GRU = [o for o in TINY_SYNTHETIC if o.startswith("encoder.")]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_pretrains_on_a_stream(name, tmp_path):
    extra = ["encoder.use_bones=false"] if name == "byol" else []
    config = load_config(name, None, [*DATA, *TINY_GRU, *extra, "data.stream=motion",
                                      "epochs=1", "batch_size=16"])  # fmt: skip
    summary = pretrain(config, tmp_path / name, quiet=True)
    if name != "random":  # nothing to train
        assert summary["steps"] == 3 and np.isfinite(summary["final_loss"])
    run = load_run(tmp_path / name, quiet=True)
    assert isinstance(run.encoder, StreamEncoder) and run.encoder.stream == "motion"
    assert (
        yaml.safe_load((tmp_path / name / "config.yaml").read_text())["data"]["stream"] == "motion"
    )


def test_a_bone_run_pretrains_evaluates_embeds_and_exports(tmp_path, capsys):
    run = str(tmp_path / "bone")
    tiny = [*TINY_SYNTHETIC, "data.preprocess.view_normalize=false"]
    assert main(["pretrain", "simclr", "--out", run, "--data", "synthetic", "--quiet", *tiny,
                 "data.stream=bone", "epochs=1", "batch_size=16"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["evaluate", run, "--protocol", "linear", "--json", "--save-head",
                 "linear_epochs=5"]) == 0  # fmt: skip
    assert 0 <= json.loads(capsys.readouterr().out)["top1"] <= 100
    assert main(["embed", run, "--out", str(tmp_path / "f.npz"), "--json"]) == 0
    capsys.readouterr()
    loaded = load_run(run, quiet=True)
    features = np.load(tmp_path / "f.npz")["features"]
    with torch.no_grad():  # the features are the encoder's on the bone stream of the joints
        x = torch.from_numpy(np.asarray(loaded.data.joints[:4], dtype=np.float32))
        lengths = torch.from_numpy(np.asarray(loaded.data.lengths[:4], dtype=np.int64))
        inner = loaded.encoder.eval().encoder(to_stream(x, lengths, loaded.data.layout, "bone"),
                                              lengths)  # fmt: skip
    assert np.allclose(features[:4], inner.numpy(), atol=1e-5)
    for head in ([], ["--head", f"{run}/heads/linear.pt"]):
        out = str(tmp_path / f"model{len(head)}.pt")
        assert main(["export", run, "--out", out, "--json", *head]) == 0
        exported = json.loads(capsys.readouterr().out)
        assert exported["max_abs_diff"] < 1e-4
    module = torch.jit.load(str(tmp_path / "model0.pt"))
    with torch.no_grad():
        assert torch.allclose(module(x[:1], lengths[:1]), inner[:1], atol=1e-5)
