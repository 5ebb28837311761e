"""NW-UCLA cross-view baselines: pre-train on views 1+2 (labels unused), test on view 3.

For each method (``random``, ``supervised``, ``simclr``): pre-train with a fixed wall-clock
budget on this machine's CPU cores, then a linear probe and kNN (k=1, cosine) on view 3,
with features of the frozen encoder. ``random`` is the untrained encoder; ``supervised``
trains the encoder and a linear classifier with labels (its row reports its own classifier
on view 3 as well). Nothing is selected on view 3: final-epoch numbers.

Results merge into ``benchmarks/baselines/results/nwucla.json`` (one row per method) and the
Markdown table ``baselines/results/nwucla.md`` beside it is rewritten from it. ``benchmarks/summary.py``
reads the rows into the summary table. ``benchmarks/simclr/table.py`` is this benchmark
with SimCLR's defaults (its own results folder).

    python benchmarks/baselines/nwucla.py --root ../shared/datasets/nw-ucla/all_sqe \
        --methods random,supervised,simclr --budget-minutes 25
    python benchmarks/baselines/nwucla.py --root ... --speed   # sequences/s of the pretrain step
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import (
    NWUCLA_ROOT,
    REPO,
    machine,
    require_nwucla,
    results_dir,
    write_json,
    write_markdown,
)
from skelssl.config import load_config
from skelssl.data.types import DataSpec
from skelssl.evaluation.features import predict
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.evaluation.metrics import classification_accuracy
from skelssl.methods import build_method
from skelssl.optim import build_optimizer
from skelssl.report import markdown_table
from skelssl.runs import load_run, pretrain
from skelssl.train import resolve_device

DEFAULT_ROOT = NWUCLA_ROOT
CONFIGS = REPO / "configs" / "nwucla"
RESULTS = results_dir("baselines")
PAPER_LINEAR = {"ms2l": 76.81, "crrl": 83.8}  # seed papers' NW-UCLA linear figures


def run_config(method: str, root: Path, budget_seconds: float, overrides: list[str]):
    path = CONFIGS / f"{method}.yaml"
    base = [
        "data.name=nw-ucla",
        "data.split=xview",
        f"data.root={root}",
        f"train.time_budget={budget_seconds}",
    ]
    return load_config(method, path if path.exists() else None, [*base, *overrides])


class EncoderWithClassifier(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Module, classifier: torch.nn.Module):
        super().__init__()
        self.encoder, self.classifier = encoder, classifier

    def forward(self, joints: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.encoder(joints, lengths))


def supervised_top1(run) -> float | None:
    """Top-1 % of a supervised run's own classifier on the test split, if it has one."""
    classifier = getattr(run.method, "classifier", None)
    if classifier is None:
        return None
    _, test = run.data.split(run.split)
    logits = predict(EncoderWithClassifier(run.encoder, classifier), test)
    return classification_accuracy(logits, test.labels)["top1"]


def benchmark_method(method: str, args) -> dict:
    run_dir = Path(args.work) / method
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = run_config(method, args.root, args.budget_minutes * 60, args.overrides)
    started = time.time()
    summary = pretrain(config, run_dir, quiet=args.quiet)
    pretrain_minutes = (time.time() - started) / 60
    run = load_run(run_dir, quiet=True)
    train, test = run.data.split(run.split)
    linear = linear_probe(run.encoder, train, test, run.config.evaluation, quiet=True)
    nearest = knn(run.encoder, train, test, run.config.evaluation, quiet=True)
    row = {
        "method": method,
        "encoder": f"{config.encoder.name}",
        "epochs": summary.get("epochs"),
        "pretrain_minutes": round(pretrain_minutes, 1),
        "linear_top1": linear["top1"],
        "knn_top1": nearest["top1"],
        "knn": f"k={nearest['k']} {nearest['metric']}",
        "n_train": linear["n_train"],
        "n_test": linear["n_test"],
        "seq_per_s": summary.get("seq_per_s"),
        "command": f"python {args.script} --methods {method} --budget-minutes {args.budget_minutes}",
    }
    own = supervised_top1(run) if method == "supervised" else None
    if own is not None:
        row["classifier_top1"] = own
    if method in PAPER_LINEAR:
        row["paper_linear_top1"] = PAPER_LINEAR[method]
    return row


