"""View/distance contrastive learning: SimCLR with a virtual camera.

Gao, Yang, Du, "Contrastive Self-Supervised Learning for Skeleton Action Recognition",
NeurIPS 2020 Workshop on Pre-registration in Machine Learning, PMLR 148:51-61 (2021).
The abstract: the encoder learns "by adequate compositions of viewpoints and distances"
so that view and distance variations stop dominating the intra-class differences.

One training step, top to bottom:

1. Two views of every sequence from the virtual camera
   (:func:`skelssl.augment.virtual_camera`): origin at the body centre of the first
   frame (Eq. (1)), rotation R = Rz(γ)·Ry(β)·Rx(α) with each angle on the 60° grid
   (Eq. (2)), and a camera moved by d ∈ {0, ..., 5} unit distances; one camera per
   sequence, or per frame.
2. A shared encoder f: h = f(x), (N, D).
3. A 2-layer MLP projection head g (SimCLR, Chen et al. 2020, Sec. 2.1): z = g(h).
4. NT-Xent with temperature τ over the 2N views (Eqs. (4)-(5)), negatives gathered
   from all ranks under DDP (:func:`skelssl.losses.nt_xent`).

What we could and could not check in the paper (only its abstract and front matter
were reachable from here): the rotation grid, the 0-5 distance steps and the ablation
of holding one angle fixed are the design this project was given; temperature,
projection sizes, batch, learning rate, optimiser and the length of a unit distance
were not found, so we take SimCLR's defaults (τ = 0.1, hidden = D, output 128, LARS
with lr 0.3·B/256; Chen et al. 2020, Sec. B.1/B.9) and a unit of 0.1 (metres for the
Kinect datasets, which are centred but not rescaled).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from skelssl.augment import ANGLE_NAMES, camera_view
from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.losses import contrastive_accuracy, nt_xent
from skelssl.methods.base import Method
from skelssl.methods.byol import BYOLConfig
from skelssl.methods.byol import two_views as skeleton_byol_views
from skelssl.models import EncoderConfig, build_encoder
from skelssl.models.heads import mlp
from skelssl.skeleton import get_layout

VIEWS = ("virtual-camera", "skeleton-byol")


@dataclass
class SimCLRConfig:
    """Hyper-parameters of the view/distance contrastive method (see the module docstring).

    ``vary_angles`` lists the rotation angles the camera changes (α about x, β about y,
    γ about z); leaving one out is the paper's section 4.3 ablation. ``max_distance=0``
    turns the distance change off.
    """

    temperature: float = (
        0.1  # τ, Eq. (4); SimCLR's value for LARS training (not found in Gao et al.)
    )
    projection_dim: int = 128  # output of g (SimCLR)
    hidden_dim: int | None = None  # hidden width of g; None = the encoder's D (SimCLR)
    angle_step: float = 60.0  # grid {0, 60, ..., 300} degrees, Eq. (2)
    continuous_angles: bool = False  # uniform angles in [-max_degrees/2, max_degrees/2] instead
    max_degrees: float = 360.0  # range of the continuous angles
    vary_angles: list[str] = field(default_factory=lambda: list(ANGLE_NAMES))
    max_distance: int = 5  # d in {0, ..., max_distance} unit distances; 0 = off
    unit_distance: float = 0.1  # length of one unit (data units; metres for Kinect) — our choice
    per_frame: bool = False  # one camera per frame instead of per sequence
    # Not from the paper: optional extra augmentations applied after the camera (0 = off).
    shear_magnitude: float = 0.0  # SkeletonCLR-style shear, factors in [-s, s]
    noise_std: float = 0.0  # i.i.d. Gaussian joint noise
    crop_min_ratio: float = 1.0  # temporal crop-and-resize to [ratio, 1] of each length; 1 = off
    # "virtual-camera" (the paper) | "skeleton-byol": Skeleton BYOL's T₁/T₂ (a diagnostic)
    views: str = "virtual-camera"

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first bad field."""
        if self.temperature <= 0:
            raise SkelsslError(f"params.temperature must be > 0, got {self.temperature}")
        if self.projection_dim < 1 or (self.hidden_dim is not None and self.hidden_dim < 1):
            raise SkelsslError(
                f"params.projection_dim and hidden_dim must be >= 1, "
                f"got {self.projection_dim}, {self.hidden_dim}"
            )
        unknown = sorted(set(self.vary_angles) - set(ANGLE_NAMES))
        if unknown:
            raise SkelsslError(
                f"params.vary_angles has unknown angles {unknown} (known: {', '.join(ANGLE_NAMES)})"
            )
        if not 0.0 < self.crop_min_ratio <= 1.0:
            raise SkelsslError(
                f"params.crop_min_ratio must be in (0, 1], got {self.crop_min_ratio}"
            )
        if self.views not in VIEWS:
            raise SkelsslError(
                f"params.views must be one of {', '.join(VIEWS)}, got {self.views!r}"
            )
        if self.shear_magnitude < 0 or self.noise_std < 0:
            raise SkelsslError(
                f"params.shear_magnitude and noise_std must be >= 0, "
                f"got {self.shear_magnitude}, {self.noise_std}"
            )


