"""CRRL: sequence targets, losses, the MoCo queue, momentum, teachers and every variant."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml

from skelssl.config import load_config
from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.losses import (
    feature_distillation_loss,
    info_nce_with_queue,
    masked_reconstruction_loss,
)
from skelssl.methods import METHODS, build_method
from skelssl.methods.crrl import (
    CRRL,
    VARIANTS,
    CRRLConfig,
    load_run_encoder,
    reverse_valid_frames,
    velocity,
)
from skelssl.models import EncoderConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SPEC = DataSpec(layout="kinect-v1-20", num_classes=3, frames=8, bodies=1, channels=3)
TINY_GRU = EncoderConfig(name="gru", hidden_size=6, num_layers=2, bidirectional=True, dropout=0.2)
LENGTHS = torch.tensor([8, 6, 8, 5])


def tiny_batch(seed: int = 0) -> dict:
    """Joints (4, 8, 1, 20, 3) in [-1, 1], zero-padded after varied lengths."""
    generator = torch.Generator().manual_seed(seed)
    joints = torch.rand(4, SPEC.frames, 1, 20, 3, generator=generator) * 2 - 1
    joints[torch.arange(SPEC.frames)[None, :] >= LENGTHS[:, None]] = 0.0
    return {
        "joints": joints,
        "lengths": LENGTHS.clone(),
        "labels": torch.arange(4) % 3,
        "index": torch.arange(4),
        "generator": torch.Generator().manual_seed(seed + 1),
    }


def crrl(**params) -> CRRL:
    torch.manual_seed(0)
    return build_method("crrl", CRRLConfig(**params), TINY_GRU, SPEC)


def save_run(method: CRRL, run_dir: Path) -> Path:
    """A minimal finished run directory: config.yaml (encoder) + last.pt (model)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tree = {"method": "crrl", "encoder": dataclasses.asdict(TINY_GRU)}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(tree))
    torch.save({"model": method.state_dict()}, run_dir / "last.pt")
    return run_dir


def sgd_step(method: CRRL, batch: dict) -> dict:
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.5)
    optimizer.zero_grad()
    out = method.loss(batch)
    out["loss"].backward()
    optimizer.step()
    method.after_step(0.0)
    return out


# ---------------------------------------------------------------- sequence targets


def test_velocity_differences_with_the_last_frame_repeated():
    x = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1) ** 2  # (N, T, F)
    lengths = torch.tensor([5, 3])
    x[1, 3:] = 0.0
    v = velocity(x, lengths)
    # Eq. (2): v_t = x_{t+1} - x_t for t < len - 1, and v_len = v_{len-1}
    assert torch.equal(v[0, :4, 0], x[0, 1:, 0] - x[0, :-1, 0])
    assert v[0, 4, 0] == v[0, 3, 0]
    assert torch.equal(v[1, :2, 0], x[1, 1:3, 0] - x[1, :2, 0])
    assert v[1, 2, 0] == v[1, 1, 0] and v[1, 2, 0] != 0  # the last valid frame repeats
    assert torch.equal(v[1, 3:], torch.zeros(2, 1))  # padding stays zero
    assert torch.equal(velocity(x[:1], torch.tensor([1]))[0], torch.zeros(5, 1))


def test_reverse_target_reverses_only_the_valid_frames():
    x = torch.arange(1, 11, dtype=torch.float32).reshape(2, 5, 1)
    x[1, 3:] = 0.0
    reversed_x = reverse_valid_frames(x, torch.tensor([5, 3]))
    assert reversed_x[0, :, 0].tolist() == [5, 4, 3, 2, 1]
    assert reversed_x[1, :, 0].tolist() == [8, 7, 6, 0, 0]


# ---------------------------------------------------------------- losses


