"""MS²L's evaluation protocols: training for action recognition (Lin et al., ACM MM 2020,
Sec. 3.3).

After (or instead of) self-supervised pre-training, an action classifier C is trained on
the labelled data. C is the paper's: one unidirectional GRU layer of 60 units over the
encoder's per-frame states, then an MLP (``classifier="gru"``); ``classifier="linear"``
is a linear layer on the pooled feature. The strategies:

``rand-s``
    Rand-S: encoder f randomly initialised, f and C trained with L_cls only.
``pretrain``
    Pretrain: f pre-trained and frozen; only C is trained.
``finetune``
    f pre-trained, f and C trained with L_cls (semi-supervised MS²L with
    ``label_fraction`` < 1, and transfer learning with f pre-trained on another dataset).
``moving``
    Moving (Eq. (4)): f pre-trained, L = θ·L_cls + (1 − θ)·L_self, θ rising linearly
    from 0 to 1 over ``moving_epochs`` epochs, then 1.
``jointly``
    Jointly (Eq. (5)): from scratch, L = L_cls + ω·L_self, ω = 1.

With ``label_fraction`` < 1, ``rand-s`` is the paper's Rand-SS and ``finetune`` its
semi-supervised MS²L. The unsupervised rows (MS²L linear evaluation and the random
encoder Rand-U) use :func:`skelssl.evaluation.generic.linear_probe` /
:func:`~skelssl.evaluation.generic.knn` on ``method.encoder``; see
:func:`unsupervised_evaluation`. Transfer learning (f pre-trained on another dataset, then
``finetune``) is ``skelssl evaluate RUN --data OTHER --protocol ms2l-finetune``
(:func:`skelssl.evaluation.run.evaluate_run` maps the other dataset's joints first).

The classifier's optimiser: Adam, lr 1e-3, constant, as in the authors' public code (the
default); ``step_every`` > 0 gives Sec. 4.1's schedule instead ("Adam ... the learning rate
declines from 0.01 to 0.0001 with 0.1 decay rate for every 100 iterations": ``lr=0.01,
step_every=100``), which the paper states for the network without naming the stage; on
NW-UCLA it leaves C under-fitted (``benchmarks/results/nwucla_ms2l_gap.md``). For the
strategies that optimise L_self (Moving, Jointly), ``self_lr`` > 0 gives L_self its own Adam
(lr ``self_lr``, x0.1 every ``self_step_every`` iterations), as the pre-training has it: over
its heads only (the encoder follows C's Adam on the whole loss), or with ``self_encoder``
over the encoder too (which then takes L_cls's step from C's Adam and L_self's from its
own). The paper names one optimiser; this is a diagnosis of Jointly's missing gain. Nothing is
chosen on the test split: the final epoch is reported. L_self is recorded per epoch for
every strategy (without gradient where it is not optimised): the paper's Figure 4 compares
it between Pretrain-then-finetune and Moving.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelssl.data.sampling import check_label_fraction, labelled_rows
from skelssl.data.types import DataSpec, SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluation.config import EvalConfig
from skelssl.evaluation.features import accuracy_on, read_batch, reset_parameters, resolve_device
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.models.gru import gru_over_valid_frames
from skelssl.models.heads import mlp
from skelssl.optim import build_scheduler
from skelssl.skeleton import get_layout
from skelssl.train_config import TrainConfig

STRATEGIES = ("rand-s", "pretrain", "finetune", "moving", "jointly")
CLASSIFIERS = ("gru", "linear")
TRAINS_ENCODER = {
    "rand-s": True,
    "pretrain": False,
    "finetune": True,
    "moving": True,
    "jointly": True,
}
REINITIALISES = {"rand-s", "jointly"}
OPTIMISES_SELF = {"moving", "jointly"}


@dataclass
class StrategyConfig:
    """How the classifier (and the encoder, where the strategy trains it) is trained."""

    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3  # Adam (the authors' public code)
    # > 0: lr x0.1 every this many iterations down to min_lr (Sec. 4.1: 100, from 0.01 to
    # 1e-4); 0: constant lr (the authors' code)
    step_every: int = 0
    min_lr: float = 1e-4
    weight_decay: float = 0.0
    classifier: str = "gru"  # "gru": the paper's C | "linear": a linear layer on f's feature
    classifier_hidden: int = 60  # C: GRU units and MLP width
    moving_epochs: float = 20.0  # Eq. (4): θ reaches 1 after this many epochs
    omega: float = 1.0  # Eq. (5): weight of L_self in Jointly
    label_fraction: float = 1.0  # class-balanced labelled part of the training split
    clip_grad: float = 10.0  # max grad norm (the authors' code), 0 = off (per optimiser)
    # Moving/Jointly: > 0 gives L_self its own Adam (the pre-training's lr; 0: C's Adam)
    self_lr: float = 0.0
    self_step_every: int = 0  # its lr x0.1 every this many iterations down to min_lr
    self_encoder: bool = False  # its Adam holds the encoder too (L_cls's step from C's)
    track_self_loss: bool = True  # record L_self per epoch (Figure 4)
    time_budget: float = 0.0  # seconds; > 0 stops after the first epoch that exceeds it

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first bad field."""
        if self.epochs < 0 or self.batch_size < 1 or self.classifier_hidden < 1:
            raise SkelsslError(
                f"epochs must be >= 0, batch_size and classifier_hidden >= 1, got "
                f"{self.epochs}, {self.batch_size}, {self.classifier_hidden}"
            )
        if self.classifier not in CLASSIFIERS:
            raise SkelsslError(f"classifier must be gru or linear, got {self.classifier!r}")
        if self.lr <= 0 or self.moving_epochs <= 0 or self.omega < 0 or self.clip_grad < 0:
            raise SkelsslError(
                "lr and moving_epochs must be > 0, omega and clip_grad >= 0, got "
                f"{self.lr}, {self.moving_epochs}, {self.omega}, {self.clip_grad}"
            )
        if min(self.step_every, self.min_lr, self.self_lr, self.self_step_every) < 0:
            raise SkelsslError(
                "step_every, min_lr, self_lr and self_step_every must be >= 0, got "
                f"{self.step_every}, {self.min_lr}, {self.self_lr}, {self.self_step_every}"
            )
        if self.self_encoder and self.self_lr == 0:
            raise SkelsslError("self_encoder needs self_lr > 0 (L_self's own optimiser)")
        check_label_fraction(self.label_fraction)


