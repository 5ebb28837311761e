"""Evaluation protocols shared by every method: linear probe, kNN, finetuning.

Every protocol takes an encoder (``forward(x: (N,T,M,V,C), lengths: (N,)) -> (N, D)``,
attribute ``out_dim``) and a ``(train, test)`` pair of :class:`SkeletonData`, and returns
a plain, JSON-serialisable dict with at least ``protocol``, ``top1``, ``top5`` (percent;
``top5 = top1`` with fewer than 5 classes), ``n_train`` and ``n_test``.

Nothing is ever chosen on the test split: every classifier is trained for a fixed number
of epochs and the final epoch is reported. Randomness comes only from the ``seed``
arguments (label sampling, initialisation, batch order, augmentation).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError

KNN_METRICS = ("cosine", "euclidean")
FINETUNE_OPTIMIZERS = ("adam", "sgd")
KNN_TEMPERATURE = 0.07  # InstDisc (Wu et al. 2018) Eq. (7): neighbour weight exp(s / 0.07)
FINETUNE_ROTATION_DEGREES = 15.0  # "light" rotation: half the pre-training default (30)
FINETUNE_SHEAR = 0.3  # "light" shear: below SkeletonCLR's pre-training 0.5
STANDARDISE_EPS = 1e-6


@dataclass
class EvalConfig:
    """Settings of the evaluation protocols.

    The linear probe trains on standardised frozen features (train-split mean/std) with
    Adam and a cosine schedule: standardising makes one learning rate work for every
    method, whatever the scale of its features (papers tune SGD lr 0.1-30 per method).
    Finetuning trains encoder + linear head end to end with a cosine schedule.
    """

    batch_size: int = 256
    linear_epochs: int = 200  # on precomputed frozen features
    linear_lr: float = 0.01  # Adam on standardised features
    linear_weight_decay: float = 1e-4
    knn_k: int = 1  # k=1 cosine (CRRL, Predict & Cluster)
    knn_metric: str = "cosine"  # "cosine" | "euclidean"
    knn_weighted: bool = False  # weighted vote exp(sim / 0.07) (InstDisc uses k=20)
    finetune_epochs: int = 60
    finetune_lr: float = 0.001
    finetune_optimizer: str = "adam"  # "adam" | "sgd" (momentum 0.9, nesterov)
    finetune_weight_decay: float = 1e-4
    finetune_augment: bool = True  # light rotation + shear during finetuning
    label_fraction: float = 1.0
    seeds: int = 1

    def validate(self) -> None:
        """Raise :class:`SkelsslError` naming the first bad setting."""
        positive = ("batch_size", "knn_k", "seeds")
        for name in positive:
            if getattr(self, name) < 1:
                raise SkelsslError(f"evaluation.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("linear_epochs", "finetune_epochs"):
            if getattr(self, name) < 0:
                raise SkelsslError(f"evaluation.{name} must be >= 0, got {getattr(self, name)}")
        if self.knn_metric not in KNN_METRICS:
            raise SkelsslError(
                f"evaluation.knn_metric must be one of {', '.join(KNN_METRICS)}, got {self.knn_metric!r}"
            )
        if self.finetune_optimizer not in FINETUNE_OPTIMIZERS:
            raise SkelsslError(
                f"evaluation.finetune_optimizer must be one of {', '.join(FINETUNE_OPTIMIZERS)}, "
                f"got {self.finetune_optimizer!r}"
            )
        _check_fraction(self.label_fraction)


# ---------------------------------------------------------------------------- helpers
def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device``, or cuda when available, else cpu."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _check_fraction(fraction: float) -> None:
    if not 0 < fraction <= 1:
        raise SkelsslError(f"label fraction must be in (0, 1], got {fraction}")


def _check_pair(train: SkeletonData, test: SkeletonData) -> None:
    for role, data in (("training", train), ("test", test)):
        if len(data) == 0:
            raise SkelsslError(f"the {role} split is empty", data.source)
    if train.joints.shape[2:] != test.joints.shape[2:]:
        raise SkelsslError(
            "train and test differ in bodies, joints or channels (M, V, C): "
            f"{train.joints.shape[2:]} vs {test.joints.shape[2:]}"
        )


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators inside the block and restore them after it.

    Used for what only draws from the global generator (``nn.Linear`` init, dropout).
    """
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def read_batch(data: SkeletonData, index, device: torch.device) -> tuple[Tensor, Tensor]:
    """Rows ``index`` (slice or sorted ints) of a (memmap) dataset -> joints (B, T, M, V, C)
    float32 and lengths (B,) int64 on ``device``."""
    joints = torch.from_numpy(np.array(data.joints[index], dtype=np.float32))
    lengths = torch.from_numpy(np.array(data.lengths[index], dtype=np.int64))
    return joints.to(device, non_blocking=True), lengths.to(device)


