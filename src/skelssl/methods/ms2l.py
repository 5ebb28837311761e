"""MS²L: multi-task self-supervised learning for skeleton action recognition.

Lin, Song, Yang, Liu, "MS²L: Multi-Task Self-Supervised Learning for Skeleton Based
Action Recognition", ACM MM 2020.

One shared encoder f (the paper's: one bidirectional GRU layer, 30 units per direction,
feature dimension 60 — preset ``gru-ms2l``) learns three tasks at once. One training
step, top to bottom:

1. Motion prediction (Eq. (1)). The paper "temporally down-samples [every sequence] to
   200 frames", adds Gaussian noise to the first 50 and masks (zeroes) the last 150
   (Sec. 4.1); a GRU decoder h_m predicts the masked future from f's feature. The loss
   is the squared error summed over the predicted frames. NW-UCLA clips have 1-201
   frames (median 31), so with ``preprocess.temporal: at-most`` (native frame rate,
   zero-padded to 200) the paper's rule reads ``observation="absolute"``: each sample
   observes its first ``min(observed_frames, length - 1)`` real frames (at least 1) and
   predicts the next real frames, at most ``predicted_frames``. ``observation="ratio"``
   (for data resampled to another length) observes ``round(length · 50 / 200)`` frames
   and predicts the rest of the valid frames. The encoder reads only the observed
   frames ("the encoder f reads in parts of the input sequences", Sec. 3.2).
   Sec. 4.1 sizes h_m as "1 FC layer", which a sequence cannot come from without states
   per frame: ``motion_head="frame"`` reads that way (one FC layer on every frame's
   encoder state, the input encoded over the whole clip with its future zeroed, as the
   authors' code encodes it); the default is the Seq2Seq decoder of Sec. 3.2. On NW-UCLA's
   validation split the per-frame head leaves the encoder at its untrained level
   (``nwucla_ms2l_validation_motion.md``).
2. Temporal jigsaw (Eq. (2)). The valid frames are cut into P = 3 equal segments, which
   are put in one of the P! = 6 orders; a single FC head h_j classifies the order
   (cross-entropy).
3. Contrastive learning (Eq. (3)). M views of every sample — the original, the
   temporally masked input of task 1 (encoded over its observed frames) and the
   temporally shuffled input of task 2 — go through f and a single FC projection h_c
   (dimension 60); each view is pulled to the
   mean projection of its own sample and pushed from the means of the other samples
   (:func:`skelssl.losses.mean_contrastive`). Any M >= 2 works (``contrastive_views``).
4. L_self = L_m + L_j + L_c (Sec. 3.2).

Ablation switches (Tables 7-8): ``tasks`` (any non-empty subset of the three),
``motion_mode="spatial"`` (mask ``masked_parts`` of the layout's five body parts in all
frames and predict them), ``jigsaw_mode="spatial"`` (shuffle the five body parts: 5! =
120 classes) and ``contrastive_mode`` (the transforms that make the masked and the
shuffled views: "temporal" or "spatial" for both, or "<masked>-<shuffled>", e.g.
"spatial-temporal" = Table 8's "Spatial P + Temporal J").

Every random transform draws from its own generator, seeded from ``batch["generator"]``
by a fixed number of draws, so a switch changes only the loss terms that use it.

Not specified by the paper, our choices: the noise standard deviation (0.01 data units,
1 cm for Kinect metres); the decoder reads f's feature at every step (with
``decoder_input="zeros"``, the feature only as the initial state, the encoder stays at its
untrained level on validation), starts from a state computed from it, and predicts offsets
from the last observed frame; the contrastive temperature τ = 1 (the paper's cosine
similarity without a temperature); Eq. (1)'s squared norm taken as the mean over a
frame's coordinates (the paper says "mean square error"), summed over the predicted
frames; Eq. (3) averaged over its M·N anchors, like Eq. (2) over its N samples. Knobs to
test other readings, defaults the paper's: ``motion_reduction="mean"`` (mean over
predicted frames), ``frame_error="sum"`` and ``contrastive_reduction="sum"`` (Eqs. (1) and
(3) as written: the squared norm summed over a frame's coordinates (60 on NW-UCLA), and
Eq. (3) summed over each sample's M views where Eq. (2) has one term per sample; with the
batch sum that the three equations share taken as a mean, this weighs L_m 60 and L_c 3
times as much as our reading does on NW-UCLA; both lose on NW-UCLA's validation split,
``nwucla_ms2l_validation_equations.md``), ``motion_target`` (default "future-offset", the offsets
above; "future" regresses the future frames themselves; "whole" every real frame of the
clip, Sec. 3.2's "reconstruct the whole input sequences", as the authors' code does;
neither wins on NW-UCLA's validation split, ``nwucla_ms2l_validation_motion.md``),
``projection_hidden`` (an MLP h_c as in the authors' code), ``temperature``; the feature
f pools the GRU states by ``encoder.pooling`` (mean or last state).

A deviation the paper does not have, off by default: ``view_rotation`` / ``view_shear``
give every encoder input (each task's input and each contrastive view) its own random
rotation then shear (:func:`skelssl.augment.rotate_then_shear`, the CrosSCLR/SkeletonCLR
augmentations) before its transform; the motion target is taken from the same rotated
copy. Without it Eq. (3)'s positives are matched by the untrained encoder
(``benchmarks/results/nwucla_ms2l_contrastive.md``); with it they differ by a viewpoint.
On NW-UCLA's validation split it moves the linear probe by -1.2 to +1.8 over five
strengths and temperatures, all inside the spread (``nwucla_ms2l_validation_rotate.md``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelssl.augment import rotate_then_shear, valid_mask
from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.losses import mean_contrastive
from skelssl.methods.base import Method
from skelssl.models import EncoderConfig, build_encoder
from skelssl.models.heads import mlp
from skelssl.skeleton import PART_NAMES, Layout, get_layout

TASKS = ("motion", "jigsaw", "contrastive")
MODES = ("temporal", "spatial")
VIEW_NAMES = ("original", "masked", "shuffled")
OBSERVATIONS = ("absolute", "ratio")
MOTION_TARGETS = ("future-offset", "future", "whole")
MOTION_HEADS = ("decoder", "frame")
DECODER_INPUTS = ("feature", "zeros")
REDUCTIONS = ("sum", "mean")
MAX_JIGSAW_SEGMENTS = 6  # 6! = 720 classes
_SEED_RANGE = 2**62


@dataclass
class MS2LConfig:
    """Hyper-parameters of MS²L (see the module docstring); defaults are the paper's."""

    tasks: list[str] = field(default_factory=lambda: list(TASKS))  # L_self terms (Table 7)
    motion_mode: str = "temporal"  # "temporal": predict the future | "spatial": masked parts
    jigsaw_mode: str = "temporal"  # "temporal": P segments | "spatial": the five body parts
    contrastive_mode: str = "temporal"  # masked/shuffled views' transforms (see the module)
    contrastive_views: list[str] = field(default_factory=lambda: list(VIEW_NAMES))  # M views
    observed_frames: int = 50  # frames seen by the motion predictor (of 200)
    predicted_frames: int = 150  # frames it predicts
    observation: str = "absolute"  # "absolute": first observed_frames real frames | "ratio"
    motion_reduction: str = "sum"  # Eq. (1): "sum" over predicted frames | "mean"
    # a frame's squared error: "mean" over its coordinates (the text's "MSE", our reading)
    # | "sum" (Eq. (1)'s ||x̂ - x||²₂ as written: 60 times the mean on NW-UCLA's 20 x 3)
    frame_error: str = "mean"
    # Eq. (3) per sample: "mean" over its M views (our reading) | "sum" over them, as the
    # equation sums its M·N anchors where Eq. (2) sums N samples (M times the mean)
    contrastive_reduction: str = "mean"
    # temporal h_m's target: "future-offset" the future as offsets from the last observed
    # frame (our reading) | "future" the future frames themselves | "whole" every real
    # frame of the clip (Sec. 3.2: h_m "generates sequences to reconstruct the whole
    # input sequences"; the authors' code)
    motion_target: str = "future-offset"
    # h_m: "decoder" a GRU decoder from the pooled feature (our reading of Sec. 3.2's
    # Seq2Seq) | "frame" one FC layer on each frame's encoder state (Sec. 4.1: h_m is "1 FC
    # layer"; the motion input is then encoded over the whole clip, its future zeroed, and
    # so is Eq. (3)'s masked view, which reuses that encoding)
    motion_head: str = "decoder"
    # the decoder's input at every step: "feature" f's feature (our choice) | "zeros" none,
    # the feature only sets its initial state (Predict & Cluster's weakened decoder)
    decoder_input: str = "feature"
    noise_std: float = 0.01  # Gaussian noise on the observed input (our choice)
    masked_parts: int = 1  # spatial motion prediction: body parts masked per sample
    jigsaw_segments: int = 3  # P; P! permutation classes
    jigsaw_hidden: int = 0  # 0: h_j is one FC layer (Sec. 4.1) | > 0: FC-BN-ReLU-FC
    projection_dim: int = 60  # h_c output (single FC layer)
    projection_hidden: int = 0  # 0: h_c is one FC layer (Sec. 4.1) | > 0: FC-ReLU-FC
    temperature: float = 1.0  # τ of Eq. (3); the paper uses plain cosine similarity
    view_rotation: float = 0.0  # degrees per axis, each input's own rotation (0: the paper)
    view_shear: float = 0.0  # shear magnitude after it (0: the paper)

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first bad field."""
        unknown = sorted(set(self.tasks) - set(TASKS))
        if not self.tasks or unknown or len(set(self.tasks)) != len(self.tasks):
            raise SkelsslError(
                f"params.tasks must be distinct names from {', '.join(TASKS)}, got {self.tasks}"
            )
        for name in ("motion_mode", "jigsaw_mode"):
            if getattr(self, name) not in MODES:
                raise SkelsslError(
                    f"params.{name} must be temporal or spatial, got {getattr(self, name)!r}"
                )
        contrastive_modes = self.contrastive_mode.split("-")
        if not set(contrastive_modes) <= set(MODES) or len(contrastive_modes) > 2:
            raise SkelsslError(
                f"params.contrastive_mode must be temporal, spatial or <masked>-<shuffled> "
                f"(e.g. spatial-temporal), got {self.contrastive_mode!r}"
            )
        bad_views = sorted(set(self.contrastive_views) - set(VIEW_NAMES))
        if len(self.contrastive_views) < 2 or bad_views:
            raise SkelsslError(
                f"params.contrastive_views needs >= 2 names from {', '.join(VIEW_NAMES)}, "
                f"got {self.contrastive_views}"
            )
        if self.observed_frames < 1 or self.predicted_frames < 1:
            raise SkelsslError(
                f"params.observed_frames and predicted_frames must be >= 1, "
                f"got {self.observed_frames}, {self.predicted_frames}"
            )
        if self.observation not in OBSERVATIONS:
            raise SkelsslError(
                f"params.observation must be absolute or ratio, got {self.observation!r}"
            )
        for name in ("motion_reduction", "frame_error", "contrastive_reduction"):
            if getattr(self, name) not in REDUCTIONS:
                raise SkelsslError(
                    f"params.{name} must be sum or mean, got {getattr(self, name)!r}"
                )
        if self.motion_head not in MOTION_HEADS:
            raise SkelsslError(
                f"params.motion_head must be one of {', '.join(MOTION_HEADS)}, "
                f"got {self.motion_head!r}"
            )
        if self.decoder_input not in DECODER_INPUTS:
            raise SkelsslError(
                f"params.decoder_input must be one of {', '.join(DECODER_INPUTS)}, "
                f"got {self.decoder_input!r}"
            )
        if self.motion_target not in MOTION_TARGETS:
            raise SkelsslError(
                f"params.motion_target must be one of {', '.join(MOTION_TARGETS)}, "
                f"got {self.motion_target!r}"
            )
        if self.noise_std < 0:
            raise SkelsslError(f"params.noise_std must be >= 0, got {self.noise_std}")
        if not 1 <= self.masked_parts < len(PART_NAMES):
            raise SkelsslError(
                f"params.masked_parts must be in 1..{len(PART_NAMES) - 1}, got {self.masked_parts}"
            )
        if not 2 <= self.jigsaw_segments <= MAX_JIGSAW_SEGMENTS:
            raise SkelsslError(
                f"params.jigsaw_segments must be in 2..{MAX_JIGSAW_SEGMENTS}, "
                f"got {self.jigsaw_segments}"
            )
        if self.jigsaw_hidden < 0:
            raise SkelsslError(f"params.jigsaw_hidden must be >= 0, got {self.jigsaw_hidden}")
        if self.view_rotation < 0 or self.view_shear < 0:
            raise SkelsslError(
                f"params.view_rotation and view_shear must be >= 0, "
                f"got {self.view_rotation}, {self.view_shear}"
            )
        if self.projection_dim < 1 or self.projection_hidden < 0 or self.temperature <= 0:
            raise SkelsslError(
                f"params.projection_dim must be >= 1, projection_hidden >= 0 and "
                f"temperature > 0, got {self.projection_dim}, {self.projection_hidden}, "
                f"{self.temperature}"
            )

    @property
    def contrastive_modes(self) -> dict[str, str]:
        """The transform mode of the masked and of the shuffled contrastive view."""
        modes = self.contrastive_mode.split("-")
        return {"masked": modes[0], "shuffled": modes[-1]}


# ---------------------------------------------------------------------------- permutations


def jigsaw_permutations(pieces: int) -> Tensor:
    """All orders of ``pieces`` pieces, lexicographic (label 0 = identity). Shape: (P!, P)."""
    return torch.tensor(list(itertools.permutations(range(pieces))), dtype=torch.long)


def inverse_labels(permutations: Tensor) -> Tensor:
    """For each label, the label of its inverse permutation. Shape: (P!, P) -> (P!,)."""
    inverse = permutations.argsort(dim=1)  # σ⁻¹[σ[j]] = j
    matches = (inverse[:, None, :] == permutations[None, :, :]).all(dim=-1)
    return matches.int().argmax(dim=1)


def _gather_frames(x: Tensor, source: Tensor) -> Tensor:
    """``out[n, t] = x[n, source[n, t]]``. Shape: (N, T, ...), (N, T) -> (N, T, ...)."""
    index = source.reshape(*source.shape, *([1] * (x.ndim - 2)))
    return torch.gather(x, 1, index.expand(-1, -1, *x.shape[2:]))


def temporal_jigsaw_source(
    lengths: Tensor, labels: Tensor, permutations: Tensor, frames: int
) -> Tensor:
    """Source frame of every output frame of the temporal jigsaw (MS²L Eq. (2) input).

    The first ``P·s`` valid frames (``s = lengths // P``) form P segments; output segment
    j is input segment ``permutations[label][j]``; the remaining frames stay in place.
    Each row is a permutation of ``0..frames-1``. Shape: lengths, labels (N,) -> (N, T).
    """
    pieces = permutations.shape[1]
    segment = (lengths // pieces).clamp_min(1)[:, None]  # s; shuffled part empty when s = 0
    shuffled_frames = (lengths // pieces * pieces)[:, None]
    t = torch.arange(frames, device=lengths.device)[None, :]
    order = permutations.to(lengths.device)[labels]  # (N, P)
    piece = (t // segment).clamp(max=pieces - 1)
    source = order.gather(1, piece) * segment + t % segment
    return torch.where(t < shuffled_frames, source, t)


def temporal_jigsaw(x: Tensor, lengths: Tensor, labels: Tensor, permutations: Tensor) -> Tensor:
    """Reorder the P temporal segments of each sequence by ``permutations[labels]``.

    Shape: (N, T, M, V, C), lengths and labels (N,) -> same as x.
    """
    return _gather_frames(x, temporal_jigsaw_source(lengths, labels, permutations, x.shape[1]))


def part_order(layout: Layout) -> Tensor:
    """Joints listed part by part in ``PART_NAMES`` order: a permutation of 0..V-1."""
    order = [joint for name in PART_NAMES for joint in layout.parts[name]]
    if sorted(order) != list(range(layout.num_joints)):
        raise SkelsslError(f"the body parts of layout {layout.name} do not cover every joint once")
    return torch.tensor(order, dtype=torch.long)


def spatial_jigsaw_sources(layout: Layout, permutations: Tensor) -> Tensor:
    """Source joint of every output joint for each order of the five body parts.

    The joints of the parts, taken in the permuted part order, fill the joint slots of
    the parts in their natural order. Shape: (5!, 5) -> (5!, V), each row a permutation.
    """
    parts = [torch.tensor(layout.parts[name]) for name in PART_NAMES]
    slots = part_order(layout)
    sources = torch.empty(permutations.shape[0], layout.num_joints, dtype=torch.long)
    for label, order in enumerate(permutations.tolist()):
        sources[label, slots] = torch.cat([parts[p] for p in order])
    return sources


def spatial_jigsaw(x: Tensor, labels: Tensor, sources: Tensor) -> Tensor:
    """Shuffle body parts: ``out[n, :, :, v] = x[n, :, :, sources[labels[n], v]]``.

    Shape: (N, T, M, V, C), labels (N,), sources (K, V) -> same as x.
    """
    index = sources.to(x.device)[labels]  # (N, V)
    index = index[:, None, None, :, None].expand(-1, x.shape[1], x.shape[2], -1, x.shape[4])
    return torch.gather(x, 3, index)


# ---------------------------------------------------------------------------- motion inputs


def observed_counts(
    lengths: Tensor, observed_frames: int, predicted_frames: int, observation: str = "ratio"
) -> Tensor:
    """Frames each sample shows the motion predictor.

    ``"absolute"``: the first ``observed_frames`` real frames (MS²L Sec. 4.1 on clips
    zero-padded at their native rate); ``"ratio"``: ``round(length · o / (o + p))``, which
    is 50 for the paper's 200 frames and 50 + 150. Either way at least 1 and at most
    ``length - 1`` (when the length allows a future frame). Shape: (N,) -> (N,).
    """
    if observation == "absolute":
        count = torch.full_like(lengths, observed_frames)
    else:
        ratio = observed_frames / (observed_frames + predicted_frames)
        count = torch.floor(lengths.double() * ratio + 0.5).long()
    return torch.minimum(count.clamp_min(1), (lengths - 1).clamp_min(1))


def predicted_counts(
    lengths: Tensor, observed: Tensor, predicted_frames: int, observation: str = "ratio"
) -> Tensor:
    """Real frames after the observed ones that the predictor forecasts (>= 0).

    ``"absolute"``: at most ``predicted_frames``; ``"ratio"``: all the rest of the clip.
    Shape: (N,), (N,) -> (N,).
    """
    future = (lengths - observed).clamp_min(0)
    return future.clamp(max=predicted_frames) if observation == "absolute" else future


def temporal_motion_input(
    x: Tensor, lengths: Tensor, observed: Tensor, noise_std: float, generator: torch.Generator
) -> Tensor:
    """Noisy observed frames, the future masked to zero (the input of MS²L Eq. (1)).

    Shape: (N, T, M, V, C), lengths and observed (N,) -> same as x.
    """
    noise = torch.randn(x.shape, generator=generator, device=x.device).to(x.dtype) * noise_std
    seen = torch.arange(x.shape[1], device=x.device)[None, :] < observed[:, None]  # (N, T)
    keep = valid_mask(x, lengths) & seen[:, :, None, None, None]
    return (x + noise) * keep


def masked_joints(
    n: int, layout: Layout, masked_parts: int, device, generator: torch.Generator
) -> Tensor:
    """``masked_parts`` random body parts per sample, as a joint mask. Shape: (N, V) bool."""
    membership = torch.zeros(len(PART_NAMES), layout.num_joints, dtype=torch.bool, device=device)
    for index, name in enumerate(PART_NAMES):
        membership[index, list(layout.parts[name])] = True
    scores = torch.rand(n, len(PART_NAMES), generator=generator, device=device)
    chosen = scores.argsort(dim=1)[:, :masked_parts]  # (N, k) distinct parts
    return membership[chosen].any(dim=1)


def spatial_motion_input(
    x: Tensor, lengths: Tensor, joints: Tensor, noise_std: float, generator: torch.Generator
) -> Tensor:
    """Noisy sequence with the ``joints`` (N, V) masked to zero in every frame.

    Shape: (N, T, M, V, C) -> same.
    """
    noise = torch.randn(x.shape, generator=generator, device=x.device).to(x.dtype) * noise_std
    keep = valid_mask(x, lengths) & ~joints[:, None, None, :, None]
    return (x + noise) * keep


# ---------------------------------------------------------------------------- heads


class MotionDecoder(nn.Module):
    """Motion prediction head h_m: a GRU decoder from the sequence feature to frames.

    The feature sets the initial state and is the input of every step (zeros instead
    when not ``feed_feature``); a single FC layer maps each state to a frame, added to
    ``anchor`` (the last observed frame) when given.
    Shape: feature (N, D), anchor (N, F) -> (N, steps, F), F = M·V·C.
    """

    def __init__(
        self, feature_dim: int, hidden_size: int, frame_dim: int, feed_feature: bool = True
    ):
        super().__init__()
        self.feed_feature = feed_feature
        self.initial_state = nn.Linear(feature_dim, hidden_size)
        self.gru = nn.GRU(feature_dim, hidden_size, batch_first=True)
        self.to_frame = nn.Linear(hidden_size, frame_dim)

    def forward(self, feature: Tensor, steps: int, anchor: Tensor | None = None) -> Tensor:
        state = torch.tanh(self.initial_state(feature))[None]  # (1, N, H)
        inputs = feature[:, None, :].expand(-1, steps, -1).contiguous()
        if not self.feed_feature:
            inputs = torch.zeros_like(inputs)
        states, _ = self.gru(inputs, state)
        frames = self.to_frame(states)
        return frames if anchor is None else frames + anchor[:, None, :]


# ---------------------------------------------------------------------------- the method


class MS2L(Method):
    """Shared encoder f with heads h_m (motion), h_j (jigsaw), h_c (contrastive).

    Only the heads of the enabled ``tasks`` are built (every parameter gets a gradient,
    as DDP requires).
    """

    Config = MS2LConfig
    default_encoder = "gru-ms2l"

    def __init__(self, params: MS2LConfig, encoder_config: EncoderConfig, spec: DataSpec):
        super().__init__()
        params.validate()
        self.params = params
        self.layout = get_layout(spec.layout)
        self.coords = spec.coords  # what the channels mean: the augmentations ask
        self.encoder = build_encoder(encoder_config, spec)
        width = self.encoder.out_dim
        self.frame_dim = spec.bodies * self.layout.num_joints * spec.channels
        tasks = set(params.tasks)
        if "motion" in tasks:  # h_m: GRU decoder (60 units for the paper's encoder) + FC
            self.motion_head = (
                MotionDecoder(width, width, self.frame_dim, params.decoder_input == "feature")
                if params.motion_head == "decoder"
                else nn.Linear(width, self.frame_dim)  # on every frame's state (Sec. 4.1)
            )
        if "contrastive" in tasks:  # h_c: single FC layer, dimension 60 (Sec. 4.1)
            self.projection_head = (
                nn.Linear(width, params.projection_dim)
                if params.projection_hidden == 0
                else mlp([width, params.projection_hidden, params.projection_dim], batch_norm=False)
            )
        self.register_buffer(
            "temporal_orders", jigsaw_permutations(params.jigsaw_segments), persistent=False
        )
        part_orders = jigsaw_permutations(len(PART_NAMES))
        self.register_buffer(
            "part_sources", spatial_jigsaw_sources(self.layout, part_orders), persistent=False
        )
        if "jigsaw" in tasks:  # h_j: single FC layer to the P! (or 5!) orders (Sec. 4.1)
            classes = (
                len(self.temporal_orders)
                if params.jigsaw_mode == "temporal"
                else len(self.part_sources)
            )
            self.jigsaw_head = (  # the authors' code: FC-BN-ReLU-FC (a deviation when > 0)
                nn.Linear(width, classes)
                if params.jigsaw_hidden == 0
                else mlp([width, params.jigsaw_hidden, classes], batch_norm=True)
            )

    # ------------------------------------------------------------ inputs of the tasks

    def _generators(self, generator: torch.Generator | None, device) -> dict[str, torch.Generator]:
        """One generator per transform, seeded by four draws from ``generator`` (a fifth,
        after them, for the viewpoint augmentation when it is on)."""
        seeds = torch.randint(0, _SEED_RANGE, (4,), generator=generator, device=device).tolist()
        names = ["masked-temporal", "masked-spatial", "shuffled-temporal", "shuffled-spatial"]
        if self.augments:  # drawn after the four, so the runs without it keep their draws
            seeds += torch.randint(
                0, _SEED_RANGE, (1,), generator=generator, device=device
            ).tolist()
            names.append("viewpoint")
        return {
            name: torch.Generator(device=device).manual_seed(seed)
            for name, seed in zip(names, seeds)
        }

    @property
    def augments(self) -> bool:
        """Whether every encoder input gets its own rotation and shear (the deviation)."""
        return self.params.view_rotation > 0 or self.params.view_shear > 0

    def masked_input(
        self, x: Tensor, lengths: Tensor, mode: str, generator: torch.Generator
    ) -> tuple[Tensor, dict]:
        """The motion-prediction input of ``mode`` and what its target needs."""
        p = self.params
        if mode == "temporal":
            observed = observed_counts(
                lengths, p.observed_frames, p.predicted_frames, p.observation
            )
            view = temporal_motion_input(x, lengths, observed, p.noise_std, generator)
            # a per-frame h_m needs states for the future frames: the whole (zeroed) clip
            encoded = observed if p.motion_head == "decoder" else lengths
            return view, {"observed": observed, "encoded_lengths": encoded}
        joints = masked_joints(x.shape[0], self.layout, p.masked_parts, x.device, generator)
        view = spatial_motion_input(x, lengths, joints, p.noise_std, generator)
        return view, {"joints": joints, "encoded_lengths": lengths}

    def shuffled_input(
        self, x: Tensor, lengths: Tensor, mode: str, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """The jigsaw input of ``mode`` and its permutation labels (N,)."""
        if mode == "temporal":
            labels = torch.randint(
                len(self.temporal_orders), (x.shape[0],), generator=generator, device=x.device
            )
            return temporal_jigsaw(x, lengths, labels, self.temporal_orders), labels
        labels = torch.randint(
            len(self.part_sources), (x.shape[0],), generator=generator, device=x.device
        )
        return spatial_jigsaw(x, labels, self.part_sources), labels

    # ------------------------------------------------------------ losses

    def motion_loss(
        self,
        feature: Tensor,
        x: Tensor,
        lengths: Tensor,
        info: dict,
        states: Tensor | None = None,
    ) -> Tensor:
        """MS²L Eq. (1): squared error summed (or averaged) over the predicted frames.

        Temporal mode: the frames after the observed ones (``motion_target`` "future-offset"
        or "future") or every real frame of the clip ("whole").

        Mean over samples. Shape: feature (N, D), x (N, T, M, V, C), states (N, T, D) (the
        motion input's per-frame encoder states, for ``motion_head="frame"``) -> scalar.
        """
        p = self.params
        n, t = x.shape[:2]
        frames = x.reshape(n, t, -1)
        if "observed" in info and p.motion_target == "whole":  # every real frame
            horizon = int(lengths.max())
            steps = torch.arange(horizon, device=x.device)[None, :]
            prediction = self._predicted_frames(feature, states, steps.expand(n, -1))
            target = frames[:, :horizon]
            weight = (steps < lengths[:, None]).to(x.dtype)[..., None].expand_as(target)
        elif "observed" in info:  # temporal: predict the real frames after the observed ones
            observed = info["observed"]
            future = predicted_counts(lengths, observed, p.predicted_frames, p.observation)
            horizon = int(future.clamp_min(1).max())
            steps = torch.arange(horizon, device=x.device)[None, :]
            target_index = (observed[:, None] + steps).clamp(max=t - 1)
            # "future-offset": offsets from the last observed (noisy) input frame, what the
            # model has seen; "future": the frames themselves
            anchor = info["input_last"] if p.motion_target == "future-offset" else None
            prediction = self._predicted_frames(feature, states, target_index, anchor)
            target = _gather_frames(frames, target_index)
            weight = (steps < future[:, None]).to(x.dtype)[..., None]
            weight = weight.expand_as(target)
        else:  # spatial: predict the masked joints in every valid frame
            every_frame = torch.arange(t, device=x.device)[None, :].expand(n, -1)
            prediction = self._predicted_frames(feature, states, every_frame)
            target = frames
            in_length = torch.arange(t, device=x.device)[None, :] < lengths[:, None]
            joint_weight = info["joints"][:, None, None, :, None].expand(n, t, *x.shape[2:])
            weight = (in_length[:, :, None, None, None] & joint_weight).reshape(n, t, -1)
            weight = weight.to(x.dtype)
        squared = (prediction - target).pow(2) * weight
        per_frame = squared.sum(dim=2)  # Eq. (1)'s ||x̂_t - x_t||²₂ of each frame
        if p.frame_error == "mean":  # the text's "mean square error" over its coordinates
            per_frame = per_frame / weight.sum(dim=2).clamp_min(1)
        if p.motion_reduction == "mean":  # a reading of "MSE" over the predicted frames
            counted = (weight.sum(dim=2) > 0).sum(dim=1).clamp_min(1)
            return (per_frame.sum(dim=1) / counted).mean()
        return per_frame.sum(dim=1).mean()  # Eq. (1): summed over predicted frames

    def _predicted_frames(
        self, feature: Tensor, states: Tensor | None, index: Tensor, anchor: Tensor | None = None
    ) -> Tensor:
        """h_m's frames at ``index`` (N, S): decoded from the pooled ``feature`` (N, D) over
        S steps, or read by one FC layer from the encoder ``states`` (N, T, D) at those
        frames; plus ``anchor`` (N, F) when given. Shape: -> (N, S, F)."""
        if self.params.motion_head == "decoder":
            return self.motion_head(feature, index.shape[1], anchor)
        frames = _gather_frames(self.motion_head(states), index)
        return frames if anchor is None else frames + anchor[:, None, :]

    def _encode(
        self, batch: dict, views: bool = False
    ) -> tuple[_TaskInputs, dict[str, int], list[int], Tensor]:
        """Every enabled task's input of ``batch`` (and the contrastive views when
        ``views``, whatever the tasks), encoded in one batched pass.

        Returns the inputs, the encoder slot of each task ("motion", "jigsaw"), the slots
        of the M contrastive views and the features, shape (K inputs, N, D).
        """
        x = batch["joints"]
        n, t = x.shape[:2]
        lengths = batch.get("lengths")
        lengths = (
            torch.full((n,), t, dtype=torch.long, device=x.device)
            if lengths is None
            else lengths.to(x.device).long().clamp(1, t)
        )
        p, tasks = self.params, set(self.params.tasks)
        generators = self._generators(batch.get("generator"), x.device)
        inputs = _TaskInputs(self, x, lengths, generators)
        slots: dict[str, int] = {}
        if "motion" in tasks:
            view, info = inputs.made("masked", p.motion_mode)
            slots["motion"] = inputs.add(view, info["encoded_lengths"])
        if "jigsaw" in tasks:
            slots["jigsaw"] = inputs.add(inputs.made("shuffled", p.jigsaw_mode)[0])
        contrastive = views or "contrastive" in tasks
        view_slots = self._contrastive_slots(inputs, slots) if contrastive else []
        sequences = "motion" in tasks and p.motion_head == "frame"
        return inputs, slots, view_slots, inputs.encode(self.encoder, sequences)

    def loss(self, batch: dict) -> dict[str, Tensor]:
        """L_self = L_m + L_j + L_c over the enabled tasks of ``batch["joints"]`` (N,T,M,V,C).

        Returns ``loss`` and each enabled term (``loss_motion``, ``loss_jigsaw``,
        ``loss_contrastive``) plus the detached ``jigsaw_accuracy``.
        """
        p, tasks = self.params, set(self.params.tasks)
        inputs, slots, view_slots, features = self._encode(batch)
        out: dict[str, Tensor] = {}
        if "motion" in tasks:
            view, info = inputs.made("masked", p.motion_mode)
            if p.motion_mode == "temporal":
                info = {**info, "input_last": _last_observed(view, info["observed"])}
            target = inputs.source("masked")  # the clip the masked input was cut from
            feature = features[slots["motion"]]
            states = None if inputs.states is None else inputs.states[slots["motion"]]
            out["loss_motion"] = self.motion_loss(feature, target, inputs.lengths, info, states)
        if "jigsaw" in tasks:
            labels = inputs.made("shuffled", p.jigsaw_mode)[1]
            logits = self.jigsaw_head(features[slots["jigsaw"]])
            out["loss_jigsaw"] = F.cross_entropy(logits, labels)  # MS²L Eq. (2)
            out["jigsaw_accuracy"] = (logits.detach().argmax(1) == labels).float().mean()
        if "contrastive" in tasks:
            projections = self.projection_head(features[view_slots])  # (M, N, projection_dim)
            contrastive = mean_contrastive(projections, p.temperature)  # Eq. (3)
            if p.contrastive_reduction == "sum":  # summed over each sample's M views
                contrastive = contrastive * projections.shape[0]
            out["loss_contrastive"] = contrastive
        terms = [out[f"loss_{task}"] for task in TASKS if task in tasks]
        return {"loss": torch.stack(terms).sum(), **out}  # L_self = L_m + L_j + L_c

    def contrastive_features(self, batch: dict) -> Tensor:
        """Encoder features of Eq. (3)'s M views, made as :meth:`loss` makes them (the same
        draws of ``batch["generator"]``), in ``params.contrastive_views`` order; without the
        contrastive task, the views it would contrast.

        Shape: (M, N, D).
        """
        _, _, view_slots, features = self._encode(batch, views=True)
        return features[view_slots]

    def _contrastive_slots(self, inputs: _TaskInputs, slots: dict[str, int]) -> list[int]:
        """Encoder slots of the M contrastive views; a task's input is reused as its view.

        The first "masked"/"shuffled" view of its ``contrastive_mode`` is the (cached)
        input of that transform; repeated names draw further transforms from the same
        generator, each from its own source clip (see :meth:`_TaskInputs.source`).
        """
        p = self.params
        modes = p.contrastive_modes
        reuse = {
            "masked": slots.get("motion") if p.motion_mode == modes["masked"] else None,
            "shuffled": slots.get("jigsaw") if p.jigsaw_mode == modes["shuffled"] else None,
        }
        seen: dict[str, int] = {}
        result = []
        for name in p.contrastive_views:
            seen[name] = seen.get(name, 0) + 1
            if name == "original":
                if "original" not in slots:
                    slots["original"] = inputs.add(inputs.source("original"))
                result.append(slots["original"])
                continue
            mode = modes[name]
            if seen[name] == 1:
                if reuse[name] is not None:
                    result.append(reuse[name])
                    continue
                made = inputs.made(name, mode)
            else:
                made = inputs.transform(name, mode, inputs.source(f"{name}-{seen[name]}"))
            view_lengths = made[1]["encoded_lengths"] if name == "masked" else None
            result.append(inputs.add(made[0], view_lengths))
        return result


class _TaskInputs:
    """The encoder inputs of one batch: each transform made once, from its own generator.

    ``made`` caches the task input of each transform and mode, so a contrastive view
    reuses it; ``add`` queues a view for the single batched encoder pass (``encode``).
    Shapes: x (N, T, M, V, C), lengths (N,).
    """

    def __init__(self, method: MS2L, x: Tensor, lengths: Tensor, generators: dict):
        self.method, self.x, self.lengths, self.generators = method, x, lengths, generators
        self.views: list[Tensor] = []
        self.view_lengths: list[Tensor] = []
        self._sources: dict[str, Tensor] = {}
        self._made: dict[tuple[str, str], tuple[Tensor, Tensor | dict]] = {}
        self.states: Tensor | None = None  # per-frame encoder states, when encode keeps them

    def source(self, key: str) -> Tensor:
        """The clip the input ``key`` is made from: x, or its own rotated and sheared copy
        when ``params.view_rotation``/``view_shear`` are set (drawn once per key)."""
        if key not in self._sources:
            p = self.method.params
            self._sources[key] = (
                rotate_then_shear(
                    self.x,
                    p.view_rotation,
                    p.view_shear,
                    lengths=self.lengths,
                    generator=self.generators["viewpoint"],
                    coords=self.method.coords,
                )
                if self.method.augments
                else self.x
            )
        return self._sources[key]

    def transform(self, name: str, mode: str, source: Tensor) -> tuple[Tensor, Tensor | dict]:
        """A fresh masked or shuffled input of ``mode`` from ``source`` and its
        transform's generator."""
        generator = self.generators[f"{name}-{mode}"]
        if name == "masked":
            return self.method.masked_input(source, self.lengths, mode, generator)
        return self.method.shuffled_input(source, self.lengths, mode, generator)

    def made(self, name: str, mode: str) -> tuple[Tensor, Tensor | dict]:
        """The task input of transform ``name`` ("masked": the motion-prediction input and
        its info; "shuffled": the jigsaw input and its labels (N,)) in ``mode``, made once
        from the source ``name``."""
        if (name, mode) not in self._made:
            self._made[name, mode] = self.transform(name, mode, self.source(name))
        return self._made[name, mode]

    def add(self, view: Tensor, view_lengths: Tensor | None = None) -> int:
        """Queue ``view`` (N, T, M, V, C) for encoding over ``view_lengths`` (default: the
        clips' lengths); returns its slot."""
        self.views.append(view)
        self.view_lengths.append(self.lengths if view_lengths is None else view_lengths)
        return len(self.views) - 1

    def encode(self, encoder: nn.Module, sequences: bool = False) -> Tensor:
        """Every queued view in one encoder pass. Shape: (K views, N, D); with
        ``sequences`` the per-frame states are kept too, as ``states`` (K, N, T, D)."""
        inputs, lengths = torch.cat(self.views), torch.cat(self.view_lengths)
        k, n = len(self.views), len(self.x)
        if not sequences:
            return encoder(inputs, lengths).reshape(k, n, -1)
        features, states = encoder(inputs, lengths, return_sequence=True)
        self.states = states.reshape(k, n, *states.shape[1:])
        return features.reshape(k, n, -1)


def _last_observed(view: Tensor, observed: Tensor) -> Tensor:
    """The last observed (noisy) input frame, flattened. Shape: (N, T, ...) -> (N, F)."""
    n, t = view.shape[:2]
    frames = view.reshape(n, t, -1)
    return _gather_frames(frames, (observed - 1)[:, None])[:, 0]
