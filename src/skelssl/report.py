"""Report helpers: markdown result tables and PNG plots (confusion matrix, t-SNE, curves).

Plots are drawn on a bare :class:`matplotlib.figure.Figure`, which renders with the Agg
backend without touching pyplot's global state, so they work on headless machines and
inside other programs' figures alike.
"""

from __future__ import annotations

import errno
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
# inside write_report: failed file writes are collected here (the report's text goes on
# being computed), not raised at once
_write_failures: list[OSError] | None = None


def _save(figure: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(path, format="png", dpi=120, bbox_inches="tight")
    except OSError as error:
        path.unlink(missing_ok=True)  # no half-written PNG
        error.filename = str(path)  # the file, not whatever the writer held open
        if _write_failures is None:
            raise
        _write_failures.append(error)
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


# ---------------------------------------------------------------------------- run reports
REPORT_COLUMNS = ["run", "method", "data", "protocol", "checkpoint", "epoch", "top1", "top5",
                  "n_train", "n_test"]  # fmt: skip
TSNE_MAX_SAMPLES = 1500


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The JSON objects of a ``.jsonl`` file; unreadable lines (a cut-off last line) skipped."""
    import json

    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def training_curves(metrics: Sequence[Mapping]) -> dict[str, dict[str, tuple[list, list]]]:
    """``metrics.jsonl`` records -> ``{plot: {series: (x, y)}}``: ``loss`` per epoch (the
    epoch lines), ``lr`` and every other logged number per step (the step lines)."""
    epochs = [r for r in metrics if "lr" not in r and "epoch" in r and "loss" in r]
    steps = [r for r in metrics if "lr" in r and "step" in r]
    curves: dict[str, dict[str, tuple[list, list]]] = {}
    if epochs:
        curves["loss per epoch"] = {
            "loss": ([r["epoch"] for r in epochs], [r["loss"] for r in epochs])
        }
    skip = {"step", "epoch", "seq_per_s"}
    keys = sorted({k for r in steps for k, v in r.items() if k not in skip and _is_number(v)})
    for key in keys:
        rows = [r for r in steps if _is_number(r.get(key))]
        curves[f"{key} per step"] = {key: ([r["step"] for r in rows], [r[key] for r in rows])}
    return curves


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def evaluation_rows(run_dirs: Sequence[str | os.PathLike]) -> list[dict]:
    """Every result in the runs' ``evaluations.jsonl``, one row each, tagged with the run."""
    rows = []
    for run_dir in run_dirs:
        for record in read_jsonl(Path(run_dir) / "evaluations.jsonl"):
            rows.append({**record, "run": Path(run_dir).name,
                         "checkpoint": record.get("checkpoint", "last.pt")})  # fmt: skip
    return rows


def write_report(
    run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike, *, quiet: bool = False
) -> Path:
    """A folder a person opens: ``index.html`` (and ``report.md``) with each run's training
    curves, the evaluations of all runs as one table, and for the first run a confusion
    matrix and a t-SNE of its test features (PNGs). Returns the path of ``index.html``."""
    from skelssl.errors import SkelsslError

    out = Path(out)
    for run_dir in run_dirs:
        if not (Path(run_dir) / "config.yaml").is_file():
            raise SkelsslError("not a run directory (no config.yaml)", run_dir)
    global _write_failures
    sections: list[tuple[str, list[str], list[str]]] = []  # (title, paragraphs, images)
    _write_failures = failures = []
    try:
        index = _write_sections(run_dirs, out, sections, quiet=quiet)
    except OSError as error:
        failures.append(error)
    finally:
        _write_failures = None
    if not failures:
        return index
    # a full disk: show what was computed, then say what could not be written
    print(_markdown(sections))
    error = failures[0]
    full = error.errno in (errno.ENOSPC, errno.EDQUOT)
    problem = "no space left on device" if full else error.strerror
    raise SkelsslError(
        f"{problem} while writing {error.filename or out}; the report is incomplete "
        "(its text is printed above)"
    )


def _write_sections(run_dirs, out: Path, sections: list, *, quiet: bool) -> Path:
    """:func:`write_report`'s work, appending to ``sections`` as each one is computed."""
    if len(run_dirs) > 1:
        sections.append(("Training loss of every run", [], [_loss_of_every_run(run_dirs, out)]))
    for run_dir in run_dirs:
        name = Path(run_dir).name
        images = []
        for title, series in training_curves(read_jsonl(Path(run_dir) / "metrics.jsonl")).items():
            file_name = f"{name}-{title.replace(' ', '-')}.png"
            xlabel = "epoch" if title.endswith("epoch") else "step"
            plot_curves(series, out / file_name, title=f"{name}: {title}", xlabel=xlabel,
                        ylabel=title.split(" per ")[0])  # fmt: skip
            images.append(file_name)
        text = [] if images else ["no training metrics (metrics.jsonl is empty or missing)"]
        sections.append((f"Training: {name}", text, images))
    rows = evaluation_rows(run_dirs)
    table = markdown_table(rows, REPORT_COLUMNS) if rows else "no evaluations recorded yet"
    sections.append(("Evaluations (evaluations.jsonl)", [table], []))
    sections.append(test_split_section(Path(run_dirs[0]), out, quiet=quiet))
    for path, text in (
        (out / "report.md", _markdown(sections)),
        (out / "index.html", _html(sections)),
    ):
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            path.unlink(missing_ok=True)
            if _write_failures is None:
                raise
            _write_failures.append(error)
    return out / "index.html"


def _loss_of_every_run(run_dirs: Sequence[str | os.PathLike], out: Path) -> str:
    """One plot with the per-epoch loss of each run; returns its file name."""
    series = {}
    for run_dir in run_dirs:
        curves = training_curves(read_jsonl(Path(run_dir) / "metrics.jsonl"))
        if "loss per epoch" in curves:
            series[Path(run_dir).name] = curves["loss per epoch"]["loss"]
    if series:
        plot_curves(series, out / "loss-every-run.png", title="training loss per epoch")
    return "loss-every-run.png"


def test_split_section(
    run_dir: Path, out: Path, *, quiet: bool
) -> tuple[str, list[str], list[str]]:
    """Confusion matrix and t-SNE of the run's test split: the saved linear head's
    predictions when ``heads/linear.pt`` exists, else kNN (k=1, cosine) on frozen features."""
    from skelssl.evaluation.config import EvalConfig
    from skelssl.evaluation.features import extract_features, predict
    from skelssl.evaluation.generic import knn_on_features
    from skelssl.evaluation.metrics import confusion_matrix as count_confusion
    from skelssl.runs import load_run
    from skelssl.saved_heads import head_path

    run = load_run(run_dir, quiet=quiet)
    train, test = run.data.split(run.split)
    test_features = extract_features(run.encoder, test, quiet=quiet)
    stale = None
    if head_path(run_dir, "linear").is_file():
        from skelssl.saved_heads import load_head, stale_head

        stale = stale_head(load_head(head_path(run_dir, "linear")), run.encoder)
    if head_path(run_dir, "linear").is_file() and not stale:
        from skelssl.inference import load_classifier

        classifier = load_classifier(run, head_path(run_dir, "linear"))
        predictions = predict(classifier, test, quiet=quiet).argmax(1)
        how = "saved linear head (heads/linear.pt)"
    else:
        train_features = extract_features(run.encoder, train, quiet=quiet)
        result = knn_on_features(train_features, train.labels, test_features, test.labels,
                                 train.num_classes, EvalConfig(), return_predictions=True)  # fmt: skip
        predictions = np.asarray(result["predictions"])
        how = "kNN (k=1, cosine) on frozen features"
        if stale:
            how += " (heads/linear.pt is stale: it was fitted on older weights)"
    labels = np.asarray(test.labels)
    accuracy = float((predictions == labels).mean() * 100)
    name = run_dir.name
    plot_confusion_matrix(count_confusion(labels, predictions, test.num_classes), test.class_names,
                          out / f"{name}-confusion.png",
                          title=f"{name}: {how}, top-1 {accuracy:.1f}%")  # fmt: skip
    keep = np.random.default_rng(0).permutation(len(labels))[:TSNE_MAX_SAMPLES]
    keep.sort()
    plot_tsne(test_features[keep], labels[keep], test.class_names, out / f"{name}-tsne.png",
              title=f"{name}: t-SNE of {keep.size} test features")  # fmt: skip
    text = [f"Test split of {run.split} ({len(labels)} sequences), predictions by {how}: "
            f"top-1 {accuracy:.1f}%. {run.progress_note()}".strip()]  # fmt: skip
    return f"Test split: {name}", text, [f"{name}-confusion.png", f"{name}-tsne.png"]


def _markdown(sections) -> str:
    lines = ["# skelssl report", ""]
    for title, paragraphs, images in sections:
        lines += [f"## {title}", "", *[p + "\n" for p in paragraphs]]
        lines += [f"![{image}]({image})\n" for image in images]
    return "\n".join(lines)


def _html(sections) -> str:
    import html

    body = []
    for title, paragraphs, images in sections:
        body.append(f"<h2>{html.escape(title)}</h2>")
        for paragraph in paragraphs:
            if paragraph.startswith("|"):
                body.append(_html_table(paragraph))
            else:
                body.append(f"<p>{html.escape(paragraph)}</p>")
        body += [f'<img src="{html.escape(image)}" alt="{html.escape(image)}">' for image in images]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "img{max-width:100%;margin:0.5em 0}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}")  # fmt: skip
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>skelssl report</title>"
            f"<style>{style}</style></head><body><h1>skelssl report</h1>\n"
            + "\n".join(body) + "\n</body></html>\n")  # fmt: skip


def _html_table(markdown: str) -> str:
    import html

    lines = [line for line in markdown.splitlines() if line.strip()]
    cells = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    head, rows = cells[0], cells[2:]
    parts = ["<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"]
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return "".join(parts) + "</table>"
