"""Use a trained run: features out (``embed``), actions recognised in new files
(``predict``), with a sliding-window timeline for long untrimmed recordings.

New files are prepared exactly like the run's training data: the run's
``data.preprocess`` (centring, view normalisation, resampling to T frames) and, when the
file's joint layout differs from the run's, the layout mapping of transfer evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from skelssl.data.preprocess import preprocess
from skelssl.data.types import DataSpec, RawDataset, Sequence, SkeletonData
from skelssl.errors import SkelsslError
from skelssl.runs import LoadedRun, load_run

PARTS = ("train", "test", "all")
INPUT_KINDS = (
    ".json (NW-UCLA), .skeleton (NTU RGB+D), .txt (PKU-MMD), .npz (skelssl or CTR-GCN), "
    ".pkl (pyskl)"
)


# ---------------------------------------------------------------------------- embed
def embed(
    run_dir: str | os.PathLike,
    *,
    data: dict | None = None,
    split: str | None = None,
    part: str = "all",
    checkpoint: str = "last.pt",
    quiet: bool = False,
) -> dict[str, np.ndarray]:
    """Frozen-encoder features of the run's dataset (or of ``data``, another dataset given
    as ``{"name", "root", ...}``, joints mapped into the run's layout).

    ``split`` names the train/test split (``xview``, ``xsub``, ``given``; default: the
    run's own, or the other dataset's first); ``part`` keeps its ``train`` or ``test``
    samples, or ``all``. Returns arrays: ``features`` (N, D) float32, ``labels``,
    ``subjects``, ``views``, ``setups`` (N,) int64, ``names``, ``performances``,
    ``part`` (N,) str (``train``/``test`` under ``split``), ``class_names`` (K,) str, and
    0-d strings ``split``, ``source``, ``run``, ``checkpoint``.
    """
    from skelssl.evaluation.features import extract_features

    if part not in PARTS:
        raise SkelsslError(f"unknown part {part!r} (known: {', '.join(PARTS)})")
    run = load_run(run_dir, checkpoint=checkpoint, quiet=quiet)
    dataset, split = _embedding_data(run, data, split, quiet)
    is_train = dataset.split_mask(split) if split else np.ones(len(dataset), bool)
    rows = {
        "train": np.flatnonzero(is_train),
        "test": np.flatnonzero(~is_train),
        "all": np.arange(len(dataset)),
    }[part]
    if rows.size == 0:
        raise SkelsslError(f"the {part} part of split {split} is empty", dataset.source)
    chosen = dataset.subset(rows)
    features = extract_features(run.encoder, chosen, quiet=quiet)
    return {
        "features": features.astype(np.float32),
        "labels": np.asarray(chosen.labels, dtype=np.int64),
        "subjects": np.asarray(chosen.subjects, dtype=np.int64),
        "views": np.asarray(chosen.views, dtype=np.int64),
        "setups": np.asarray(chosen.setups, dtype=np.int64),
        "names": np.asarray(chosen.names, dtype=str),
        "performances": np.asarray(chosen.performances, dtype=str),
        "part": np.where(is_train[rows], "train", "test"),
        "class_names": np.asarray(list(dataset.class_names), dtype=str),
        "split": np.asarray(split or "", dtype=str),
        "source": np.asarray(dataset.source, dtype=str),
        "run": np.asarray(str(run_dir), dtype=str),
        "checkpoint": np.asarray(checkpoint, dtype=str),
    }


def _embedding_data(
    run: LoadedRun, data: dict | None, split: str | None, quiet: bool
) -> tuple[SkeletonData, str]:
    """The dataset to embed (the run's, or ``data`` mapped into its layout) and its split."""
    from skelssl.data.sources import default_split

    if not data:
        return run.data, default_split(run.data, split or run.split)
    from skelssl.data.cache import load_dataset
    from skelssl.data.transfer import adapt_data, transfer_data_config

    config = transfer_data_config(run.config.data, {**data, **({"split": split} if split else {})})
    other = load_dataset(config, quiet=quiet)
    spec = DataSpec.of(run.data)
    other, _ = adapt_data(other, spec.layout, spec.bodies, spec.coords)
    return other, default_split(other, config.split) if other.splits else ""


# ---------------------------------------------------------------------------- inputs
def read_sequence_file(path: str | os.PathLike, max_bodies: int = 2) -> tuple[np.ndarray, str]:
    """Raw joints (T, M, V, C) float32 and joint layout of one recording."""
    path = Path(path)
    if not path.is_file():
        raise SkelsslError("input file not found", path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        from skelssl.data.readers.nwucla import LAYOUT, read_joints

        return read_joints(path), LAYOUT
    if suffix == ".skeleton":
        from skelssl.data.readers.ntu import parse_skeleton_file

        return parse_skeleton_file(path, max_bodies), "ntu-25"
    if suffix == ".txt":
        from skelssl.data.readers.pku import LAYOUT, parse_pku_skeleton

        return parse_pku_skeleton(path), LAYOUT
    raise SkelsslError(f"unknown input type {suffix or '(none)'!r} (known: {INPUT_KINDS})", path)


def prepare_for_run(
    clips: list[np.ndarray], names: list[str], layout: str, run: LoadedRun
) -> SkeletonData:
    """Raw clips (T_i, M, V, C) in ``layout`` -> the run's input: its preprocessing, its
    joint layout and body count; (N, T, M, V, C) with lengths."""
    from skelssl.data.transfer import adapt_data

    sequences = [
        Sequence(joints=np.asarray(clip, dtype=np.float32), label=0, name=name)
        for clip, name in zip(clips, names)
    ]
    raw = RawDataset(sequences, list(run.data.class_names), layout, "input")
    data = preprocess(raw, run.config.data.preprocess, quiet=True)
    spec = DataSpec.of(run.data)
    data, _ = adapt_data(data, spec.layout, spec.bodies, spec.coords)
    return data


def _dataset_inputs(path: Path, run: LoadedRun) -> SkeletonData:
    """A dataset file (skelssl or CTR-GCN ``.npz``, pyskl ``.pkl``) through the run's own
    preprocessing (as training), in the run's layout and body count."""
    from skelssl.data.sources import prepare, raw_path
    from skelssl.data.transfer import adapt_data, transfer_data_config

    config = transfer_data_config(run.config.data, {"name": str(path),
                                                    "score": run.config.data.score})  # fmt: skip
    data, _ = prepare(config, raw_path(config), quiet=True)
    spec = DataSpec.of(run.data)
    return adapt_data(data, spec.layout, spec.bodies, spec.coords)[0]


# ---------------------------------------------------------------------------- predict
def load_classifier(run: LoadedRun, head_file: str | os.PathLike) -> torch.nn.Module:
    """The run's encoder with the saved head of ``head_file``, in eval mode."""
    from skelssl.saved_heads import HeadClassifier, load_head, stale_head

    head = load_head(head_file)
    stale = stale_head(head, run.encoder)
    if stale:
        raise SkelsslError(stale, head_file)
    spec = DataSpec.of(run.data)
    expected = (head.get("layout"), head.get("bodies"), head.get("channels"))
    if expected != (spec.layout, spec.bodies, spec.channels):
        raise SkelsslError(
            f"head expects layout/bodies/channels {expected}, the run has "
            f"{(spec.layout, spec.bodies, spec.channels)}",
            head_file,
        )
    return HeadClassifier(run.encoder, head).eval()


def class_probabilities(classifier: torch.nn.Module, data: SkeletonData) -> np.ndarray:
    """Softmax of the classifier's logits, (N, K) float32."""
    from skelssl.evaluation.features import predict

    logits = torch.from_numpy(predict(classifier, data, device="cpu"))
    return torch.softmax(logits, dim=1).numpy()


def top_classes(probabilities: np.ndarray, class_names: list[str], k: int) -> list[dict]:
    """The ``k`` most probable classes of one sample (K,), best first."""
    order = np.argsort(-probabilities, kind="stable")[: max(1, min(k, len(class_names)))]
    return [
        {"label": class_names[i], "class": int(i), "probability": round(float(probabilities[i]), 6)}
        for i in order
    ]


def window_starts(frames: int, window: int, stride: int) -> list[int]:
    """Starts of windows [s, s + window) over ``frames``: every ``stride`` frames, plus one
    ending at the last frame when the stride skips it; one window for a shorter clip."""
    if window < 1 or stride < 1:
        raise SkelsslError(f"--window and --stride must be >= 1, got {window} and {stride}")
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return starts


def merge_segments(timeline: list[dict]) -> list[dict]:
    """Runs of consecutive windows with one label -> segments
    ``{start, end, label, score (mean), windows}``; frames are [start, end)."""
    segments: list[dict] = []
    for row in timeline:
        last = segments[-1] if segments else None
        if last is not None and last["label"] == row["label"] and row["start"] <= last["end"]:
            last["end"] = max(last["end"], row["end"])
            last["scores"].append(row["score"])
        else:
            segments.append({**row, "scores": [row["score"]]})
    return [
        {
            "start": s["start"],
            "end": s["end"],
            "label": s["label"],
            "score": round(float(np.mean(s["scores"])), 6),
            "windows": len(s["scores"]),
        }
        for s in segments
    ]


def temporal_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two frame intervals [start, end)."""
    intersection = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return intersection / union if union > 0 else 0.0


def segment_hits(truth: list[dict], segments: list[dict], threshold: float = 0.5) -> list[bool]:
    """For each true instance ``{start, end, label}``: does a predicted segment of the same
    label overlap it with temporal IoU >= ``threshold``?"""
    return [
        any(
            s["label"] == t["label"]
            and temporal_iou((s["start"], s["end"]), (t["start"], t["end"])) >= threshold
            for s in segments
        )
        for t in truth
    ]


def timeline(
    classifier: torch.nn.Module,
    run: LoadedRun,
    joints: np.ndarray,
    layout: str,
    *,
    window: int,
    stride: int,
    min_score: float = 0.0,
) -> list[dict]:
    """Per-window ``{start, end, label, score}`` over a long recording (T, M, V, C);
    windows whose best probability is below ``min_score`` are left out."""
    starts = window_starts(len(joints), window, stride)
    clips = [joints[start : start + window] for start in starts]
    data = prepare_for_run(clips, [f"{start}" for start in starts], layout, run)
    probabilities = class_probabilities(classifier, data)
    rows = []
    for start, clip, row in zip(starts, clips, probabilities):
        best = int(row.argmax())
        if row[best] >= min_score:
            rows.append(
                {
                    "start": int(start),
                    "end": int(start + len(clip)),
                    "label": classifier.class_names[best],
                    "score": round(float(row[best]), 6),
                }
            )
    return rows


def check_predict_options(
    *, top_k: int, window: int | None, stride: int | None, min_score: float
) -> None:
    """The options of ``predict`` in their ranges (checked before anything is loaded):
    ``top_k`` >= 1, ``window`` and ``stride`` >= 1 (``stride`` only with ``window``),
    ``min_score`` a probability in [0, 1]."""
    if top_k < 1:
        raise SkelsslError(f"--top-k must be >= 1, got {top_k}")
    if stride is not None and window is None:
        raise SkelsslError("--stride needs --window")
    for name, value in (("--window", window), ("--stride", stride)):
        if value is not None and value < 1:
            raise SkelsslError(f"{name} must be >= 1 frame, got {value}")
    if not 0.0 <= min_score <= 1.0:  # NaN fails too
        raise SkelsslError(f"--min-score is a probability in [0, 1], got {min_score}")


def predict_files(
    run_dir: str | os.PathLike,
    inputs: list[str],
    *,
    head: str | os.PathLike | None = None,
    top_k: int = 5,
    window: int | None = None,
    stride: int | None = None,
    min_score: float = 0.0,
    checkpoint: str = "last.pt",
    quiet: bool = False,
) -> list[dict]:
    """Class names and probabilities for each input recording (each sample of a ``.npz``);
    with ``window``, a per-window timeline and its merged segments instead."""
    from skelssl.saved_heads import head_path

    check_predict_options(top_k=top_k, window=window, stride=stride, min_score=min_score)
    head = Path(head) if head is not None else head_path(run_dir, "linear")
    if not head.is_file():
        raise SkelsslError(
            "no trained head: run `skelssl evaluate RUN --save-head` first, or pass --head", head
        )
    run = load_run(run_dir, checkpoint=checkpoint, quiet=quiet)
    classifier = load_classifier(run, head)
    results = []
    for name in inputs:
        path = Path(name)
        if path.suffix.lower() in (".npz", ".pkl", ".pickle"):
            if window is not None:
                raise SkelsslError("--window applies to raw recordings, not dataset files", path)
            data = _dataset_inputs(path, run)
            for sample, row in zip(data.names, class_probabilities(classifier, data)):
                top = top_classes(row, classifier.class_names, top_k)
                results.append({"input": f"{path}:{sample}", "top": top})
            continue
        joints, layout = read_sequence_file(path, run.config.data.preprocess.max_bodies)
        if window is not None:
            step = window if stride is None else stride
            rows = timeline(classifier, run, joints, layout, window=window,
                            stride=step, min_score=min_score)  # fmt: skip
            results.append(
                {"input": str(path), "frames": len(joints), "window": window,
                 "stride": step, "timeline": rows, "segments": merge_segments(rows)}
            )  # fmt: skip
            continue
        data = prepare_for_run([joints], [path.stem], layout, run)
        row = class_probabilities(classifier, data)[0]
        results.append(
            {"input": str(path), "frames": len(joints),
             "top": top_classes(row, classifier.class_names, top_k)}
        )  # fmt: skip
    return results