@torch.no_grad()
def _forward_batches(
    module: nn.Module,
    data: SkeletonData,
    *,
    batch_size: int,
    device: torch.device,
    quiet: bool,
    desc: str,
) -> np.ndarray:
    """``module(joints, lengths)`` over the whole dataset in eval mode -> (N, D) float32."""
    if batch_size < 1:
        raise SkelsslError(f"batch size must be >= 1, got {batch_size}")
    was_training = module.training
    module.eval().to(device)
    outputs = []
    try:
        starts = range(0, len(data), batch_size)
        for start in tqdm(starts, desc=desc, disable=quiet, leave=False):
            joints, lengths = read_batch(data, slice(start, start + batch_size), device)
            outputs.append(module(joints, lengths).float().cpu())
    finally:
        module.train(was_training)
    if not outputs:
        return np.zeros((0, getattr(module, "out_dim", 0)), dtype=np.float32)
    return torch.cat(outputs).numpy()


def _epoch_batches(
    count: int, batch_size: int, generator: torch.Generator, *, drop_singleton: bool
) -> list[Tensor]:
    """A shuffled epoch of index batches into ``range(count)``.

    With ``drop_singleton`` a trailing batch of one sample is dropped (BatchNorm cannot
    train on it); reshuffling each epoch still visits every sample.
    """
    order = torch.randperm(count, generator=generator)
    batches = list(order.split(batch_size))
    if drop_singleton and len(batches) > 1 and batches[-1].numel() == 1:
        batches.pop()
    return batches


def classification_accuracy(
    scores: Tensor | np.ndarray, labels: Tensor | np.ndarray, *, require_positive: bool = False
) -> dict[str, float]:
    """Top-1 and top-5 accuracy in percent from class scores.

    Shape: scores (N, K), labels (N,). With fewer than 5 classes ``top5 = top1``. With
    ``require_positive`` a class in the top 5 counts only when its score is > 0 (kNN:
    a class no neighbour voted for is not a guess).
    """
    scores = torch.as_tensor(scores)
    labels = torch.as_tensor(labels, device=scores.device).long()
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise SkelsslError(
            f"scores (N, K) and labels (N,) disagree: {tuple(scores.shape)} vs {tuple(labels.shape)}"
        )
    if scores.shape[0] == 0:
        raise SkelsslError("accuracy of zero samples is undefined")
    top1 = (scores.argmax(1) == labels).double().mean().item() * 100
    if scores.shape[1] < 5:
        return {"top1": top1, "top5": top1}
    top = scores.topk(5, dim=1).indices
    hit = top == labels[:, None]
    if require_positive:
        hit &= scores.gather(1, top) > 0
    top5 = hit.any(1).double().mean().item() * 100
    return {"top1": top1, "top5": top5}


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """Counts ``matrix[true, predicted]``, shape (K, K) int64."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.int64).reshape(-1)
    if labels.shape != predictions.shape:
        raise SkelsslError(f"{labels.size} labels but {predictions.size} predictions")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise SkelsslError(f"{name} out of range 0..{num_classes - 1}")
    flat = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


# ---------------------------------------------------------------------------- features
def extract_features(
    encoder: nn.Module,
    data: SkeletonData,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """Frozen features of every sample, shape (N, D) float32.

    The encoder runs in eval mode without gradients on ``device`` (it is moved there)
    and is put back in its previous train/eval mode; batches are read from the (memmap)
    arrays in order and ``lengths`` are passed, so the result does not depend on
    ``batch_size``.
    """
    return _forward_batches(
        encoder,
        data,
        batch_size=batch_size,
        device=resolve_device(device),
        quiet=quiet,
        desc="features",
    )


def effective_rank(features: np.ndarray | Tensor) -> float:
    """Effective rank (Roy & Vetterli 2007) of centred features (N, D): ``exp(H(p))`` with
    ``p = σ / Σσ`` over the singular values σ. ``D`` for isotropic features, 1 for features
    on one line: a collapse diagnostic for the self-supervised methods (e.g. BYOL)."""
    x = torch.as_tensor(features, dtype=torch.float64)
    singular = torch.linalg.svdvals(x - x.mean(dim=0))
    if float(singular.sum()) == 0.0:
        return 0.0
    p = singular / singular.sum()
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum()
    return float(torch.exp(entropy))


def predict(
    classifier: nn.Module,
    data: SkeletonData,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """Logits (N, K) of a classifier ``forward(x, lengths) -> (N, K)`` (e.g. :class:`Classifier`)."""
    return _forward_batches(
        classifier,
        data,
        batch_size=batch_size,
        device=resolve_device(device),
        quiet=quiet,
        desc="predict",
    )


# ---------------------------------------------------------------------------- linear probe
def _standardise(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor]:
    """z-score both with the training split's per-dimension mean and std."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, unbiased=False, keepdim=True).clamp_min(STANDARDISE_EPS)
    return (train - mean) / std, (test - mean) / std


