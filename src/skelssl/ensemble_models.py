"""An ensemble of runs used like one: ``skelssl predict RUN RUN ... FILE`` and
``skelssl export RUN RUN ... --out model.pt``.

Each run contributes its saved classifier (``RUN/heads/linear.pt`` from
``skelssl evaluate RUN --save-head``, or the head protocol given), with its own stream and
preprocessing; the class probabilities are fused as ``evaluate --ensemble`` fuses them
(:func:`skelssl.evaluation.ensemble.fuse_scores`): a weighted mean, equal weights by
default.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from skelssl.errors import SkelsslError
from skelssl.evaluation.ensemble import check_weights, fuse_scores


def _head_of(run_dir, protocol: str) -> Path:
    from skelssl.saved_heads import head_path

    head = head_path(run_dir, protocol)
    if not head.is_file():
        raise SkelsslError(
            f"no trained head: run `skelssl evaluate {run_dir} --save-head` first", head
        )
    return head


def _same_classes(class_names: list[list[str]], run_dirs) -> None:
    for names, run_dir in zip(class_names[1:], run_dirs[1:]):
        if names != class_names[0]:
            raise SkelsslError(f"class names differ from {run_dirs[0]}'s", run_dir)


def predict_ensemble(
    run_dirs: list[str | os.PathLike],
    inputs: list[str],
    *,
    weights: list[float] | None = None,
    protocol: str = "linear",
    top_k: int = 5,
    checkpoint: str = "last.pt",
    quiet: bool = False,
) -> list[dict]:
    """Each input's ``top`` classes by the fused probabilities of the runs' saved heads
    (each run prepares the input with its own preprocessing and stream)."""
    from skelssl.inference import predict_files

    if top_k < 1:
        raise SkelsslError(f"--top-k must be >= 1, got {top_k}")
    fused_weights = check_weights(weights, len(run_dirs))
    per_run, class_names = [], []
    for run_dir in run_dirs:
        results = predict_files(run_dir, inputs, head=_head_of(run_dir, protocol),
                                top_k=10**9, checkpoint=checkpoint, quiet=quiet)  # fmt: skip
        names = sorted((t["class"], t["label"]) for t in results[0]["top"]) if results else []
        class_names.append([label for _, label in names])
        per_run.append(results)
    _same_classes(class_names, run_dirs)
    names = class_names[0]
    fused_rows = []
    for index, result in enumerate(per_run[0]):
        probabilities = []
        for results in per_run:
            row = np.zeros(len(names))
            for top in results[index]["top"]:
                row[top["class"]] = top["probability"]
            probabilities.append(row[None])
        fused = fuse_scores(probabilities, fused_weights)[0]
        order = np.argsort(-fused, kind="stable")[: min(top_k, len(names))]
        top = [{"label": names[i], "class": int(i), "probability": round(float(fused[i]), 6)}
               for i in order]  # fmt: skip
        fused_rows.append({"input": result["input"], "top": top,
                           "weights": [round(float(w), 6) for w in fused_weights]})  # fmt: skip
    return fused_rows


class FusedClassifier(nn.Module):
    """``forward(joints (N,T,M,V,C), lengths (N,)) -> Σ_i w_i softmax(logits_i)``, (N, K):
    the runs' classifiers (encoder, its stream, saved head) with fixed weights."""

    def __init__(self, classifiers: list[nn.Module], weights: np.ndarray):
        super().__init__()
        self.classifiers = nn.ModuleList(classifiers)
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, joints: Tensor, lengths: Tensor) -> Tensor:
        fused = torch.zeros(())
        for index, classifier in enumerate(self.classifiers):
            probabilities = torch.softmax(classifier(joints, lengths), dim=1)
            fused = fused + self.weights[index] * probabilities
        return fused


def export_ensemble(
    run_dirs: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    weights: list[float] | None = None,
    protocol: str = "linear",
    checkpoint: str = "last.pt",
    quiet: bool = False,
) -> dict:
    """Write a TorchScript :class:`FusedClassifier` of the runs to ``out``; the runs must
    read the same input (layout, bodies, frames, channels and preprocessing)."""
    from skelssl.config import to_dict
    from skelssl.data.types import DataSpec
    from skelssl.export import example_input, run_export
    from skelssl.inference import load_classifier
    from skelssl.runs import load_run

    fused_weights = check_weights(weights, len(run_dirs))
    runs = [load_run(run_dir, checkpoint=checkpoint, quiet=quiet) for run_dir in run_dirs]
    inputs = [(DataSpec.of(run.data), to_dict(run.config.data.preprocess)) for run in runs]
    for run_dir, (spec, preprocess) in zip(run_dirs[1:], inputs[1:]):
        first_spec, first_preprocess = inputs[0]
        if (spec.layout, spec.bodies, spec.frames, spec.channels, preprocess) != (
            first_spec.layout, first_spec.bodies, first_spec.frames, first_spec.channels,
            first_preprocess,
        ):  # fmt: skip
            raise SkelsslError(
                f"an exported ensemble takes one input: the run's layout, bodies, frames, "
                f"channels or data.preprocess differ from {run_dirs[0]}'s",
                run_dir,
            )
    classifiers = [load_classifier(run, _head_of(d, protocol)) for run, d in zip(runs, run_dirs)]
    _same_classes([list(c.class_names) for c in classifiers], run_dirs)
    model = FusedClassifier(classifiers, fused_weights).eval()
    joints, lengths = example_input(runs[0].data)
    with torch.no_grad():
        expected = model(joints, lengths)
    out = Path(out)
    temporary = out.with_name(out.name + ".tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.jit.trace(model, (joints, lengths), check_trace=False).save(str(temporary))
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    exported = run_export(out, joints, lengths, "torchscript")
    return {
        "format": "torchscript",
        "path": str(out),
        "runs": [str(d) for d in run_dirs],
        "weights": [round(float(w), 6) for w in fused_weights],
        "input": {"joints": list(joints.shape), "lengths": list(lengths.shape)},
        "output": list(expected.shape),
        "max_abs_diff": float((exported - expected).abs().max()),
    }