def test_masked_reconstruction_loss_matches_a_naive_loop_and_ignores_padding():
    generator = torch.Generator().manual_seed(0)
    prediction = torch.randn(3, 6, 4, generator=generator)
    target = torch.randn(3, 6, 4, generator=generator)
    lengths = torch.tensor([6, 2, 4])
    expected = (
        sum(
            ((prediction[i, :n] - target[i, :n]) ** 2).sum() / n
            for i, n in enumerate(lengths.tolist())
        )
        / 3
    )
    assert masked_reconstruction_loss(prediction, target, lengths).item() == pytest.approx(
        expected.item(), rel=1e-5
    )
    changed = prediction.clone()
    changed[1, 2:] += 100.0  # padded frames of sample 1
    assert masked_reconstruction_loss(changed, target, lengths).item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_info_nce_with_queue_matches_a_naive_reference():
    generator = torch.Generator().manual_seed(1)
    q, k, queue = (torch.randn(*shape, generator=generator) for shape in [(4, 5), (4, 5), (7, 5)])
    tau = 0.1
    naive = 0.0
    for i in range(4):
        qi = q[i] / q[i].norm()
        positive = torch.exp(qi @ (k[i] / k[i].norm()) / tau)
        negatives = sum(torch.exp(qi @ (row / row.norm()) / tau) for row in queue)
        naive += -torch.log(positive / (positive + negatives))
    assert info_nce_with_queue(q, k, queue, tau).item() == pytest.approx(naive.item() / 4, rel=1e-4)


def test_feature_distillation_loss_is_the_mean_squared_distance_without_teacher_grad():
    student = torch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    loss = feature_distillation_loss(student, teacher)
    assert loss.item() == pytest.approx((5.0 + 25.0) / 2)
    loss.backward()
    assert teacher.grad is None and student.grad is not None


# ---------------------------------------------------------------- CML queue and momentum


def test_queue_enqueue_dequeue_order_and_size():
    method = crrl(variant="cml", queue_size=6)
    assert method.queue.shape == (6, method.encoder.out_dim)
    width = method.encoder.out_dim
    first, second = torch.full((4, width), 1.0), torch.full((4, width), 2.0)
    method.enqueue(first)
    assert int(method.queue_pointer) == 4
    assert (method.queue[:4] == 1.0).all() and not (method.queue[4:] == 1.0).any()
    method.enqueue(second)  # fills rows 4, 5 then wraps: the two oldest (rows 0, 1) leave
    assert method.queue.shape == (6, width) and int(method.queue_pointer) == 2
    assert (method.queue[[4, 5, 0, 1]] == 2.0).all() and (method.queue[[2, 3]] == 1.0).all()


def test_training_loss_enqueues_the_batch_keys():
    method = crrl(variant="cml", queue_size=8)
    method.train()
    before = method.queue.clone()
    method.loss(tiny_batch())
    assert int(method.queue_pointer) == 4
    assert not torch.equal(method.queue[:4], before[:4]) and torch.equal(
        method.queue[4:], before[4:]
    )
    assert torch.allclose(method.queue[:4].norm(dim=1), torch.ones(4))  # normalised keys


def test_key_mlp_unchanged_with_m_mlp_1_while_the_key_encoder_follows():
    method = crrl(variant="cml", key_momentum=0.5)
    key_mlp = {k: v.clone() for k, v in method.key_head.state_dict().items()}
    key_encoder = [p.clone() for p in method.key_encoder.parameters()]
    for seed in range(2):
        sgd_step(method, tiny_batch(seed))
    assert all(torch.equal(v, method.key_head.state_dict()[k]) for k, v in key_mlp.items())
    assert any(not torch.equal(a, b) for a, b in zip(key_encoder, method.key_encoder.parameters()))
    # Eq. (5) with m = 0.5 after the last step: key = 0.5 key_before + 0.5 query
    assert all(not p.requires_grad for p in method.key_head.parameters())