class SimCLR(Method):
    """Encoder f + projection head g trained with NT-Xent on virtual-camera views."""

    Config = SimCLRConfig
    default_encoder = "gru-crrl"

    def __init__(self, params: SimCLRConfig, encoder_config: EncoderConfig, spec: DataSpec):
        super().__init__()
        params.validate()
        self.params = params
        self.layout = get_layout(spec.layout)
        self.coords = spec.coords  # 2D input: the camera's 2D counterpart (augment module)
        self.encoder = build_encoder(encoder_config, spec)
        width = self.encoder.out_dim
        hidden = params.hidden_dim or width
        # SimCLR projection head g: Linear-BN-ReLU-Linear (Chen et al. 2020, Sec. 2.1)
        self.projector = mlp([width, hidden, params.projection_dim])

    def make_view(
        self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor | None]:
        """One random view of a batch: virtual camera (Eqs. (1)-(2)), then the optional
        extras (:func:`skelssl.augment.camera_view`).

        Shape: (N, T, M, V, 3) -> same, with the view's lengths (N,) (changed by the crop).
        """
        p = self.params
        return camera_view(
            x,
            self.layout,
            lengths=lengths,
            crop_min_ratio=p.crop_min_ratio,
            shear_magnitude=p.shear_magnitude,
            noise_std=p.noise_std,
            angle_step=p.angle_step,
            continuous=p.continuous_angles,
            max_degrees=p.max_degrees,
            vary=tuple(p.vary_angles),
            max_distance=p.max_distance,
            unit_distance=p.unit_distance,
            per_frame=p.per_frame,
            generator=generator,
            coords=self.coords,
        )

    def views(self, batch: dict) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None]:
        """Two views of ``batch["joints"]`` and their lengths: two virtual-camera views, or
        (``views="skeleton-byol"``) Skeleton BYOL's T₁ and T₂ pipelines with BYOL's defaults
        (:func:`skelssl.methods.byol.two_views`), the factorial of
        ``benchmarks/results/nwucla_byol_diagnosis.md``."""
        if self.params.views == "skeleton-byol":
            return skeleton_byol_views(batch, self.layout, BYOLConfig())
        x, lengths = batch["joints"], batch.get("lengths")
        generator = batch.get("generator")
        view1, lengths1 = self.make_view(x, lengths, generator)
        view2, lengths2 = self.make_view(x, lengths, generator)
        return view1, lengths1, view2, lengths2

    def loss(self, batch: dict) -> dict[str, Tensor]:
        """NT-Xent between two virtual-camera views of ``batch["joints"]`` (N, T, M, V, 3).

        Returns ``{"loss": NT-Xent, "contrastive_accuracy": detached top-1 rate}``.
        """
        view1, lengths1, view2, lengths2 = self.views(batch)
        n = view1.shape[0]
        # Shared encoder f and head g; one pass over both views (BN sees all 2N views).
        both_lengths = None if lengths1 is None else torch.cat([lengths1, lengths2])
        h = self.encoder(torch.cat([view1, view2]), both_lengths)  # (2N, D)
        z = self.projector(h)  # (2N, projection_dim)
        z1, z2 = z[:n], z[n:]
        return {
            "loss": nt_xent(z1, z2, self.params.temperature),  # Gao et al. Eqs. (4)-(5)
            "contrastive_accuracy": contrastive_accuracy(z1.detach(), z2.detach()),
        }
