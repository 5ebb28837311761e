"""Report helpers: markdown result tables and PNG plots (confusion matrix, t-SNE, curves).

Plots are drawn on a bare :class:`matplotlib.figure.Figure`, which renders with the Agg
backend without touching pyplot's global state, so they work on headless machines and
inside other programs' figures alike.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from skelssl.errors import SkelsslError

MISSING = "-"
MAX_ANNOTATED_CLASSES = 20  # confusion cells get their counts written up to this size
MAX_TICK_LABELS = 60
MAX_LEGEND_CLASSES = 20


# ---------------------------------------------------------------------------- tables
def format_value(value, std=None) -> str:
    """A table cell: floats with 1 decimal, ``mean ± std`` when ``std`` is given."""
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral) and std is None:
        return str(int(value))
    if isinstance(value, numbers.Real):
        text = f"{float(value):.1f}"
        if std is not None and isinstance(std, numbers.Real):
            text += f" ± {float(std):.1f}"
        return text
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    rows: Sequence[Mapping], columns: Sequence[str], headers: Sequence[str] | None = None
) -> str:
    """A GitHub markdown table of ``rows`` (dicts) restricted to ``columns``.

    Numbers get 1 decimal (integers stay integers); a column ``c`` whose row also holds
    ``c_std`` is written ``mean ± std``; a missing value is ``-``.
    """
    headers = list(columns if headers is None else headers)
    if len(headers) != len(columns):
        raise SkelsslError(f"{len(headers)} headers for {len(columns)} columns")
    lines = [
        "| " + " | ".join(format_value(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        cells = [format_value(row.get(column), row.get(f"{column}_std")) for column in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- plots
def _save(figure: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_confusion_matrix(
    matrix, class_names: Sequence[str], path: str | os.PathLike, title: str = "confusion matrix"
) -> Path:
    """PNG of a confusion matrix ``matrix[true, predicted]`` (K, K), rows normalised.

    Colours show the fraction of each true class (recall); counts are written in the
    cells for up to 20 classes. Returns the path written.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise SkelsslError(f"confusion matrix must be square (K, K), got shape {matrix.shape}")
    num_classes = matrix.shape[0]
    if len(class_names) != num_classes:
        raise SkelsslError(f"{len(class_names)} class names for a {num_classes}-class matrix")
    totals = matrix.sum(1, keepdims=True)
    recall = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = min(4 + 0.35 * num_classes, 24)
    figure = Figure(figsize=(size + 1, size))
    axes = figure.add_subplot()
    image = axes.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of true class")
    if num_classes <= MAX_TICK_LABELS:
        ticks = np.arange(num_classes)
        axes.set_xticks(ticks, labels=list(class_names), rotation=90, fontsize=7)
        axes.set_yticks(ticks, labels=list(class_names), fontsize=7)
    if num_classes <= MAX_ANNOTATED_CLASSES:
        for true, predicted in np.ndindex(num_classes, num_classes):
            if matrix[true, predicted]:
                colour = "white" if recall[true, predicted] > 0.5 else "black"
                axes.text(predicted, true, f"{int(matrix[true, predicted])}", ha="center",
                          va="center", fontsize=7, color=colour)  # fmt: skip
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    return _save(figure, path)


def _class_colours(num_classes: int) -> np.ndarray:
    from matplotlib import colormaps

    name = "tab10" if num_classes <= 10 else "tab20" if num_classes <= 20 else "turbo"
    return colormaps[name](
        np.linspace(0, 1, num_classes) if name == "turbo" else np.arange(num_classes)
    )


def plot_tsne(
    features,
    labels,
    class_names: Sequence[str],
    path: str | os.PathLike,
    title: str = "t-SNE",
    seed: int = 0,
) -> np.ndarray:
    """PNG of a 2-D t-SNE of ``features`` (N, D) coloured by ``labels`` (N,).

    scikit-learn's TSNE, PCA initialisation, ``random_state=seed``, perplexity
    ``min(30, (N - 1) / 3)``. Returns the embedding (N, 2).
    """
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if features.shape[0] != labels.shape[0]:
        raise SkelsslError(f"{features.shape[0]} feature rows but {labels.shape[0]} labels")
    if features.shape[0] < 4:
        raise SkelsslError(f"t-SNE needs at least 4 samples, got {features.shape[0]}")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise SkelsslError(f"labels out of range 0..{len(class_names) - 1}")
    perplexity = min(30.0, (features.shape[0] - 1) / 3)
    embedding = TSNE(
        n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed
    ).fit_transform(features)
    colours = _class_colours(len(class_names))
    figure = Figure(figsize=(7, 6))
    axes = figure.add_subplot()
    for label in np.unique(labels):
        points = embedding[labels == label]
        axes.scatter(
            points[:, 0], points[:, 1], s=8, color=colours[label], label=class_names[label]
        )
    if len(class_names) <= MAX_LEGEND_CLASSES:
        axes.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title)
    _save(figure, path)
    return embedding


def plot_curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str = "",
    xlabel: str = "epoch",
    ylabel: str = "loss",
) -> Path:
    """PNG of named ``(x, y)`` curves on one axis (e.g. loss per epoch of several runs)."""
    if not series:
        raise SkelsslError("no curves to plot")
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for name, (x, y) in series.items():
        if len(x) != len(y):
            raise SkelsslError(f"curve {name!r} has {len(x)} x values but {len(y)} y values")
        axes.plot(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), label=name)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)
