"""Evaluation protocols shared by every method: linear probe, kNN, finetuning, and the
supervised baseline (finetuning of a freshly initialised encoder).

Every protocol takes an encoder (``forward(x: (N,T,M,V,C), lengths: (N,)) -> (N, D)``,
attribute ``out_dim``) and a ``(train, test)`` pair of :class:`SkeletonData`, and returns
a plain, JSON-serialisable dict with at least ``protocol``, ``top1``, ``top5`` (percent;
``top5 = top1`` with fewer than 5 classes; kNN with k < 5 has no ``top5``: only k classes
can get a vote), ``n_train`` and ``n_test``. With ``keep_head`` the linear probe and
finetuning also return the trained classifier under ``head`` (tensors, for
:mod:`skelssl.saved_heads`; not JSON).

Nothing is ever chosen on the test split: every classifier is trained for a fixed number
of epochs and the final epoch is reported. Randomness comes only from the ``seed``
arguments (label sampling, initialisation, batch order, augmentation).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from skelssl.augment import rotate_then_shear
from skelssl.data.sampling import check_label_fraction, labelled_rows
from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluation.config import KNN_METRICS, EvalConfig
from skelssl.evaluation.features import (
    Classifier,
    check_pair,
    epoch_batches,
    extract_features,
    forward_batches,
    read_batch,
    reset_parameters,
    resolve_device,
    seeded,
)
from skelssl.evaluation.metrics import classification_accuracy, summarise_runs

STEP_EVERY, STEP_GAMMA, STEP_FLOOR = 100, 0.1, 0.01  # "step": MS²L Sec. 4.1, 0.01 -> 1e-4
KNN_TEMPERATURE = 0.07  # InstDisc (Wu et al. 2018) Eq. (7): neighbour weight exp(s / 0.07)
STANDARDISE_EPS = 1e-6


# ---------------------------------------------------------------------------- features
def _feature_tensors(
    train_features, train_labels, test_features, test_labels, device: torch.device
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Precomputed features and labels on ``device``: train (N, D) float32, (N,) int64,
    then test (Q, D) float32, (Q,) int64."""
    return (
        torch.as_tensor(np.asarray(train_features), dtype=torch.float32, device=device),
        torch.as_tensor(np.asarray(train_labels), dtype=torch.int64, device=device),
        torch.as_tensor(np.asarray(test_features), dtype=torch.float32, device=device),
        torch.as_tensor(np.asarray(test_labels), dtype=torch.int64, device=device),
    )


