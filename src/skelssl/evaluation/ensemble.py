"""Score-level ensembles of runs: each run's class scores on the same test samples, fused
by a weighted mean (``skelssl evaluate RUN RUN ... --ensemble``).

The multi-stream ensembles of skeleton action recognition (2s-AGCN, Shi et al. CVPR 2019,
Sec. 3.4; AimCLR's and CrosSCLR's 3s-ensembles) train one encoder per input stream
(joint, bone, motion: :mod:`skelssl.data.streams`) and add their softmax scores. Here
each run's scores are:

- ``linear``: the softmax probabilities of the run's linear probe (fitted on the
  training split's frozen features, as :func:`generic.linear_probe_on_features`);
- ``knn``: the similarity-weighted class votes of the k nearest training samples
  (InstDisc Eq. (7), :func:`generic.knn_class_scores` with ``normalise``), summing to 1.

Weights are equal, given, or chosen on a validation split carved from the TRAINING data
only (:func:`stratified_holdout`): probes refitted on the rest, a small grid of weights
(:func:`weight_grid`), the best validation top-1 (:func:`choose_weights`); the probes are
then refitted on the whole training split. The test split is read only after the weights
are fixed, to report.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from skelssl.errors import SkelsslError
from skelssl.evaluation import generic
from skelssl.evaluation.config import EvalConfig
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.metrics import classification_accuracy

ENSEMBLE_PROTOCOLS = ("linear", "knn")
GRID_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)  # per-run weights tried by --weights validate
VALIDATION_FRACTION = 0.2  # of each class of the training split


# ---------------------------------------------------------------------------- pure parts
def check_weights(weights: Sequence[float] | None, count: int) -> np.ndarray:
    """``weights`` (None: equal) as a float64 array of ``count`` non-negative numbers with a
    positive sum, normalised to sum 1."""
    if weights is None:
        return np.full(count, 1.0 / count)
    weights = np.asarray(list(weights), dtype=np.float64)
    if weights.shape != (count,):
        raise SkelsslError(f"{len(weights)} weights for {count} runs")
    if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
        raise SkelsslError(
            f"weights must be >= 0 with a positive sum, got {', '.join(map(str, weights))}"
        )
    return weights / weights.sum()


def fuse_scores(
    scores: Sequence[np.ndarray | Tensor], weights: Sequence[float] | None = None
) -> np.ndarray:
    """The weighted mean of the runs' class scores, ``Σ_i w_i S_i / Σ_i w_i``.

    Shape: a list of R arrays (N, K), weights (R,) (None: equal) -> (N, K) float64.
    """
    if not scores:
        raise SkelsslError("no scores to fuse")
    arrays = [np.asarray(torch.as_tensor(s).detach().cpu(), dtype=np.float64) for s in scores]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2:
        raise SkelsslError(f"scores to fuse must all be (N, K), got {sorted(shapes)}")
    w = check_weights(weights, len(arrays))
    return np.tensordot(w, np.stack(arrays), axes=1)


def weight_grid(runs: int, steps: Sequence[float] = GRID_STEPS) -> list[tuple[float, ...]]:
    """Every combination of ``steps`` per run, normalised to sum 1, without duplicates or
    the all-zero one; equal weights first (they win ties)."""
    if runs > 6:  # 5^7 combinations: fall back to 0 / 0.5 / 1
        steps = (0.0, 0.5, 1.0)
    equal = tuple([round(1.0 / runs, 6)] * runs)
    grid, seen = [equal], {equal}
    for combination in itertools.product(steps, repeat=runs):
        total = sum(combination)
        if total <= 0:
            continue
        normalised = tuple(round(value / total, 6) for value in combination)
        if normalised not in seen:
            seen.add(normalised)
            grid.append(normalised)
    return grid


def choose_weights(
    val_scores: Sequence[np.ndarray | Tensor],
    val_labels: np.ndarray | Tensor,
    grid: Sequence[Sequence[float]],
) -> tuple[tuple[float, ...], float]:
    """The weights of ``grid`` whose fused validation scores have the best top-1 (the first
    of equals), and that top-1 (percent).

    Shape: val_scores a list of R arrays (N, K), val_labels (N,), grid of R-tuples.
    """
    if not grid:
        raise SkelsslError("empty weight grid")
    labels = np.asarray(torch.as_tensor(val_labels).cpu())
    best, best_top1 = None, -1.0
    for weights in grid:
        predicted = fuse_scores(val_scores, weights).argmax(1)
        top1 = float((predicted == labels).mean() * 100)
        if top1 > best_top1:
            best, best_top1 = tuple(float(w) for w in weights), top1
    return best, best_top1


def stratified_holdout(
    labels: np.ndarray, fraction: float = VALIDATION_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (fit, validation) of a class-stratified holdout: ``round(fraction * n_c)`` of
    each class's ``n_c`` samples (at least one when ``n_c >= 2``, none of a singleton
    class) drawn with ``seed``. Shape: labels (N,) -> two sorted int64 arrays."""
    if not 0 < fraction < 1:
        raise SkelsslError(f"validation fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    generator = np.random.default_rng(seed)
    validation = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        count = 0 if len(rows) < 2 else max(1, round(fraction * len(rows)))
        validation.extend(generator.permutation(rows)[:count].tolist())
    validation = np.sort(np.asarray(validation, dtype=np.int64))
    fit = np.setdiff1d(np.arange(len(labels)), validation)
    if len(validation) == 0 or len(fit) == 0:
        raise SkelsslError("the training split is too small to carve a validation split from")
    return fit, validation


def class_scores(
    protocol: str,
    fit_features: np.ndarray,
    fit_labels: np.ndarray,
    query_features: np.ndarray,
    num_classes: int,
    config: EvalConfig,
    *,
    seed: int = 0,
) -> np.ndarray:
    """One run's class scores of the query samples (rows sum to 1), from a probe fitted on
    ``fit_*`` only: the linear probe's softmax, or normalised weighted kNN votes.

    Shape: fit_features (N, D), fit_labels (N,), query_features (Q, D) -> (Q, K).
    """
    device = generic.resolve_device(None)
    fit = torch.as_tensor(np.asarray(fit_features), dtype=torch.float32, device=device)
    labels = torch.as_tensor(np.asarray(fit_labels), dtype=torch.int64, device=device)
    query = torch.as_tensor(np.asarray(query_features), dtype=torch.float32, device=device)
    if protocol == "knn":
        scores = generic.knn_class_scores(fit, labels, query, num_classes, k=config.knn_k,
                                          metric=config.knn_metric, weighted=True,
                                          normalise=True)  # fmt: skip
        return scores.cpu().numpy()
    # the linear probe of generic, its head applied to the query: softmax(W (f - m) / s + b)
    dummy = np.zeros(len(query), dtype=np.int64)  # no query labels are read
    head = generic.linear_probe_on_features(
        fit_features, fit_labels, query_features[:1], dummy[:1], num_classes, config,
        seed=seed, device=device, keep_head=True,
    )["head"]  # fmt: skip
    with torch.no_grad():
        standardised = (query - head["feature_mean"].to(device)) / head["feature_std"].to(device)
        logits = standardised @ head["weight"].to(device).T + head["bias"].to(device)
    return torch.softmax(logits, dim=1).cpu().numpy()


# ---------------------------------------------------------------------------- runs
def check_same_samples(runs: Sequence, splits: Sequence[tuple]) -> None:
    """Raise unless every run has the same training and test samples (names, in order) and
    the same classes as the first."""
    first_train, first_test = splits[0]
    for run, (train, test) in zip(runs[1:], splits[1:]):
        where = Path(str(run.run_dir))
        if list(test.names) != list(first_test.names):
            raise SkelsslError(
                "runs of an ensemble must share the dataset and split: the test samples differ "
                f"from {runs[0].run_dir}'s",
                where,
            )
        if list(train.names) != list(first_train.names):
            raise SkelsslError(
                f"runs of an ensemble must share the dataset and split: the training samples "
                f"differ from {runs[0].run_dir}'s",
                where,
            )
        if list(run.data.class_names) != list(runs[0].data.class_names):
            raise SkelsslError(f"class names differ from {runs[0].run_dir}'s", where)


def weights_text(weights: list[float] | str | None) -> str | None:
    """The ``--weights`` text of parsed weights (the inverse of :func:`parse_weights`)."""
    return weights if weights is None or isinstance(weights, str) else ",".join(map(str, weights))


def parse_weights(text: str | None) -> list[float] | str | None:
    """``--weights``: None (equal), ``validate``, or comma-separated numbers."""
    if text is None or text == "validate":
        return text
    try:
        return [float(value) for value in text.split(",")]
    except ValueError:
        raise SkelsslError(
            f"--weights must be numbers separated by commas or 'validate', got {text!r}"
        ) from None


def evaluate_ensemble(
    run_dirs: Sequence[str | Path],
    *,
    protocol: str = "linear",
    weights: Sequence[float] | str | None = None,
    overrides: Sequence[str] = (),
    checkpoint: str = "last.pt",
    quiet: bool = False,
    seed: int = 0,
) -> dict:
    """Fuse the class scores of ``run_dirs`` (same dataset and split) on their test split.

    ``weights``: None (equal), one number per run, or ``"validate"`` (chosen on a stratified
    holdout of the training split, :func:`choose_weights`). ``overrides``: ``key=value``
    settings of every run's :class:`EvalConfig`. Returns ``top1`` (fused), ``weights``,
    ``weights_from`` and per run ``runs[i] = {run, stream, method, top1}``.
    """
    from skelssl.runs import load_run
    from skelssl.typed import apply_overrides

    if protocol not in ENSEMBLE_PROTOCOLS:
        raise SkelsslError(
            f"--ensemble fuses {' or '.join(ENSEMBLE_PROTOCOLS)} scores, not {protocol!r}"
        )
    if len(run_dirs) < 2:
        raise SkelsslError("--ensemble needs two or more runs")
    if isinstance(weights, str) and weights != "validate":
        raise SkelsslError(f"unknown weights {weights!r} (numbers, or 'validate')")
    if weights is not None and not isinstance(weights, str):
        check_weights(weights, len(run_dirs))
    runs = []
    for run_dir in run_dirs:
        run = load_run(run_dir, checkpoint=checkpoint, quiet=quiet)
        run.run_dir = str(run_dir)
        runs.append(run)
    splits = [run.data.split(run.split) for run in runs]
    check_same_samples(runs, splits)
    configs = [apply_overrides(run.config.evaluation, tuple(overrides)) for run in runs]
    for config in configs:
        config.validate()
    train = splits[0][0]
    num_classes = train.num_classes
    train_features = [
        extract_features(run.encoder, data, batch_size=config.batch_size, quiet=quiet)
        for run, (data, _), config in zip(runs, splits, configs)
    ]
    result: dict = {"protocol": protocol, "ensemble": True}
    if weights == "validate":
        chosen, validation = _validated_weights(
            protocol, train_features, np.asarray(train.labels), num_classes, configs, seed
        )
        result.update(weights_from="validation", validation=validation)
    else:
        chosen = tuple(float(w) for w in check_weights(weights, len(runs)))
        result["weights_from"] = "equal" if weights is None else "given"
    # the weights are fixed: now, and only now, the test split
    test = splits[0][1]
    scores = []
    for run, (_, data), config, features in zip(runs, splits, configs, train_features):
        test_features = extract_features(run.encoder, data, batch_size=config.batch_size,
                                         quiet=quiet)  # fmt: skip
        scores.append(class_scores(protocol, features, np.asarray(train.labels), test_features,
                                   num_classes, config, seed=seed))  # fmt: skip
    fused = fuse_scores(scores, chosen)
    labels = np.asarray(test.labels)
    result.update(
        classification_accuracy(torch.from_numpy(fused), labels, require_positive=True),
        weights=[round(w, 6) for w in chosen],
        runs=[
            {
                "run": run.run_dir,
                "method": run.config.method,
                "stream": run.config.data.stream,
                **classification_accuracy(torch.from_numpy(s), labels, require_positive=True),
            }
            for run, s in zip(runs, scores)
        ],  # fmt: skip
        n_train=len(train),
        n_test=len(test),
        num_classes=num_classes,
        data=runs[0].config.data.name,
        split=runs[0].split,
    )
    return result


def _validated_weights(
    protocol: str,
    train_features: list[np.ndarray],
    train_labels: np.ndarray,
    num_classes: int,
    configs: list[EvalConfig],
    seed: int,
) -> tuple[tuple[float, ...], dict]:
    """Weights chosen on a stratified holdout of the training split (probes fitted on the
    rest); nothing of the test split is seen. Returns the weights and a summary."""
    fit, validation = stratified_holdout(train_labels, VALIDATION_FRACTION, seed)
    val_scores = [
        class_scores(
            protocol,
            features[fit],
            train_labels[fit],
            features[validation],
            num_classes,
            config,
            seed=seed,
        )  # fmt: skip
        for features, config in zip(train_features, configs)
    ]
    grid = weight_grid(len(train_features))
    chosen, top1 = choose_weights(val_scores, train_labels[validation], grid)
    return chosen, {"top1": top1, "n_fit": int(len(fit)), "n_validation": int(len(validation)),
                    "grid_size": len(grid), "fraction": VALIDATION_FRACTION}  # fmt: skip
