"""CRRL: contrast-reconstruction representation learning, with its fusion variants.

Wang, Wen, Si, Qian, Wang, "Contrast-reconstruction Representation Learning for
Self-supervised Skeleton-based Action Recognition", IEEE TIP 2022 (arXiv 2111.11051).

Three parts, each a few functions below:

1. **Sequence Reconstructor (SER).** A 2-layer bi-GRU encoder (preset ``gru-crrl``)
   gives per-frame states ``s_t``. A 2-layer uni-GRU decoder, fed with the first state
   ``s_1`` repeated over the valid frames, reconstructs the sequence forwards; fed with
   the last valid state ``s_len`` repeated, it reconstructs the sequence reversed:
   ``L_r = ||x − x̂||² + ||x⃖ − x̂⃖||²`` (Eq. (1)), summed over valid frames only.
2. **Contrastive Motion Learner (CML).** Velocity ``v_t = x_{t+1} − x_t`` with the last
   velocity frame repeated (Eq. (2)). A query encoder reads coordinates, a key encoder
   reads velocities; temporal average pooling and a 2-layer MLP head on each
   (Eqs. (3)-(4)); InfoNCE against a queue of K = 64 keys, τ = 0.1 (Eq. (6)); the key
   encoder follows the query encoder by momentum m = 0.999 (Eq. (5)), the key MLP by its
   own momentum ``m_mlp`` (default 1: never updated, Table XII).
3. **Information Fuser (INF).** Step 1 trains CML (``variant=cml``). Step 2
   (``variant=crrl``) freezes the CML query encoder as teacher and trains SER plus a
   2-layer projection g of the student's pooled states with
   ``L = L_r + λ_d · ||h_t − g(h_s)||²`` (Eqs. (7)-(8)). The student is the output.

**The representation** used for the linear probe and kNN (and the teacher's h_t) is the
encoder's temporal average pooling (TAP) of the top bi-GRU layer's per-frame states, both
directions concatenated (2×256 = 512 numbers at the paper's width), averaged over the real
frames only: Sec. IV-B "the feature before the MLP head is used as the action
representation", and the MLP heads of Eqs. (3), (4) and Algorithm 1 line 28 sit on
``TAP(h)``; the authors' ``Bi_GRU_packpad`` computes the same ``sum(states) / length``
over a packed sequence. Not the final hidden state (the ``gru`` encoder's ``pooling=last``)
and not one direction. The SER decoder hints are different: ``s_1`` and ``s_len`` (Fig. 3).

**Padded clips.** NW-UCLA is prepared as the paper says (Sec. IV-B): at most 50 frames,
shorter clips at their native rate and zero-padded (``preprocess.temporal=at-most``). The
encoder packs each clip by its length, so padding never enters a state, the pooled
representation, the velocity (Eq. (2)) or the hints; Eq. (1) is summed over the real frames
only, and frames after the longest clip of a batch are not decoded.

One run is one training phase; ``params.teacher`` names the run directory of the phase
before (its ``last.pt``, loaded with ``weights_only=True``). Variants (Tables VIII, X,
XIII): ``ser``, ``ser-forward``, ``ser-reverse``, ``cml``, ``cml-ser-joint`` (one
encoder, L_r + L_c), ``cml-pretrain-ser`` / ``ser-pretrain-cml`` (the teacher run's
encoder initialises ours), ``ser-distill-cml`` (SER teaches CML), ``crrl``, ``vg``
(velocity generation: the decoder generates velocities instead of coordinates) and
``vgsr`` (VG + SER). ``key_input`` = ``noise`` / ``shear`` / ``rotation`` turns CML into
the coordinate-coordinate contrast of Table IX. The method's ``encoder`` is always the
variant's output encoder (SER encoder, or CML query encoder).

From the paper and the authors' code (github.com/Picasso-Wang/CRRL): the decoder GRU's
hidden size is the frame size M·V·C in the authors' code (its outputs are the coordinates,
hence min-max to [-1, 1]; ``decoder_hidden=0``, the dataclass default) and 256 in Sec.
IV-B's text ("All GRUs have 256 hidden units"; ``decoder_hidden=256`` with a linear readout,
the NW-UCLA configs' choice on validation: SER +3.1 ± 0.9 kNN, +1.3 ± 1.4 linear,
``benchmarks/results/nwucla_crrl_decoder_validation.md``); MLP heads Linear-ReLU-Linear
without BatchNorm, width 2H; the key encoder starts as a copy of the query encoder, the key
MLP as an independent random MLP when it is never updated; λ_d = 0.1. Our choices: the
momentum update runs after each optimiser step (MoCo runs it before computing keys; the same
sequence of updates from step 2 on); the frozen teacher runs in eval mode (no dropout; the
authors' teacher keeps its dropout on: ``teacher_dropout=true``); the reading of VG/VGSR,
the weights of the joint losses (1) and the Table IX augmentation strengths. Not the
paper's: the NW-UCLA configs train with Adam (lr 1e-3) instead of Sec. IV-B's SGD (lr
0.01 / 0.04, momentum 0.9, weight decay 1e-4), chosen for each phase on a validation split
of the training views (``benchmarks/results/nwucla_crrl_optimiser.md``), and view-normalise
the clips before the min-max (the coordinate translation Sec. IV-B gives for NTU and PKU-MMD
only; ``benchmarks/results/nwucla_crrl_preparation.md``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from skelssl import dist
from skelssl.augment import gaussian_noise, rotate, shear
from skelssl.checkpoint import load_weights
from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.losses import (
    feature_distillation_loss,
    info_nce_with_queue,
    masked_reconstruction_loss,
)
from skelssl.methods.base import Method
from skelssl.models import EncoderConfig, build_encoder
from skelssl.models.gru import valid_lengths
from skelssl.models.heads import mlp
from skelssl.skeleton import get_layout
from skelssl.typed import from_dict, read_yaml

DIRECTIONS = ("forward", "reverse")
KEY_INPUTS = ("velocity", "noise", "shear", "rotation")
TEACHER_ROLES = ("none", "init", "distill")


@dataclass(frozen=True)
class Recipe:
    """What one variant trains: reconstruction directions, velocity generation
    directions, contrast, and what its teacher run is for (``init`` or ``distill``)."""

    reconstruct: tuple[str, ...] = ()
    generate_velocity: tuple[str, ...] = ()
    contrast: bool = False
    teacher: str = "none"


VARIANTS: dict[str, Recipe] = {  # the paper's tables that report each
    "ser": Recipe(reconstruct=DIRECTIONS),  # Tables VIII (a baseline) and X
    "ser-forward": Recipe(reconstruct=("forward",)),  # Table X
    "ser-reverse": Recipe(reconstruct=("reverse",)),  # Table X
    "cml": Recipe(contrast=True),  # INF step 1; Table VIII (a baseline)
    "cml-ser-joint": Recipe(reconstruct=DIRECTIONS, contrast=True),  # Table VIII
    "cml-pretrain-ser": Recipe(reconstruct=DIRECTIONS, teacher="init"),  # Table VIII
    "ser-pretrain-cml": Recipe(contrast=True, teacher="init"),  # Table VIII
    "ser-distill-cml": Recipe(contrast=True, teacher="distill"),  # Table VIII
    "crrl": Recipe(reconstruct=DIRECTIONS, teacher="distill"),  # INF step 2, Eqs. (7)-(8)
    "vg": Recipe(generate_velocity=DIRECTIONS),  # Table XIII
    "vgsr": Recipe(reconstruct=DIRECTIONS, generate_velocity=DIRECTIONS),  # Table XIII
}


@dataclass
class CRRLConfig:
    """Hyper-parameters of CRRL and its variants (see the module docstring)."""

    variant: str = "cml"  # a key of VARIANTS; "cml" = step 1, "crrl" = step 2 (needs teacher)
    # run directory of the previous phase (crrl, *-pretrain-*, *-distill-* variants)
    teacher: str | None = None
    temperature: float = 0.1  # τ, Eq. (6)
    queue_size: int = 64  # K, Sec. III-B
    key_momentum: float = 0.999  # m of the key encoder, Eq. (5)
    key_mlp_momentum: float = 1.0  # m_mlp of the key MLP; 1 = never updated (Table XII)
    key_input: str = "velocity"  # "velocity" (CML) | "noise" | "shear" | "rotation" (Table IX)
    noise_std: float = 0.05  # Table IX noise (our choice, data in [-1, 1])
    shear_magnitude: float = 0.5  # Table IX shear (SkeletonCLR's value)
    rotation_degrees: float = 30.0  # Table IX rotation about each axis (our choice)
    distill_weight: float = 0.1  # λ_d, Eq. (8) (authors' code)
    # the frozen teacher's inter-layer dropout while training: off (our choice; the paper
    # only says its parameters are fixed) or on, as the authors' code leaves the teacher
    # encoder in train mode (main_pretrain.py, main_teacher_student)
    teacher_dropout: bool = False
    contrast_weight: float = 1.0  # weight of L_c in cml-ser-joint (our choice)
    velocity_weight: float = 1.0  # weight of the velocity generation loss in vgsr (our choice)
    decoder_layers: int = 2  # uni-GRU decoder layers
    # the decoder GRU's hidden units: 0 = the frame size, its outputs are the frames (the
    # authors' code); H > 0 = H units and a linear readout to the frame (Sec. IV-B's text:
    # "All GRUs have 256 hidden units"; the readout is our choice, the text names none)
    decoder_hidden: int = 0
    decoder_dropout: float = 0.2  # decoder inter-layer dropout
    # the decoders' weights fixed at their random initialisation (Predict & Cluster's FW-AEC,
    # Su et al., CVPR 2020, whose kNN protocol CRRL's Table VI follows): a diagnosis, not
    # the paper's CRRL, whose decoder is trained
    decoder_fixed: bool = False

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first bad field."""
        if self.variant not in VARIANTS:
            known = ", ".join(VARIANTS)
            raise SkelsslError(
                f"unknown CRRL variant {self.variant!r} (known: {known})", "params.variant"
            )
        needs_teacher = VARIANTS[self.variant].teacher != "none"
        if needs_teacher and not self.teacher:
            raise SkelsslError(
                f"variant {self.variant!r} needs params.teacher=RUN_DIR (the previous phase's run)",
                "params.teacher",
            )
        if not needs_teacher and self.teacher:
            raise SkelsslError(f"variant {self.variant!r} takes no teacher", "params.teacher")
        if self.key_input not in KEY_INPUTS:
            known = ", ".join(KEY_INPUTS)
            raise SkelsslError(
                f"unknown key_input {self.key_input!r} (known: {known})", "params.key_input"
            )
        if self.temperature <= 0:
            raise SkelsslError(f"must be > 0, got {self.temperature}", "params.temperature")
        if self.queue_size < 1:
            raise SkelsslError(f"must be >= 1, got {self.queue_size}", "params.queue_size")
        for name in ("key_momentum", "key_mlp_momentum"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SkelsslError(
                    f"must be in [0, 1], got {getattr(self, name)}", f"params.{name}"
                )
        for name in ("noise_std", "shear_magnitude", "rotation_degrees", "distill_weight",
                     "contrast_weight", "velocity_weight"):  # fmt: skip
            if getattr(self, name) < 0:
                raise SkelsslError(f"must be >= 0, got {getattr(self, name)}", f"params.{name}")
        if self.decoder_hidden < 0:
            raise SkelsslError(f"must be >= 0, got {self.decoder_hidden}", "params.decoder_hidden")
        if self.decoder_layers < 1 or not 0.0 <= self.decoder_dropout < 1.0:
            raise SkelsslError(
                f"decoder_layers must be >= 1 and decoder_dropout in [0, 1), "
                f"got {self.decoder_layers}, {self.decoder_dropout}",
                "params",
            )


# ------------------------------------------------------------------ sequence targets


def reverse_valid_frames(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence's valid frames in reverse order, padding kept at the end: the
    reverse reconstruction target x⃖ of Eq. (1). ``out[i, t] = x[i, len_i − 1 − t]``.

    Shape: (N, T, ...) , lengths (N,) -> (N, T, ...).
    """
    n, frames = x.shape[:2]
    t = torch.arange(frames, device=x.device)
    lengths = lengths.to(x.device)
    source = (lengths[:, None] - 1 - t).clamp(min=0)  # (N, T)
    valid = t < lengths[:, None]
    index = source.reshape(n, frames, *([1] * (x.ndim - 2))).expand_as(x)
    mask = valid.reshape(n, frames, *([1] * (x.ndim - 2)))
    return torch.gather(x, 1, index) * mask


def velocity(x: Tensor, lengths: Tensor) -> Tensor:
    """Velocity ``v_t = x_{t+1} − x_t`` with the last velocity frame repeated so the
    sequence keeps ``len`` frames (CRRL Eq. (2)); zero on padding and for 1-frame inputs.

    Shape: (N, T, ...) , lengths (N,) -> (N, T, ...).
    """
    n, frames = x.shape[:2]
    lengths = lengths.to(x.device)
    diff = torch.zeros_like(x)
    diff[:, :-1] = x[:, 1:] - x[:, :-1]  # Eq. (2): v_t = x_{t+1} − x_t
    t = torch.arange(frames, device=x.device)
    last_difference = (lengths - 2).clamp(min=0)  # index of v_{len-1}
    source = torch.minimum(t[None, :], last_difference[:, None])  # v_len := v_{len-1}
    index = source.reshape(n, frames, *([1] * (x.ndim - 2))).expand_as(x)
    valid = (t[None, :] < lengths[:, None]) & (lengths[:, None] > 1)
    return torch.gather(diff, 1, index) * valid.reshape(n, frames, *([1] * (x.ndim - 2)))


def last_valid(states: Tensor, lengths: Tensor) -> Tensor:
    """``states[i, lengths[i] − 1]``. Shape: (N, T, D), (N,) -> (N, D)."""
    rows = torch.arange(states.shape[0], device=states.device)
    return states[rows, lengths.to(states.device) - 1]


# ------------------------------------------------------------------ modules


class SequenceDecoder(nn.Module):
    """SER decoder: a multi-layer uni-GRU fed with one encoder state repeated over T steps.

    ``hidden_size`` 0 (the authors' code): the GRU's hidden size is the frame size and its
    outputs are the generated frames. ``hidden_size`` H > 0 (Sec. IV-B's text, "All GRUs have
    256 hidden units"): H hidden units, then a linear readout of each step to a frame.
    A causal (uni-directional) GRU's output at step t does not depend on later steps, so
    running it over all T steps and masking the loss equals running it over the valid
    frames only. Shape: state (N, D_in) -> frames (N, T, D_out).
    """

    def __init__(
        self, input_size: int, frame_size: int, layers: int, dropout: float, hidden_size: int = 0
    ):
        super().__init__()
        self.gru = nn.GRU(
            input_size=input_size,
            hidden_size=hidden_size or frame_size,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.readout = nn.Linear(hidden_size, frame_size) if hidden_size else nn.Identity()

    def forward(self, state: Tensor, frames: int) -> Tensor:
        repeated = state[:, None, :].expand(-1, frames, -1).contiguous()
        output, _ = self.gru(repeated)
        return self.readout(output)


def two_layer_head(width: int, out_dim: int | None = None) -> nn.Sequential:
    """CRRL's MLP heads and projection g: Linear-ReLU-Linear, no BatchNorm (Eqs. (3)-(4), (7))."""
    return mlp([width, width, out_dim or width], batch_norm=False)


def freeze(module: nn.Module) -> nn.Module:
    """No gradients for ``module``'s parameters; returns it."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def load_run_encoder(run_dir: str | Path, spec: DataSpec) -> nn.Module:
    """The output encoder (``encoder.*`` weights) of a finished run, built from that
    run's ``config.yaml`` and loaded from its ``last.pt`` with ``weights_only=True``."""
    run_dir = Path(run_dir)
    for needed in ("config.yaml", "last.pt"):
        if not (run_dir / needed).is_file():
            raise SkelsslError(f"teacher run has no {needed}", run_dir)
    tree = read_yaml(run_dir / "config.yaml")
    stream = (tree.get("data") or {}).get("stream", "joint")  # the teacher reads its own stream
    spec = dataclasses.replace(spec, stream=stream)
    encoder = build_encoder(from_dict(EncoderConfig, tree.get("encoder"), "encoder"), spec)
    return load_weights(encoder, run_dir / "last.pt", prefix="encoder.", what="teacher encoder")


# ------------------------------------------------------------------ the method


class CRRL(Method):
    """SER, CML and their fusions (see the module docstring); ``encoder`` is the output."""

    Config = CRRLConfig
    default_encoder = "gru-crrl"

    def __init__(self, params: CRRLConfig, encoder_config: EncoderConfig, spec: DataSpec):
        super().__init__()
        params.validate()
        self.params = params
        self.recipe = VARIANTS[params.variant]
        self.encoder = build_encoder(encoder_config, spec)
        if self.recipe.teacher == "init":
            self._initialise_from(load_run_encoder(params.teacher, spec))
        width = self.encoder.out_dim
        self.coords = spec.coords  # what the channels mean: the augmentations ask
        frame_size = spec.bodies * get_layout(spec.layout).num_joints * spec.channels
        if self.recipe.reconstruct:
            self.decoder = self._build_decoder(frame_size)
        if self.recipe.generate_velocity:
            self.velocity_decoder = self._build_decoder(frame_size)
        if self.recipe.contrast:
            self._build_contrast(width)
        if self.recipe.teacher == "distill":
            self.teacher = freeze(load_run_encoder(params.teacher, spec))
            self.distill_head = two_layer_head(width, self.teacher.out_dim)  # g, Eq. (7)
            self.train(self.training)  # the teacher's mode, also outside the trainer

    def _build_decoder(self, frame_size: int) -> SequenceDecoder:
        p = self.params
        decoder = SequenceDecoder(
            self.encoder.seq_dim, frame_size, p.decoder_layers, p.decoder_dropout, p.decoder_hidden
        )
        return freeze(decoder) if p.decoder_fixed else decoder

    def _initialise_from(self, pretrained: nn.Module) -> None:
        try:
            self.encoder.load_state_dict(pretrained.state_dict())
        except RuntimeError as error:
            problem = str(error).splitlines()[0]
            raise SkelsslError(
                f"teacher encoder does not fit this run's encoder: {problem}", "params.teacher"
            ) from None

    def _build_contrast(self, width: int) -> None:
        """Key encoder (copy of the query encoder), MLP heads, and the queue (Eqs. (3)-(6))."""
        self.key_encoder = freeze(copy.deepcopy(self.encoder))
        self.query_head = two_layer_head(width)
        if self.params.key_mlp_momentum < 1.0:
            self.key_head = freeze(copy.deepcopy(self.query_head))
        else:  # never updated (Table XII): an independent random MLP, as in the authors' code
            self.key_head = freeze(two_layer_head(width))
        queue = nn.functional.normalize(torch.randn(self.params.queue_size, width), dim=1)
        self.register_buffer("queue", queue)  # (K, D) negatives
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.int64))

    @property
    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(online, target) pairs updated by :meth:`after_step`."""
        if not self.recipe.contrast:
            return []
        pairs = [(self.encoder, self.key_encoder)]
        if self.params.key_mlp_momentum < 1.0:
            pairs.append((self.query_head, self.key_head))
        return pairs

    def train(self, mode: bool = True) -> CRRL:
        super().train(mode)
        if self.recipe.teacher == "distill" and not self.params.teacher_dropout:
            self.teacher.eval()  # frozen: no dropout either (params.teacher_dropout: on)
        return self

    # -------------------------------------------------------------- losses

    def key_view(self, x: Tensor, lengths: Tensor, generator: torch.Generator | None) -> Tensor:
        """The key encoder's input: velocity (Eq. (2)) or an augmented copy (Table IX)."""
        p = self.params
        if p.key_input == "velocity":
            return velocity(x, lengths)
        if p.key_input == "noise":
            return gaussian_noise(x, p.noise_std, lengths=lengths, generator=generator,
                                  coords=self.coords)  # fmt: skip
        if p.key_input == "shear":
            return shear(x, p.shear_magnitude, lengths=lengths, generator=generator,
                         coords=self.coords)  # fmt: skip
        return rotate(x, p.rotation_degrees, lengths=lengths, generator=generator,
                      coords=self.coords)  # fmt: skip

    def generation_loss(
        self, decoder: SequenceDecoder, states: Tensor, target: Tensor, lengths: Tensor,
        directions: tuple[str, ...],
    ) -> dict[str, Tensor]:  # fmt: skip
        """Eq. (1) for ``target`` (N, T, F): forwards from s_1, reversed from s_len.

        Both directions share one decoder call on a batch of 2N hints (the decoder treats
        samples independently, so this is the same computation as two calls, in half the
        sequential GRU steps). Frames after the longest valid one are not decoded.
        """
        frames = int(lengths.max())  # padding after the longest clip is never a target
        target = target[:, :frames]
        hints = {"forward": states[:, 0], "reverse": last_valid(states, lengths)}
        wanted = [direction for direction in DIRECTIONS if direction in directions]
        generated = decoder(torch.cat([hints[d] for d in wanted]), frames).split(len(target))
        targets = {"forward": target, "reverse": reverse_valid_frames(target, lengths)}
        return {
            direction: masked_reconstruction_loss(output, targets[direction], lengths)
            for direction, output in zip(wanted, generated)
        }

    def contrast_loss(
        self, features: Tensor, x: Tensor, lengths: Tensor, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """InfoNCE of query MLP(TAP(f_q(x))) against key MLP(TAP(f_k(key view))) and the
        queue (Eqs. (3)-(6)); enqueues the keys while training. Returns (loss, accuracy)."""
        query = self.query_head(features)  # Eq. (3)
        with torch.no_grad():
            key = self.key_head(
                self.key_encoder(self.key_view(x, lengths, generator), lengths)
            )  # Eq. (4)
            key = nn.functional.normalize(key.float(), dim=1)
        loss = info_nce_with_queue(
            query, key, self.queue.clone(), self.params.temperature
        )  # Eq. (6)
        with torch.no_grad():
            normalised = nn.functional.normalize(query.detach().float(), dim=1)
            positive = (normalised * key).sum(1)
            negative_max = (normalised @ self.queue.T).max(1).values
            accuracy = (positive > negative_max).float().mean()
        if self.training:
            self.enqueue(key)
        return loss, accuracy

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Replace the oldest queue rows by ``keys`` (N, D) (all ranks' keys under DDP),
        first in, first out; the pointer marks the oldest row."""
        keys = dist.gather_with_grad(keys.detach()).to(self.queue.dtype)
        size = self.queue.shape[0]
        keys = keys[-size:]
        rows = (self.queue_pointer + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[rows] = keys
        self.queue_pointer.copy_((self.queue_pointer + keys.shape[0]) % size)

    def loss(self, batch: dict) -> dict[str, Tensor]:
        """The variant's loss on ``batch["joints"]`` (N, T, M, V, C).

        Returns ``{"loss": total, ...}`` with the logged parts: ``reconstruct_forward``,
        ``reconstruct_reverse``, ``velocity_forward``, ``velocity_reverse``, ``contrast``,
        ``contrastive_accuracy``, ``distill`` (only those the variant trains).
        """
        p, recipe = self.params, self.recipe
        x = batch["joints"]
        lengths = valid_lengths(x, batch.get("lengths"))
        generator = batch.get("generator")
        needs_states = bool(recipe.reconstruct or recipe.generate_velocity)
        if needs_states:
            features, states = self.encoder(x, lengths, return_sequence=True)
            if states.shape[1] != x.shape[1]:
                raise SkelsslError(
                    "SER needs one encoder state per frame (a GRU encoder)", "encoder.name"
                )
        else:
            features = self.encoder(x, lengths)
        n, frames = x.shape[:2]
        flat = x.reshape(n, frames, -1)
        parts: dict[str, Tensor] = {}
        total = features.new_zeros(())
        if recipe.reconstruct:  # Eq. (1)
            for direction, value in self.generation_loss(
                self.decoder, states, flat, lengths, recipe.reconstruct
            ).items():
                parts[f"reconstruct_{direction}"] = value
                total = total + value
        if recipe.generate_velocity:  # Table XIII: generate v (Eq. (2)) instead of / besides x
            target = velocity(x, lengths).reshape(n, frames, -1)
            for direction, value in self.generation_loss(
                self.velocity_decoder, states, target, lengths, recipe.generate_velocity
            ).items():
                parts[f"velocity_{direction}"] = value
                total = total + p.velocity_weight * value
        if recipe.contrast:
            contrast, accuracy = self.contrast_loss(features, x, lengths, generator)
            parts["contrast"], parts["contrastive_accuracy"] = contrast, accuracy
            weight = p.contrast_weight if recipe.reconstruct else 1.0
            total = total + weight * contrast
        if recipe.teacher == "distill":
            with torch.no_grad():
                teacher_features = self.teacher(x, lengths)  # h_t: TAP of the frozen teacher
            student = self.distill_head(features)  # g(h_s)
            parts["distill"] = feature_distillation_loss(student, teacher_features)  # Eq. (7)
            total = total + p.distill_weight * parts["distill"]  # Eq. (8)
        return {"loss": total, **{name: value.detach() for name, value in parts.items()}}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        """Momentum updates of the key encoder (Eq. (5)) and, when m_mlp < 1, the key MLP."""
        if not self.recipe.contrast:
            return
        dist.ema_update(self.key_encoder, self.encoder, self.params.key_momentum)
        if self.params.key_mlp_momentum < 1.0:
            dist.ema_update(self.key_head, self.query_head, self.params.key_mlp_momentum)