def moving_theta(epoch: float, moving_epochs: float) -> float:
    """θ of the Moving strategy (Eq. (4)): ``epoch / moving_epochs`` up to 1, then 1.

    ``epoch`` counts completed epochs, fractional within an epoch (0 at the first step).
    """
    if moving_epochs <= 0:
        raise SkelsslError(f"moving_epochs must be > 0, got {moving_epochs}")
    return float(min(max(epoch / moving_epochs, 0.0), 1.0))


class ActionClassifier(nn.Module):
    """Classifier C on a (possibly frozen) encoder: ``(N,T,M,V,C), lengths -> (N, K)``.

    ``kind="gru"``: the paper's C, a 1-layer unidirectional GRU (``hidden`` units) over the
    encoder's per-frame states (valid frames only), its last state through an MLP
    ``hidden -> hidden -> K``. ``kind="linear"``: a linear layer on the pooled feature.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, kind: str = "gru", hidden: int = 60):
        super().__init__()
        if kind not in CLASSIFIERS:
            raise SkelsslError(f"classifier must be gru or linear, got {kind!r}")
        self.encoder = encoder
        self.kind = kind
        self.frozen = False
        if kind == "gru":
            self.gru = nn.GRU(encoder.seq_dim, hidden, batch_first=True)
            self.head = mlp([hidden, hidden, num_classes], batch_norm=False)
        else:
            self.head = nn.Linear(encoder.out_dim, num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        n, t = x.shape[:2]
        if lengths is None:
            lengths = torch.full((n,), t, dtype=torch.long, device=x.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            if self.kind == "linear":
                feature = self.encoder(x, lengths)
            else:
                _, states = self.encoder(x, lengths, return_sequence=True)  # (N, T', D_seq)
        if self.kind == "linear":
            return self.head(feature)
        # the valid states: lengths scaled to T' (ST-GCN strides time by 4)
        state_lengths = torch.ceil(lengths.float() * states.shape[1] / t).long().clamp(1)
        _, last = gru_over_valid_frames(self.gru, states, state_lengths)
        return self.head(last[-1])


def _batch(data: SkeletonData, rows: np.ndarray, device) -> tuple[Tensor, Tensor, Tensor]:
    rows = np.sort(rows)
    joints, lengths = read_batch(data, rows, device)
    labels = torch.from_numpy(np.asarray(data.labels[rows], dtype=np.int64)).to(device)
    return joints, lengths, labels


def train_recognition(
    strategy: str,
    method: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: StrategyConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = True,
    monitor: SkeletonData | None = None,
) -> dict:
    """Train C (and f where the strategy does) on ``train``; top-1/top-5 % on ``test``.

    Args:
        strategy: one of :data:`STRATEGIES`.
        method: an MS²L method (its ``encoder`` and, for L_self, its heads and ``loss``);
            pre-trained for ``pretrain``/``finetune``/``moving``, any weights for
            ``rand-s``/``jointly`` (re-initialised). A deep copy is trained; ``method`` is
            left untouched.
        train, test: labelled splits; ``config.label_fraction`` of ``train`` is used.
        seed: label sample, initialisation, batch order and the augmentations of L_self.
        monitor: a validation split scored after every epoch, to choose the number of
            epochs; it does not change the training. (Only a diagnosis that chooses
            nothing passes the test split: ``benchmarks/nwucla_ms2l_test_curve.py``.)
    Returns:
        ``{"protocol", "strategy", "top1", "top5", "n_train", "n_test", "label_fraction",
        "epochs", "cls_curve", "self_curve", "theta_curve", "seconds"}`` (curves per epoch),
        plus ``monitor_curve`` (top-1 % on ``monitor`` per epoch) when ``monitor`` is given.
    """
    config = config or StrategyConfig()
    config.validate()
    if strategy not in STRATEGIES:
        raise SkelsslError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    device = resolve_device(device)
    rows = labelled_rows(train.labels, config.label_fraction, seed)
    torch.manual_seed(seed)  # what draws from the global generator: init of C, re-init of f
    method = copy.deepcopy(method).to(device)
    if strategy in REINITIALISES:
        reset_parameters(method)
    classifier = ActionClassifier(
        method.encoder, train.num_classes, config.classifier, config.classifier_hidden
    ).to(device)
    classifier.frozen = not TRAINS_ENCODER[strategy]
    for param in method.encoder.parameters():
        param.requires_grad_(TRAINS_ENCODER[strategy])
    optimisers = build_optimisers(strategy, method, classifier, config)
    order = torch.Generator().manual_seed(seed)
    augment = torch.Generator(device=device).manual_seed(seed)
    curves = {"cls_curve": [], "self_curve": [], "theta_curve": []}
    if monitor is not None:
        curves["monitor_curve"] = []
    started = time.perf_counter()
    epochs_done = 0
    for epoch in range(config.epochs):
        sums = _train_epoch(
            strategy, method, classifier, optimisers, train, rows, config, epoch, order,
            augment,
        )  # fmt: skip
        for key, value in sums.items():
            curves[key].append(value)
        if monitor is not None:
            curves["monitor_curve"].append(accuracy_on(classifier, monitor, device=device)["top1"])
        epochs_done += 1
        if not quiet:
            print(
                f"{strategy} epoch {epoch + 1}: "
                + ", ".join(f"{k} {v[-1]:.4f}" for k, v in curves.items() if v)
            )
        if 0 < config.time_budget < time.perf_counter() - started:
            break
    return {
        "protocol": f"ms2l-{strategy}",
        "strategy": strategy,
        **accuracy_on(classifier, test, device=device),
        "n_train": int(rows.size),
        "n_test": len(test),
        "label_fraction": config.label_fraction,
        "classifier": config.classifier,
        "epochs": epochs_done,
        **curves,
        "seconds": round(time.perf_counter() - started, 2),
    }


@dataclass
class Optimiser:
    """An Adam, its step decay (``None``: constant) and which loss term it minimises:
    ``"all"`` (the strategy's whole loss), ``"cls"`` or ``"self"`` (its weighted term)."""

    adam: torch.optim.Adam
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    term: str

    @property
    def parameters(self) -> list[nn.Parameter]:
        return [p for group in self.adam.param_groups for p in group["params"]]


def build_optimisers(
    strategy: str, method: nn.Module, classifier: ActionClassifier, config: StrategyConfig
) -> list[Optimiser]:
    """C's Adam over C (and f where trained) and the L_self heads; with ``self_lr`` > 0
    (Moving, Jointly) the heads (and with ``self_encoder`` f too) in an Adam of their own."""
    trained = [p for p in classifier.parameters() if p.requires_grad]
    if strategy not in OPTIMISES_SELF:
        return [_optimiser(trained, config.lr, config.step_every, "all", config)]
    encoder_ids = {id(p) for p in method.encoder.parameters()}
    heads = [p for p in method.parameters() if id(p) not in encoder_ids]
    if config.self_lr == 0:
        return [_optimiser(trained + heads, config.lr, config.step_every, "all", config)]
    if not config.self_encoder:
        return [
            _optimiser(trained, config.lr, config.step_every, "all", config),
            _optimiser(heads, config.self_lr, config.self_step_every, "self", config),
        ]
    own = [*method.encoder.parameters(), *heads]
    return [
        _optimiser(trained, config.lr, config.step_every, "cls", config),
        _optimiser(own, config.self_lr, config.self_step_every, "self", config),
    ]


def _optimiser(
    parameters: list[nn.Parameter], lr: float, step_every: int, term: str, config: StrategyConfig
) -> Optimiser:
    """Adam at ``lr``, x0.1 every ``step_every`` iterations down to ``config.min_lr`` (Sec.
    4.1's step decay as a per-iteration scheduler) or constant (``step_every`` 0)."""
    adam = torch.optim.Adam(parameters, lr=lr, weight_decay=config.weight_decay)
    if step_every == 0:
        return Optimiser(adam, None, term)
    schedule = TrainConfig(
        schedule="step", lr=lr, step_every=step_every, gamma=0.1, min_lr=config.min_lr
    )
    return Optimiser(adam, build_scheduler(adam, schedule, steps_per_epoch=1), term)


def _train_epoch(
    strategy: str,
    method: nn.Module,
    classifier: ActionClassifier,
    optimisers: list[Optimiser],
    train: SkeletonData,
    rows: np.ndarray,
    config: StrategyConfig,
    epoch: int,
    order: torch.Generator,
    augment: torch.Generator,
) -> dict[str, float]:
    """One shuffled pass over the labelled ``rows``; mean losses (and θ) of the epoch."""
    device = next(classifier.parameters()).device
    method.train()
    classifier.train()
    if classifier.frozen:  # Pretrain: f is fixed, BatchNorm statistics included
        method.encoder.eval()
    batches = [b for b in torch.randperm(rows.size, generator=order).split(config.batch_size)]
    totals = {"cls_curve": 0.0, "self_curve": 0.0, "theta_curve": 0.0}
    for step, batch_index in enumerate(batches):
        joints, lengths, labels = _batch(train, rows[batch_index.numpy()], device)
        loss_cls = F.cross_entropy(classifier(joints, lengths), labels)
        track = strategy in OPTIMISES_SELF or config.track_self_loss
        with torch.set_grad_enabled(strategy in OPTIMISES_SELF):
            self_batch = {"joints": joints, "lengths": lengths, "generator": augment}
            loss_self = method.loss(self_batch)["loss"] if track else loss_cls.new_zeros(())
        theta = 1.0
        if strategy == "moving":
            theta = moving_theta(epoch + step / len(batches), config.moving_epochs)
            terms = {"cls": theta * loss_cls, "self": (1 - theta) * loss_self}  # MS²L Eq. (4)
        elif strategy == "jointly":
            terms = {"cls": loss_cls, "self": config.omega * loss_self}  # MS²L Eq. (5)
        else:
            terms = {"cls": loss_cls}
        _optimise(optimisers, {**terms, "all": sum(terms.values())}, config.clip_grad)
        totals["cls_curve"] += loss_cls.item()
        totals["self_curve"] += float(loss_self.detach())
        totals["theta_curve"] += theta
    count = max(len(batches), 1)
    result = {key: value / count for key, value in totals.items()}
    if not (strategy in OPTIMISES_SELF or config.track_self_loss):
        result.pop("self_curve")
    return result


def _optimise(optimisers: list[Optimiser], terms: dict[str, Tensor], clip_grad: float) -> None:
    """One step of every optimiser on its term's gradient, all taken before any step (the
    encoder may sit in two), each clipped to ``clip_grad`` (0: not) on its own."""
    gradients = [
        torch.autograd.grad(terms[o.term], o.parameters, retain_graph=True, allow_unused=True)
        for o in optimisers
    ]
    for optimiser, grads in zip(optimisers, gradients):
        for param, grad in zip(optimiser.parameters, grads):
            param.grad = grad
        if clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(optimiser.parameters, clip_grad)
        optimiser.adam.step()
        if optimiser.scheduler is not None:
            optimiser.scheduler.step()


def unsupervised_evaluation(
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: EvalConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict:
    """MS²L's unsupervised rows: linear probe and kNN on the frozen ``encoder``.

    Use the pre-trained encoder for "MS²L" and a freshly built one for "Rand-U".
    Returns ``{"linear": linear_probe(...), "knn": knn(...)}``.
    """
    return {
        "linear": linear_probe(encoder, train, test, config, seed=seed, device=device, quiet=True),
        "knn": knn(encoder, train, test, config, device=device, quiet=True),
    }


def check_transfer(method: nn.Module, target: SkeletonData) -> None:
    """Raise :class:`SkelsslError` unless ``method`` (pre-trained on a source dataset) can
    read ``target``: same joint layout, bodies and channels (map layouts first with
    :func:`skelssl.skeleton.map_layout`)."""
    spec = DataSpec.of(target)
    layout = getattr(method, "layout", None)
    if layout is not None and layout.name != spec.layout:
        raise SkelsslError(
            f"source run uses layout {layout.name}, target data {spec.layout}: "
            "prepare the target in the source layout (skelssl.skeleton.map_layout)"
        )
    encoder = method.encoder
    expected = tuple(getattr(encoder, name, None) for name in ("bodies", "joints", "channels"))
    actual = (spec.bodies, get_layout(spec.layout).num_joints, spec.channels)
    if None not in expected and expected != actual:
        raise SkelsslError(f"source encoder reads (M, V, C) = {expected}, target data has {actual}")