# ---------------------------------------------------------------------------- linear probe
def standardisation(train: Tensor) -> tuple[Tensor, Tensor]:
    """The training split's per-dimension mean and std (population, clamped), each (1, D):
    what the linear probe subtracts and divides by. Shape: (N, D) -> (1, D), (1, D)."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, unbiased=False, keepdim=True).clamp_min(STANDARDISE_EPS)
    return mean, std


def _train_linear(
    features: Tensor,
    labels: Tensor,
    num_classes: int,
    config: EvalConfig,
    seed: int,
    quiet: bool,
    after_epoch=None,
) -> tuple[nn.Linear, list[float]]:
    """Adam on mini-batches for ``linear_epochs``; (head, loss per epoch);
    ``after_epoch(head)`` is called after each epoch.

    ``linear_schedule``: "cosine" over the epochs, or "step": x0.1 every 100 steps down to
    lr / 100 (MS²L Sec. 4.1: "declines from 0.01 to 0.0001 with 0.1 decay rate for every
    100 iterations").
    """
    with seeded(seed, features.device):
        head = nn.Linear(features.shape[1], num_classes).to(features.device)
    optimizer = torch.optim.Adam(
        head.parameters(), lr=config.linear_lr, weight_decay=config.linear_weight_decay
    )
    per_step = config.linear_schedule == "step"
    scheduler = (
        torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(STEP_GAMMA ** (step // STEP_EVERY), STEP_FLOOR)
        )
        if per_step
        else torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, config.linear_epochs)
        )
    )
    curve = _fit_linear(head, features, labels, optimizer, scheduler, per_step=per_step,
                        epochs=config.linear_epochs, batch_size=config.batch_size, seed=seed,
                        quiet=quiet, after_epoch=after_epoch)  # fmt: skip
    return head, curve


def recording_test_top1(test_x: Tensor, test_y: Tensor, curve: list[float]):
    """DIAGNOSTIC: an ``after_epoch`` callback appending a head's test top-1 % to ``curve``.
    Shape: test_x (Q, D), test_y (Q,)."""

    def score(head: nn.Linear) -> None:
        with torch.no_grad():
            curve.append(classification_accuracy(head(test_x), test_y)["top1"])

    return score


def _fit_linear(
    head: nn.Linear,
    features: Tensor,
    labels: Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler,
    *,
    per_step: bool,
    epochs: int,
    batch_size: int,
    seed: int,
    quiet: bool,
    after_epoch=None,
) -> list[float]:
    """Cross-entropy training of ``head`` on mini-batches (order drawn from ``seed``); the
    scheduler steps after every batch (``per_step``) or every epoch; ``after_epoch(head)``
    is called after each epoch. Returns the mean loss per epoch.
    Shape: features (N, D), labels (N,)."""
    order = torch.Generator().manual_seed(seed)
    curve = []
    for _ in tqdm(range(epochs), desc="linear probe", disable=quiet, leave=False):
        total = torch.zeros((), device=features.device)
        for index in epoch_batches(len(labels), batch_size, order, drop_singleton=False):
            index = index.to(features.device)
            loss = F.cross_entropy(head(features[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if per_step:
                scheduler.step()
            total += loss.detach() * index.numel()
        if not per_step:
            scheduler.step()
        curve.append(total.item() / len(labels))
        if after_epoch is not None:
            after_epoch(head)
    return curve


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
    keep_head: bool = False,
    test_curve: bool = False,
) -> dict:
    """Linear classifier on precomputed features, standardised unless
    ``config.linear_standardise`` is False; final epoch reported.

    Shape: train_features (N, D), train_labels (N,), test_features (Q, D), test_labels (Q,).
    ``keep_head``: also return ``head`` = ``{weight (K, D), bias (K,), feature_mean (D,),
    feature_std (D,)}``, the classifier of raw features ``W (f - mean) / std + b``.
    ``test_curve`` (DIAGNOSTIC, it reads the test split every epoch and may choose
    nothing): also return ``test_curve``, the test top-1 % after each epoch, to measure
    what a best-test-epoch reading would add to the final epoch; training is unchanged.
    """
    config = config or EvalConfig()
    config.validate()
    device = resolve_device(device)
    train_x, train_y, test_x, test_y = _feature_tensors(
        train_features, train_labels, test_features, test_labels, device
    )
    mean, std = standardisation(train_x)
    if not config.linear_standardise:
        mean, std = torch.zeros_like(mean), torch.ones_like(std)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    test_top1: list[float] = []
    after_epoch = recording_test_top1(test_x, test_y, test_top1) if test_curve else None
    head, curve = _train_linear(train_x, train_y, num_classes, config, seed, quiet, after_epoch)
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
    if test_curve:
        result["test_curve"] = test_top1
    if keep_head:
        result["head"] = {"weight": head.weight.detach().cpu(), "bias": head.bias.detach().cpu(),
                          "feature_mean": mean[0].cpu(), "feature_std": std[0].cpu()}  # fmt: skip
    return result


# CRRL's authors' linear evaluation (github.com/Picasso-Wang/CRRL, src/main_evaluation.py
# ``linear_eval`` and src/parse_args_for_evaluation.py): 85 epochs, batch 16, SGD lr 0.1,
# Nesterov momentum 0.9, no weight decay, lr x0.5 at epochs 15, 35, 50, 66 and 75, on the raw
# features; fc weight ~ N(0, 0.01), bias 0. It keeps the best test ("val") accuracy.
CRRL_AUTHORS_LINEAR = {"epochs": 85, "lr": 0.1, "batch_size": 16,
                       "milestones": (15, 35, 50, 66, 75), "gamma": 0.5}  # fmt: skip


def authors_lr_factor(epoch: int, milestones, gamma: float) -> float:
    """The lr factor of ``epoch`` (from 0) in CRRL's authors' schedule: after training epoch
    e they set the lr to ``lr * gamma ** #(m < e)`` (src/tools/adjustLearningRate.py), so
    epoch e trains at ``gamma ** #(m < e - 1)``: the halving at 15 first acts in epoch 17."""
    return gamma ** sum(epoch - 1 > m for m in milestones)


def linear_test_curve_diagnostic(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    *,
    epochs: int = CRRL_AUTHORS_LINEAR["epochs"],
    lr: float = CRRL_AUTHORS_LINEAR["lr"],
    batch_size: int = CRRL_AUTHORS_LINEAR["batch_size"],
    milestones: tuple[int, ...] = CRRL_AUTHORS_LINEAR["milestones"],
    gamma: float = CRRL_AUTHORS_LINEAR["gamma"],
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict:
    """DIAGNOSTIC, NOT A PROTOCOL: it reads the test split after every epoch. A linear
    classifier on the raw features trained as CRRL's authors do (``CRRL_AUTHORS_LINEAR``:
    SGD, Nesterov momentum 0.9, step halvings), with the test top-1 % recorded per epoch, to
    measure how far the authors' "best test epoch" selection lifts a number above the
    final epoch. Nothing here may choose anything.

    The lr of each epoch is :func:`authors_lr_factor` × ``lr``.
    Shape: train_features (N, D), train_labels (N,), test_features (Q, D), test_labels (Q,).
    Returns ``final_top1``, ``best_test_top1``, ``best_test_epoch`` (1-based; the first
    best, as their strict ``>``) and ``test_curve``.
    """
    device = resolve_device(device)
    train_x, train_y, test_x, test_y = _feature_tensors(
        train_features, train_labels, test_features, test_labels, device
    )
    with seeded(seed, device):
        head = nn.Linear(train_x.shape[1], num_classes).to(device)
        nn.init.normal_(head.weight, 0.0, 0.01)
        nn.init.zeros_(head.bias)
    optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: authors_lr_factor(epoch, milestones, gamma)
    )
    test_curve: list[float] = []
    _fit_linear(head, train_x, train_y, optimizer, scheduler, per_step=False, epochs=epochs,
                batch_size=batch_size, seed=seed, quiet=True,
                after_epoch=recording_test_top1(test_x, test_y, test_curve))  # fmt: skip
    best = int(np.argmax(test_curve)) if test_curve else 0
    return {
        "protocol": "linear-test-curve (diagnostic: reads the test split every epoch)",
        "final_top1": test_curve[-1] if test_curve else 0.0,
        "best_test_top1": test_curve[best] if test_curve else 0.0,
        "best_test_epoch": best + 1 if test_curve else 0,
        "test_curve": test_curve,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "milestones": list(milestones),
        "gamma": gamma,
        "seed": seed,
    }


def _frozen_features(encoder, train, test, config: EvalConfig, device, quiet: bool):
    """Validated config, then features (N, D) of the train and test splits, encoder frozen."""
    config.validate()
    check_pair(train, test)
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
    keep_head: bool = False,
) -> dict:
    """Linear evaluation: frozen encoder, features extracted once, linear classifier."""
    config = config or EvalConfig()
    device = resolve_device(device)
    train_features, test_features = _frozen_features(encoder, train, test, config, device, quiet)
    return linear_probe_on_features(
        train_features, train.labels, test_features, test.labels, train.num_classes, config,
        seed=seed, device=device, quiet=quiet, return_predictions=return_predictions,
        keep_head=keep_head,
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
    normalise: bool = False,
    chunk_size: int = 1024,
) -> Tensor:
    """Per-class vote of the k nearest bank samples of each query, shape (Q, K).

    Unweighted: the number of neighbours of each class, plus a tie-break bonus < 1 that
    favours the class met first (nearest). Weighted (InstDisc Eq. (7)): the sum of
    ``exp(s_i / 0.07)`` over the neighbours of each class, computed as
    ``exp((s_i - s_max) / 0.07)`` — the same ranking, without overflow or underflow.
    ``normalise``: each row divided by its sum (class scores summing to 1, for ensembles).
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
        if normalise:
            votes = votes / votes.sum(dim=1, keepdim=True).clamp_min(torch.finfo(votes.dtype).tiny)
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
    bank, bank_labels, query, test_y = _feature_tensors(
        train_features, train_labels, test_features, test_labels, device
    )
    scores = knn_class_scores(
        bank, bank_labels, query, num_classes,
        k=config.knn_k, metric=config.knn_metric, weighted=config.knn_weighted,
    )  # fmt: skip
    accuracy = classification_accuracy(scores, test_y, require_positive=True)
    k = min(config.knn_k, int(bank.shape[0]))  # the k used: at most the training set
    if k < 5:  # k neighbours vote for at most k classes: no top-5 to speak of
        accuracy.pop("top5")
    result = {
        "protocol": "knn",
        **accuracy,
        "n_train": int(bank.shape[0]),
        "n_test": int(query.shape[0]),
        "num_classes": int(num_classes),
        "k": k,
        **({"k_requested": config.knn_k} if k != config.knn_k else {}),
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
def _build_finetune_optimizer(parameters, config: EvalConfig) -> torch.optim.Optimizer:
    if config.finetune_optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=config.finetune_lr, momentum=0.9, nesterov=True,
            weight_decay=config.finetune_weight_decay,
        )  # fmt: skip
    return torch.optim.Adam(
        parameters, lr=config.finetune_lr, weight_decay=config.finetune_weight_decay
    )


def _light_augment(
    joints: Tensor, lengths: Tensor, generator: torch.Generator, coords: str = "xyz"
) -> Tensor:
    """Light random rotation then shear of a batch (N, T, M, V, C); 2D ``coords``: their
    in-plane counterparts (:mod:`skelssl.augment`)."""
    return rotate_then_shear(joints, lengths=lengths, generator=generator, coords=coords)


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
    keep_head: bool = False,
) -> dict:
    """One run: label sample ``seed``, fresh copy of the encoder + head, train, test."""
    labelled = labelled_rows(train.labels, fraction, seed)
    order = torch.Generator().manual_seed(seed)
    augment_generator = torch.Generator(device=device).manual_seed(seed)
    curve = []
    with seeded(seed, device):
        model = Classifier(copy.deepcopy(encoder), train.num_classes)
        if reinitialize:
            reset_parameters(model.encoder)
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
            for batch in epoch_batches(
                labelled.size, config.batch_size, order, drop_singleton=True
            ):
                rows = np.sort(labelled[batch.numpy()])
                joints, lengths = read_batch(train, rows, device)
                if config.finetune_augment:
                    joints = _light_augment(joints, lengths, augment_generator, train.coords)
                labels = torch.from_numpy(np.asarray(train.labels[rows], dtype=np.int64)).to(device)
                loss = F.cross_entropy(model(joints, lengths), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, seen = total + loss.item() * rows.size, seen + rows.size
            scheduler.step()
            curve.append(total / max(seen, 1))
        logits = forward_batches(
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
    if keep_head:
        result["head"] = {"weight": model.head.weight.detach().cpu(),
                          "bias": model.head.bias.detach().cpu(),
                          "encoder": {k: v.detach().cpu() for k, v in model.encoder.state_dict().items()}}  # fmt: skip
    return result


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
    keep_head: bool = False,
) -> dict:
    config = config or EvalConfig()
    config.validate()
    check_pair(train, test, encoder)
    fraction = config.label_fraction if label_fraction is None else float(label_fraction)
    check_label_fraction(fraction)
    seeds = config.seeds if seeds is None else int(seeds)
    if seeds < 1:
        raise SkelsslError(f"seeds must be >= 1, got {seeds}")
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
            keep_head=keep_head and offset == 0,
        )  # fmt: skip
        for offset in range(seeds)
    ]
    result = {
        "protocol": protocol,
        **summarise_runs(runs),
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
    if keep_head:  # the first seed's classifier
        result["head"] = runs[0].pop("head")
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
    keep_head: bool = False,
) -> dict:
    """Finetune encoder + linear head end to end on a class-balanced label fraction.

    Repeated for ``seeds`` runs (seed ``seed + i`` draws the labelled sample, the head's
    initialisation, the batch order and the augmentation); each run trains a deep copy,
    so ``encoder`` is left untouched. ``top1``/``top5`` are means over runs, with
    ``top1_std``/``top5_std`` and the per-run dicts under ``runs``. ``label_fraction``
    and ``seeds`` default to the config's. ``keep_head``: the first seed's classifier
    under ``head`` (``weight``, ``bias``, the finetuned ``encoder`` state).
    """
    return _finetune_protocol(
        "finetune", encoder, train, test, config, label_fraction=label_fraction, seeds=seeds,
        seed=seed, reinitialize=False, device=device, quiet=quiet,
        return_predictions=return_predictions, keep_head=keep_head,
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