def pretrain_step_speed(root: Path, encoder: list[str], batch_size: int, steps: int = 10) -> float:
    """Sequences/s of one full SimCLR pretrain step: augment + forward + backward + optimiser."""
    config = load_config("simclr", CONFIGS / "simclr.yaml", [f"data.root={root}", *encoder])
    from skelssl.data.cache import load_dataset

    data = load_dataset(config.data, quiet=True)
    method = build_method("simclr", config.params, config.encoder, DataSpec.of(data))
    optimizer = build_optimizer(method, config.train)
    generator = torch.Generator().manual_seed(0)
    batch = {
        "joints": torch.from_numpy(data.joints[:batch_size].copy()),
        "lengths": torch.from_numpy(data.lengths[:batch_size].copy()),
        "labels": torch.from_numpy(data.labels[:batch_size].copy()),
        "index": torch.arange(batch_size),
        "generator": generator,
    }
    for step in range(steps + 2):
        if step == 2:
            started = time.perf_counter()
        optimizer.zero_grad()
        method.loss(batch)["loss"].backward()
        optimizer.step()
    return round(batch_size * steps / (time.perf_counter() - started), 1)


def write_results(rows: dict, speed: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine(resolve_device("auto")),
        "rows": rows,
        "pretrain_step_speed": speed,
    }
    write_json(out / "nwucla.json", payload)
    table = markdown_table(
        list(rows.values()),
        ["method", "encoder", "epochs", "pretrain_minutes", "linear_top1", "knn_top1", "classifier_top1", "paper_linear_top1"],
        ["method", "encoder", "epochs", "pre-train min", "linear top-1 %", "kNN top-1 % (k=1, cosine)", "own classifier %", "paper linear %"],
    )  # fmt: skip
    lines = [
        "# NW-UCLA cross-view (train views 1+2, test view 3)",
        "",
        f"Machine: {payload['machine']}. Commands: benchmarks/baselines/README.md.",
        "",
        table,
        "",
        "The seed papers' rows (MS²L, CRRL, Skeleton BYOL, each beside its untrained encoder) "
        "come from their own benchmarks: `nwucla_summary.md` (`python benchmarks/summary.py`) "
        "gathers every results file's `summary_rows`.",
        "",
    ]
    if speed:
        lines += [
            "Pretrain step throughput (SimCLR: augment + forward + backward + optimiser):",
            "",
        ]
        lines += [f"- {name}: {value} sequences/s" for name, value in speed.items()]
    write_markdown(out / "nwucla.md", lines)


def main(argv: list[str] | None = None, *, methods: str = "random,supervised,simclr",
         out: Path = RESULTS, script: str = "benchmarks/baselines/nwucla.py",
         description: str = __doc__.split("\n")[0]) -> None:  # fmt: skip
    """The command line; ``methods``, ``out`` and ``script`` (the recorded command's script)
    are the defaults of a caller (``benchmarks/simclr/table.py``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--methods", default=methods)
    parser.add_argument("--budget-minutes", type=float, default=25.0)
    parser.add_argument("--work", default=os.environ.get("SKELSSL_BENCH_WORK", "runs/bench-nwucla"))
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--speed", action="store_true", help="measure pretrain-step throughput")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every method")
    args = parser.parse_args(argv)
    args.script = script
    require_nwucla(args.root)
    previous = args.out / "nwucla.json"
    state = json.loads(previous.read_text()) if previous.exists() else {}
    rows, speed = state.get("rows", {}), state.get("pretrain_step_speed", {})
    for method in [m for m in args.methods.split(",") if m]:
        rows[method] = benchmark_method(method, args)
        print(json.dumps(rows[method]))
        write_results(rows, speed, args.out)
    if args.speed:
        speed["gru (2x256 bi)"] = pretrain_step_speed(
            args.root, ["encoder.preset=gru-crrl", "encoder.dropout=0.0"], 128
        )
        speed["stgcn 0.25x"] = pretrain_step_speed(args.root, ["encoder.preset=stgcn-0.25"], 64)
        write_results(rows, speed, args.out)
    print((args.out / "nwucla.md").read_text())


if __name__ == "__main__":
    main()