def _train_linear(
    features: Tensor, labels: Tensor, num_classes: int, config: EvalConfig, seed: int, quiet: bool
) -> tuple[nn.Linear, list[float]]:
    """Adam + cosine schedule on mini-batches for ``linear_epochs``; (head, loss per epoch)."""
    with _seeded(seed, features.device):
        head = nn.Linear(features.shape[1], num_classes).to(features.device)
    optimizer = torch.optim.Adam(
        head.parameters(), lr=config.linear_lr, weight_decay=config.linear_weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, config.linear_epochs)
    )
    order = torch.Generator().manual_seed(seed)
    curve = []
    for _ in tqdm(range(config.linear_epochs), desc="linear probe", disable=quiet, leave=False):
        total = torch.zeros((), device=features.device)
        for index in _epoch_batches(len(labels), config.batch_size, order, drop_singleton=False):
            index = index.to(features.device)
            loss = F.cross_entropy(head(features[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * index.numel()
        scheduler.step()
        curve.append(total.item() / len(labels))
    return head, curve


def linear_probe_on_features(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    config: EvalConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = True,
    return_predictions: bool = False,
) -> dict:
    """Linear classifier on standardised precomputed features; final epoch reported.

    Shape: train_features (N, D), train_labels (N,), test_features (Q, D), test_labels (Q,).
    """
    config = config or EvalConfig()
    config.validate()
    device = resolve_device(device)
    train_x = torch.as_tensor(np.asarray(train_features), dtype=torch.float32, device=device)
    test_x = torch.as_tensor(np.asarray(test_features), dtype=torch.float32, device=device)
    train_y = torch.as_tensor(np.asarray(train_labels), dtype=torch.int64, device=device)
    test_y = torch.as_tensor(np.asarray(test_labels), dtype=torch.int64, device=device)
    train_x, test_x = _standardise(train_x, test_x)
    head, curve = _train_linear(train_x, train_y, num_classes, config, seed, quiet)
    with torch.no_grad():
        train_accuracy = classification_accuracy(head(train_x), train_y)["top1"]
        logits = head(test_x)
    result = {
        "protocol": "linear",
        **classification_accuracy(logits, test_y),
        "train_top1": train_accuracy,
        "n_train": int(train_y.numel()),
        "n_test": int(test_y.numel()),
        "num_classes": int(num_classes),
        "feature_dim": int(train_x.shape[1]),
        "epochs": config.linear_epochs,
        "lr": config.linear_lr,
        "seed": seed,
        "loss_curve": curve,
    }
    if return_predictions:
        result["predictions"] = logits.argmax(1).cpu().tolist()
    return result


def _frozen_features(encoder, train, test, config: EvalConfig, device, quiet: bool):
    """Validated config, then features (N, D) of the train and test splits, encoder frozen."""
    config.validate()
    _check_pair(train, test)
    return tuple(
        extract_features(encoder, data, batch_size=config.batch_size, device=device, quiet=quiet)
        for data in (train, test)
    )


def linear_probe(
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: EvalConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = False,
    return_predictions: bool = False,
) -> dict:
    """Linear evaluation: frozen encoder, features extracted once, linear classifier."""
    config = config or EvalConfig()
    device = resolve_device(device)
    train_features, test_features = _frozen_features(encoder, train, test, config, device, quiet)
    return linear_probe_on_features(
        train_features, train.labels, test_features, test.labels, train.num_classes, config,
        seed=seed, device=device, quiet=quiet, return_predictions=return_predictions,
    )  # fmt: skip


# ---------------------------------------------------------------------------- kNN
def _similarity(query: Tensor, bank: Tensor, metric: str) -> Tensor:
    """(Q, D) x (N, D) -> (Q, N): dot product of unit vectors (cosine; both already
    normalised), or minus the euclidean distance."""
    if metric == "cosine":
        return query @ bank.T
    return -torch.cdist(query, bank)


def knn_class_scores(
    bank: Tensor,
    bank_labels: Tensor,
    query: Tensor,
    num_classes: int,
    *,
    k: int = 1,
    metric: str = "cosine",
    weighted: bool = False,
    chunk_size: int = 1024,
) -> Tensor:
    """Per-class vote of the k nearest bank samples of each query, shape (Q, K).

    Unweighted: the number of neighbours of each class, plus a tie-break bonus < 1 that
    favours the class met first (nearest). Weighted (InstDisc Eq. (7)): the sum of
    ``exp(s_i / 0.07)`` over the neighbours of each class, computed as
    ``exp((s_i - s_max) / 0.07)`` — the same ranking, without overflow or underflow.
    Shape: bank (N, D), bank_labels (N,), query (Q, D).
    """
    if metric not in KNN_METRICS:
        raise SkelsslError(f"kNN metric must be one of {', '.join(KNN_METRICS)}, got {metric!r}")
    k = min(k, bank.shape[0])
    bank_labels = bank_labels.long()
    if metric == "cosine":
        bank, query = F.normalize(bank, dim=1), F.normalize(query, dim=1)
    scores = []
    for chunk in query.split(chunk_size):
        similarity, neighbour = _similarity(chunk, bank, metric).topk(k, dim=1)  # nearest first
        neighbour_labels = bank_labels[neighbour]  # (q, k)
        votes = torch.zeros(
            chunk.shape[0], num_classes, device=chunk.device, dtype=similarity.dtype
        )
        if weighted:
            # InstDisc Eq. (7): w_i = exp(s_i / tau), tau = 0.07
            weights = torch.exp((similarity - similarity[:, :1]) / KNN_TEMPERATURE)
            votes.scatter_add_(1, neighbour_labels, weights)
        else:
            votes.scatter_add_(1, neighbour_labels, torch.ones_like(similarity))
            votes += _nearest_first_bonus(neighbour_labels, num_classes)
        scores.append(votes)
    return torch.cat(scores) if scores else torch.zeros(0, num_classes)


def _nearest_first_bonus(neighbour_labels: Tensor, num_classes: int) -> Tensor:
    """Tie-break for vote counts: (k - r) / (k + 1) for a class first met at rank r.

    The bonus is < 1, so it never overturns a count, and of two classes with equal
    counts the one with the nearer neighbour wins. Shape: (Q, k) -> (Q, K).
    """
    queries, k = neighbour_labels.shape
    rank = torch.arange(k, device=neighbour_labels.device, dtype=torch.float32)
    bonus = ((k - rank) / (k + 1)).expand(queries, k).contiguous()
    best = torch.zeros(queries, num_classes, device=neighbour_labels.device)
    return best.scatter_reduce_(1, neighbour_labels, bonus, reduce="amax")


def knn_on_features(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    config: EvalConfig | None = None,
    *,
    device: str | torch.device | None = None,
    return_predictions: bool = False,
) -> dict:
    """kNN classification of precomputed test features by the training features."""
    config = config or EvalConfig()
    config.validate()
    device = resolve_device(device)
    bank = torch.as_tensor(np.asarray(train_features), dtype=torch.float32, device=device)
    query = torch.as_tensor(np.asarray(test_features), dtype=torch.float32, device=device)
    bank_labels = torch.as_tensor(np.asarray(train_labels), dtype=torch.int64, device=device)
    test_y = torch.as_tensor(np.asarray(test_labels), dtype=torch.int64, device=device)
    scores = knn_class_scores(
        bank, bank_labels, query, num_classes,
        k=config.knn_k, metric=config.knn_metric, weighted=config.knn_weighted,
    )  # fmt: skip
    result = {
        "protocol": "knn",
        **classification_accuracy(scores, test_y, require_positive=True),
        "n_train": int(bank.shape[0]),
        "n_test": int(query.shape[0]),
        "num_classes": int(num_classes),
        "k": config.knn_k,
        "metric": config.knn_metric,
        "weighted": config.knn_weighted,
    }
    if return_predictions:
        result["predictions"] = scores.argmax(1).cpu().tolist()
    return result


def knn(
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: EvalConfig | None = None,
    *,
    device: str | torch.device | None = None,
    quiet: bool = False,
    return_predictions: bool = False,
) -> dict:
    """kNN evaluation on frozen features; k, metric and weighting are in the result."""
    config = config or EvalConfig()
    device = resolve_device(device)
    train_features, test_features = _frozen_features(encoder, train, test, config, device, quiet)
    return knn_on_features(
        train_features, train.labels, test_features, test.labels, train.num_classes, config,
        device=device, return_predictions=return_predictions,
    )  # fmt: skip


# ---------------------------------------------------------------------------- finetuning
class Classifier(nn.Module):
    """An encoder with a linear head: ``(N,T,M,V,C), lengths (N,) -> logits (N, K)``.

    ``feature_norm`` puts a parameter-free BatchNorm1d before the linear layer, so the
    head sees standardised features and large learning rates (Skeleton BYOL's 30) stay
    stable whatever the encoder's feature scale. Its running statistics are a cumulative
    average (``momentum=None``): with few labelled batches an exponential average would
    still remember its initial variance of 1.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, feature_norm: bool = False):
        super().__init__()
        self.encoder = encoder
        linear = nn.Linear(encoder.out_dim, num_classes)
        norm = nn.BatchNorm1d(encoder.out_dim, affine=False, momentum=None)
        self.head = nn.Sequential(norm, linear) if feature_norm else linear

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.head(self.encoder(x, lengths))


def _labelled_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Class-balanced sample of ``fraction`` of the training labels (all when 1)."""
    _check_fraction(fraction)
    if fraction == 1:
        return np.arange(len(labels), dtype=np.int64)
    from skelssl.data.dataset import label_fraction_indices

    return np.sort(np.asarray(label_fraction_indices(labels, fraction, seed), dtype=np.int64))


def _reset_parameters(module: nn.Module) -> None:
    """Fresh initialisation of every submodule that knows how (global generator)."""
    for submodule in module.modules():
        if callable(getattr(submodule, "reset_parameters", None)):
            submodule.reset_parameters()


def _build_finetune_optimizer(parameters, config: EvalConfig) -> torch.optim.Optimizer:
    if config.finetune_optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=config.finetune_lr, momentum=0.9, nesterov=True,
            weight_decay=config.finetune_weight_decay,
        )  # fmt: skip
    return torch.optim.Adam(
        parameters, lr=config.finetune_lr, weight_decay=config.finetune_weight_decay
    )


def _light_augment(joints: Tensor, lengths: Tensor, generator: torch.Generator) -> Tensor:
    """Light random rotation then shear of a batch (N, T, M, V, 3)."""
    from skelssl.augment import rotate, shear

    if joints.shape[-1] != 3:
        raise SkelsslError(
            f"finetune augmentation needs xyz joints (C=3), got C={joints.shape[-1]}; "
            "set evaluation.finetune_augment=false"
        )
    joints = rotate(joints, FINETUNE_ROTATION_DEGREES, lengths=lengths, generator=generator)
    return shear(joints, FINETUNE_SHEAR, lengths=lengths, generator=generator)


def _finetune_once(
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: EvalConfig,
    *,
    fraction: float,
    seed: int,
    reinitialize: bool,
    device: torch.device,
    quiet: bool,
    return_predictions: bool,
) -> dict:
    """One run: label sample ``seed``, fresh copy of the encoder + head, train, test."""
    labelled = _labelled_indices(train.labels, fraction, seed)
    order = torch.Generator().manual_seed(seed)
    augment_generator = torch.Generator(device=device).manual_seed(seed)
    curve = []
    with _seeded(seed, device):
        model = Classifier(copy.deepcopy(encoder), train.num_classes)
        if reinitialize:
            _reset_parameters(model.encoder)
        model.to(device)
        optimizer = _build_finetune_optimizer(model.parameters(), config)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, config.finetune_epochs)
        )
        for _ in tqdm(
            range(config.finetune_epochs), desc=f"finetune seed {seed}", disable=quiet, leave=False
        ):
            model.train()
            total, seen = 0.0, 0
            for batch in _epoch_batches(
                labelled.size, config.batch_size, order, drop_singleton=True
            ):
                rows = np.sort(labelled[batch.numpy()])
                joints, lengths = read_batch(train, rows, device)
                if config.finetune_augment:
                    joints = _light_augment(joints, lengths, augment_generator)
                labels = torch.from_numpy(np.asarray(train.labels[rows], dtype=np.int64)).to(device)
                loss = F.cross_entropy(model(joints, lengths), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, seen = total + loss.item() * rows.size, seen + rows.size
            scheduler.step()
            curve.append(total / max(seen, 1))
        logits = _forward_batches(
            model, test, batch_size=config.batch_size, device=device, quiet=True, desc="predict"
        )
    result = {
        "seed": seed,
        **classification_accuracy(logits, test.labels),
        "n_train": int(labelled.size),
        "loss_curve": curve,
    }
    if return_predictions:
        result["predictions"] = logits.argmax(1).tolist()
    return result


def _summarise_runs(runs: list[dict]) -> dict:
    """Mean and sample std (0 for one run) of top-1 / top-5 over runs."""
    summary = {}
    for key in ("top1", "top5"):
        values = np.array([run[key] for run in runs], dtype=np.float64)
        summary[key] = float(values.mean())
        summary[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return summary


def _finetune_protocol(
    protocol: str,
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: EvalConfig | None,
    *,
    label_fraction: float | None,
    seeds: int | None,
    seed: int,
    reinitialize: bool,
    device: str | torch.device | None,
    quiet: bool,
    return_predictions: bool,
) -> dict:
    config = config or EvalConfig()
    config.validate()
    _check_pair(train, test)
    fraction = config.label_fraction if label_fraction is None else float(label_fraction)
    _check_fraction(fraction)
    seeds = config.seeds if seeds is None else int(seeds)
    if seeds < 1:
        raise SkelsslError(f"seeds must be >= 1, got {seeds}")
    if not hasattr(encoder, "out_dim"):
        raise SkelsslError(f"encoder {type(encoder).__name__} has no out_dim attribute")
    device = resolve_device(device)
    runs = [
        _finetune_once(
            encoder,
            train,
            test,
            config,
            fraction=fraction,
            seed=seed + offset,
            reinitialize=reinitialize,
            device=device,
            quiet=quiet,
            return_predictions=return_predictions,
        )  # fmt: skip
        for offset in range(seeds)
    ]
    result = {
        "protocol": protocol,
        **_summarise_runs(runs),
        "n_train": runs[0]["n_train"],
        "n_test": len(test),
        "num_classes": train.num_classes,
        "label_fraction": fraction,
        "epochs": config.finetune_epochs,
        "optimizer": config.finetune_optimizer,
        "lr": config.finetune_lr,
        "augment": config.finetune_augment,
        "runs": runs,
    }
    if return_predictions:
        result["predictions"] = runs[0]["predictions"]
    return result


def finetune(
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: EvalConfig | None = None,
    *,
    label_fraction: float | None = None,
    seeds: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = False,
    return_predictions: bool = False,
) -> dict:
    """Finetune encoder + linear head end to end on a class-balanced label fraction.

    Repeated for ``seeds`` runs (seed ``seed + i`` draws the labelled sample, the head's
    initialisation, the batch order and the augmentation); each run trains a deep copy,
    so ``encoder`` is left untouched. ``top1``/``top5`` are means over runs, with
    ``top1_std``/``top5_std`` and the per-run dicts under ``runs``. ``label_fraction``
    and ``seeds`` default to the config's.
    """
    return _finetune_protocol(
        "finetune", encoder, train, test, config, label_fraction=label_fraction, seeds=seeds,
        seed=seed, reinitialize=False, device=device, quiet=quiet,
        return_predictions=return_predictions,
    )  # fmt: skip


def supervised_baseline(
    encoder: nn.Module,
    train: SkeletonData,
    test: SkeletonData,
    config: EvalConfig | None = None,
    *,
    label_fraction: float = 1.0,
    seeds: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = False,
    return_predictions: bool = False,
) -> dict:
    """Supervised training from scratch: :func:`finetune` of a freshly initialised copy.

    Each run re-initialises its copy of ``encoder`` (``reset_parameters`` of every
    submodule) with its own seed, so only the architecture of ``encoder`` matters.
    Protocol name ``supervised``; label fraction 1 unless asked otherwise.
    """
    return _finetune_protocol(
        "supervised", encoder, train, test, config, label_fraction=label_fraction, seeds=seeds,
        seed=seed, reinitialize=True, device=device, quiet=quiet,
        return_predictions=return_predictions,
    )  # fmt: skip