def test_key_mlp_follows_with_m_mlp_below_1():
    method = crrl(variant="cml", key_mlp_momentum=0.9)
    before = [p.clone() for p in method.key_head.parameters()]
    sgd_step(method, tiny_batch())
    after = list(method.key_head.parameters())
    expected = [0.9 * b + 0.1 * q for b, q in zip(before, method.query_head.parameters())]
    assert all(torch.allclose(a, e, atol=1e-6) for a, e in zip(after, expected))


# ---------------------------------------------------------------- teachers


def test_crrl_teacher_is_the_cml_query_encoder_frozen_without_gradients(tmp_path):
    cml = crrl(variant="cml")
    sgd_step(cml, tiny_batch())
    run = save_run(cml, tmp_path / "cml")
    student = crrl(variant="crrl", teacher=str(run))
    for (name, value), loaded in zip(
        cml.encoder.state_dict().items(), student.teacher.state_dict().values()
    ):
        assert torch.equal(value, loaded), name
    student.train()
    assert not student.teacher.training  # frozen teacher: eval mode, no dropout
    teacher_before = [p.clone() for p in student.teacher.parameters()]
    out = sgd_step(student, tiny_batch(3))
    assert set(out) == {"loss", "reconstruct_forward", "reconstruct_reverse", "distill"}
    assert all(p.grad is None and not p.requires_grad for p in student.teacher.parameters())
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, student.teacher.parameters()))
    assert all(p.grad is not None for p in student.distill_head.parameters())


def test_teacher_dropout_keeps_the_frozen_teacher_in_train_mode_as_the_authors_code(tmp_path):
    run = save_run(crrl(variant="cml"), tmp_path / "cml")
    assert not crrl(variant="crrl", teacher=str(run)).teacher.training  # built in eval mode
    student = crrl(variant="crrl", teacher=str(run), teacher_dropout=True)
    assert student.teacher.training  # as built: the training loop never calls train()
    twice = [student.teacher(tiny_batch()["joints"], LENGTHS) for _ in range(2)]
    assert not torch.allclose(*twice)  # the authors' code: dropout between the teacher's layers
    student.train()
    assert student.teacher.training
    assert all(not p.requires_grad for p in student.teacher.parameters())
    student.eval()
    assert not student.teacher.training


def test_pretrain_variants_initialise_the_encoder_from_the_teacher_run(tmp_path):
    ser = crrl(variant="ser")
    sgd_step(ser, tiny_batch())
    run = save_run(ser, tmp_path / "ser")
    loaded = load_run_encoder(run, SPEC)
    follower = crrl(variant="ser-pretrain-cml", teacher=str(run))
    for a, b, c in zip(
        ser.encoder.parameters(), loaded.parameters(), follower.encoder.parameters()
    ):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert all(p.requires_grad for p in follower.encoder.parameters())  # trained further


def test_teacher_errors_are_user_errors(tmp_path):
    with pytest.raises(SkelsslError, match="params.teacher"):
        crrl(variant="crrl")
    with pytest.raises(SkelsslError, match="takes no teacher"):
        crrl(variant="cml", teacher=str(tmp_path))
    with pytest.raises(SkelsslError, match="no config.yaml"):
        crrl(variant="crrl", teacher=str(tmp_path / "missing"))
    with pytest.raises(SkelsslError, match="unknown CRRL variant"):
        crrl(variant="crl")


# ---------------------------------------------------------------- every variant


@pytest.mark.parametrize("variant", [v for v in VARIANTS if VARIANTS[v].teacher == "none"])
def test_variant_forward_backward(variant):
    method = crrl(variant=variant)
    out = method.loss(tiny_batch())
    assert torch.isfinite(out["loss"]) and out["loss"].item() > 0
    assert all(not value.requires_grad for key, value in out.items() if key != "loss")
    out["loss"].backward()
    grads = [p.grad for p in method.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("variant", ["cml-pretrain-ser", "ser-distill-cml"])
def test_teacher_variants_forward_backward(variant, tmp_path):
    run = save_run(crrl(variant="ser"), tmp_path / "first")
    method = crrl(variant=variant, teacher=str(run))
    out = method.loss(tiny_batch())
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert all(p.grad is not None for p in method.encoder.parameters())


@pytest.mark.parametrize("key_input", ["noise", "shear", "rotation"])
def test_coordinate_coordinate_contrast(key_input):
    method = crrl(variant="cml", key_input=key_input)
    batch = tiny_batch()
    view = method.key_view(batch["joints"], batch["lengths"], batch["generator"])
    assert view.shape == batch["joints"].shape and not torch.equal(view, batch["joints"])
    assert torch.equal(view[1, 6:], torch.zeros_like(view[1, 6:]))  # padding stays zero
    out = method.loss(tiny_batch())
    out["loss"].backward()
    assert torch.isfinite(out["loss"])


def test_reconstruction_variants_follow_their_directions():
    forward_only = crrl(variant="ser-forward").loss(tiny_batch())
    reverse_only = crrl(variant="ser-reverse").loss(tiny_batch())
    generation = crrl(variant="vgsr").loss(tiny_batch())
    assert set(forward_only) == {"loss", "reconstruct_forward"}
    assert set(reverse_only) == {"loss", "reconstruct_reverse"}
    assert {"velocity_forward", "velocity_reverse", "reconstruct_forward"} <= set(generation)


def test_registered_and_configs_load():
    assert METHODS["crrl"] is CRRL
    method = build_method("crrl", None, None, SPEC)  # step 1 (CML) on the gru-crrl preset
    assert method.params.variant == "cml" and method.encoder.out_dim == 512
    assert method.key_encoder.gru.hidden_size == 256 and method.key_encoder.gru.dropout == 0.2
    paths = sorted(CONFIGS.glob("*/crrl*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        config = load_config("crrl", path, ["params.teacher=/some/run"])
        config.params.teacher = None if VARIANTS[config.params.variant].teacher == "none" else "x"
        config.params.validate()


# ---------------------------------------------------------------- padded clips (at most T frames)


def test_padding_content_changes_neither_the_representation_nor_any_loss(tmp_path):
    """Clips shorter than T are zero-padded (preprocess.temporal=at-most): whatever lies
    after ``lengths`` must not reach the features (packed bi-GRU, mean over real frames),
    the reconstruction, velocity or distillation losses."""
    teacher = save_run(crrl(variant="cml"), tmp_path / "cml")
    batch = tiny_batch()
    noisy = dict(batch, joints=batch["joints"].clone())
    padding = torch.arange(SPEC.frames)[None, :] >= LENGTHS[:, None]
    noisy["joints"][padding] = 5.0
    for variant in ("ser", "vgsr", "crrl"):
        method = crrl(variant=variant, teacher=str(teacher) if variant == "crrl" else None)
        method.eval()  # no dropout: both calls see the same network
        clean_out, noisy_out = method.loss(batch), method.loss(noisy)
        for key in clean_out:
            assert torch.allclose(clean_out[key], noisy_out[key], atol=1e-6), (variant, key)
    encoder = crrl(variant="ser").encoder.eval()
    features = encoder(batch["joints"], batch["lengths"])
    assert torch.allclose(features, encoder(noisy["joints"], noisy["lengths"]), atol=1e-6)
    # the representation is the mean of the top layer's states (both directions) over the
    # real frames (Sec. IV-B / the authors' TAP), not the final hidden state
    _, states = encoder(batch["joints"], batch["lengths"], return_sequence=True)
    assert features.shape == (4, 2 * TINY_GRU.hidden_size)
    assert torch.allclose(features[3], states[3, : LENGTHS[3]].mean(0), atol=1e-6)


def test_both_reconstruction_directions_in_one_decoder_call_equal_two_calls():
    method = crrl(variant="ser").eval()
    batch = tiny_batch()
    lengths = batch["lengths"]
    _, states = method.encoder(batch["joints"], lengths, return_sequence=True)
    target = batch["joints"].reshape(4, SPEC.frames, -1)
    losses = method.generation_loss(method.decoder, states, target, lengths, ("forward", "reverse"))
    forward = method.decoder(states[:, 0], SPEC.frames)
    reverse = method.decoder(states[torch.arange(4), lengths - 1], SPEC.frames)
    expected_forward = masked_reconstruction_loss(forward, target, lengths)
    expected_reverse = masked_reconstruction_loss(
        reverse, reverse_valid_frames(target, lengths), lengths
    )
    assert torch.allclose(losses["forward"], expected_forward, atol=1e-6)
    assert torch.allclose(losses["reverse"], expected_reverse, atol=1e-6)


def test_decoder_hidden_reads_the_papers_text_or_the_authors_code():
    """``decoder_hidden=0``: the GRU's outputs are the frames (hidden = frame size, the
    authors' code); ``decoder_hidden=H``: H units and a linear readout (Sec. IV-B's text)."""
    frame_size = SPEC.bodies * 20 * SPEC.channels
    code = crrl(variant="vgsr")
    assert code.decoder.gru.hidden_size == frame_size
    assert isinstance(code.decoder.readout, torch.nn.Identity)
    text = crrl(variant="vgsr", decoder_hidden=16)
    for decoder in (text.decoder, text.velocity_decoder):
        assert decoder.gru.hidden_size == 16 and decoder.readout.out_features == frame_size
        assert decoder(torch.zeros(3, 2 * TINY_GRU.hidden_size), 5).shape == (3, 5, frame_size)
    out = text.loss(tiny_batch())
    out["loss"].backward()
    assert text.decoder.readout.weight.grad.abs().sum() > 0
    with pytest.raises(SkelsslError, match="decoder_hidden"):
        CRRLConfig(decoder_hidden=-1).validate()


def test_fixed_decoder_keeps_its_initial_weights_while_the_encoder_learns():
    """``decoder_fixed`` (P&C's FW-AEC): no gradient reaches the decoders' weights, the
    encoder still learns from the reconstruction through them."""
    method = crrl(variant="vgsr", decoder_fixed=True)
    method.loss(tiny_batch())["loss"].backward()
    for decoder in (method.decoder, method.velocity_decoder):
        assert all(not p.requires_grad and p.grad is None for p in decoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.encoder.parameters())


def test_nwucla_configs_use_the_papers_preprocessing_and_width():
    """Sec. IV-B for NW-UCLA: at most 50 frames, min-max per person; 2x256 bi-GRU, batch 32,
    CML 100 epochs, SER / step 2 60 epochs halved at 20 and 50. Plus the recorded deviation:
    view normalisation (Sec. IV-B's NTU / PKU-MMD step, chosen on view 1 -> view 2)."""
    epochs = {"crrl-cml.yaml": 100, "crrl-ser.yaml": 60, "crrl.yaml": 60}
    for name, planned in epochs.items():
        config = load_config("crrl", CONFIGS / "nwucla" / name, ["params.teacher=/some/run"])
        prep = config.data.preprocess
        assert (prep.frames, prep.temporal, prep.view_normalize) == (50, "at-most", True)
        assert prep.minmax and prep.separate_bodies
        assert (config.encoder.hidden_size, config.encoder.num_layers) == (256, 2)
        assert config.train.batch_size == 32 and config.train.epochs == planned
        assert config.train.milestones == [20, 50] and config.train.gamma == 0.5
        # Sec. IV-B's "All GRUs have 256 hidden units", the decoder too, for SER; step 2 keeps
        # the authors' frame-sized decoder (each chosen on view 1 -> 2)
        chosen = {"ser": 256, "crrl": 0, "cml": 0}[config.params.variant]
        assert config.params.decoder_hidden == chosen
