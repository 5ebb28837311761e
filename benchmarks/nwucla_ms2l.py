"""MS²L on NW-UCLA cross-view (train views 1+2, test view 3): the paper's NW-UCLA rows.

Lin et al., ACM MM 2020. Rows, each at the final epoch (nothing is selected on view 3):

- MS²L: linear probe and kNN (k and metric in the table) on the frozen pre-trained encoder;
  Rand-U: the same on a randomly initialised encoder (Table 2).
- Supervised strategies with the paper's classifier C (1-layer GRU, 60 units + MLP):
  Rand-S, Pretrain, Finetune, Moving, Jointly (Table 3's protocol, all training labels).
- Task combinations (Table 7): pre-training with every non-empty subset of
  {motion, jigsaw, contrastive}, each evaluated by the linear probe.
- Figure 4: L_self per epoch while finetuning the pre-trained encoder (Pretrain-then-
  finetune) and under Moving, written as ``ms2l_figure4.png``.

Every pre-training run gets the same time budget (a share of ``--budget-minutes``) and
stops after the first epoch that exceeds it; every classifier run likewise. Sequences are
prepared at ``--frames`` (200, the paper's); at another length the motion predictor
observes ``round(T · 50/200)`` frames and predicts the rest (MS2LConfig).

    python benchmarks/nwucla_ms2l.py --root ../shared/datasets/nw-ucla/all_sqe --budget-minutes 120
    python benchmarks/nwucla_ms2l.py --quick     # smoke test: subsets, 1 epoch, 50 frames

Full mode writes ``benchmarks/results/nwucla_ms2l.json``, ``nwucla_ms2l.md`` and
``ms2l_figure4.png``; quick mode writes the same names under ``--work``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skelssl.config import load_config, to_dict
from skelssl.data.dataset import load_dataset
from skelssl.data.types import DataSpec
from skelssl.evaluation.ms2l import StrategyConfig, train_recognition, unsupervised_evaluation
from skelssl.methods import build_method
from skelssl.methods.ms2l import TASKS
from skelssl.report import markdown_table, plot_curves
from skelssl.train import resolve_device, train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "datasets" / "nw-ucla" / "all_sqe"
CONFIG = REPO / "configs" / "nwucla" / "ms2l.yaml"
# Lin et al. 2020, NW-UCLA: Table 2 (linear evaluation) and Table 3 (supervised).
PAPER = {
    "MS²L": 76.81,
    "Rand-U": 60.61,
    "Rand-S": 83.86,
    "Pretrain": 85.26,
    "Moving": 85.32,
    "Jointly": 86.75,
}
STRATEGY_ROWS = {
    "Rand-S": "rand-s",
    "Pretrain": "pretrain",
    "Finetune": "finetune",
    "Moving": "moving",
    "Jointly": "jointly",
}
PRETRAIN_SHARE = 0.08  # of the budget, per pre-training run (7 runs: Table 7)
STRATEGY_SHARE = 0.07  # of the budget, per classifier run (5 runs)


def task_combinations() -> list[list[str]]:
    """Every non-empty subset of the three tasks, the full set last (Table 7)."""
    subsets = [list(c) for size in (1, 2, 3) for c in itertools.combinations(TASKS, size)]
    return subsets


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(resolve_device("auto")),
    }


def subset(data, count: int, seed: int):
    """A seeded random subset of ``count`` samples (all when ``count`` >= len)."""
    if count >= len(data):
        return data
    rows = np.sort(np.random.default_rng(seed).choice(len(data), count, replace=False))
    return data.subset(rows)


def pretrain_ms2l(
    config, train_data, tasks: list[str], run_dir: Path, budget_s: float, quiet: bool
):
    """Pre-train MS²L with ``tasks`` for at most ~``budget_s`` seconds; (method, summary)."""
    params = dataclasses.replace(config.params, tasks=list(tasks))
    train_config = dataclasses.replace(config.train, time_budget=budget_s)
    torch.manual_seed(config.train.seed)
    method = build_method("ms2l", params, config.encoder, DataSpec.of(train_data))
    run_config = dataclasses.replace(config, params=params, train=train_config)
    summary = train(
        method, train_data, train_config, run_dir, quiet=quiet, config_dict=to_dict(run_config)
    )
    return method.cpu(), summary


def evaluation_row(name: str, encoder, train_data, test_data, config, extra: dict) -> dict:
    result = unsupervised_evaluation(encoder, train_data, test_data, config.evaluation)
    return {
        "row": name,
        "linear_top1": result["linear"]["top1"],
        "knn_top1": result["knn"]["top1"],
        "knn": f"k={result['knn']['k']} {result['knn']['metric']}",
        "paper_top1": PAPER.get(name),
        **extra,
    }


def run(args) -> dict:
    overrides = [f"data.root={args.root}", f"data.preprocess.frames={args.frames}", *args.overrides]
    config = load_config("ms2l", CONFIG, overrides)
    data = load_dataset(config.data, quiet=args.quiet)
    train_data, test_data = data.split(config.data.protocol or "xview")
    budget = args.budget_minutes * 60
    strategy_config = StrategyConfig(
        epochs=args.strategy_epochs,
        moving_epochs=args.moving_epochs,
        batch_size=config.train.batch_size,
        time_budget=budget * STRATEGY_SHARE,
    )
    if args.quick:
        train_data, test_data = subset(train_data, 96, 0), subset(test_data, 96, 1)
        config.train.epochs = 1
        config.evaluation.linear_epochs = 20
        strategy_config = dataclasses.replace(
            strategy_config, epochs=2, moving_epochs=2, time_budget=0
        )
    work = Path(args.work)
    rows, table7, curves = [], [], {}

    # Table 7 (and the main MS²L run: all three tasks)
    main_method = None
    for tasks in task_combinations():
        name = "+".join(tasks)
        started = time.time()
        method, summary = pretrain_ms2l(
            config, train_data, tasks, work / name, budget * PRETRAIN_SHARE, args.quiet
        )
        minutes = round((time.time() - started) / 60, 1)
        row = evaluation_row(
            name,
            method.encoder,
            train_data,
            test_data,
            config,
            {"epochs": summary["epochs"], "pretrain_minutes": minutes},
        )
        table7.append(row)
        print(json.dumps(row), flush=True)
        if len(tasks) == len(TASKS):
            main_method = method
            rows.append({**row, "row": "MS²L", "paper_top1": PAPER["MS²L"]})

    # Rand-U: the same evaluation on a randomly initialised encoder
    torch.manual_seed(config.train.seed)
    random_method = build_method("ms2l", config.params, config.encoder, DataSpec.of(train_data))
    rows.append(
        evaluation_row(
            "Rand-U", random_method.encoder, train_data, test_data, config, {"epochs": 0}
        )
    )
    print(json.dumps(rows[-1]), flush=True)

    # Supervised strategies with the classifier C (Table 3)
    for name, strategy in STRATEGY_ROWS.items():
        source = random_method if strategy in ("rand-s", "jointly") else main_method
        result = train_recognition(
            strategy, source, train_data, test_data, strategy_config, seed=config.train.seed
        )
        curves[name] = result
        rows.append({
            "row": name,
            "classifier_top1": result["top1"],
            "epochs": result["epochs"],
            "final_theta": result["theta_curve"][-1] if result["theta_curve"] else None,
            "paper_top1": PAPER.get(name),
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return {
        "rows": rows,
        "table7": table7,
        "curves": curves,
        "config": to_dict(config),
        "strategy": dataclasses.asdict(strategy_config),
    }


def write_results(results: dict, out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    figure = plot_curves(
        {
            "Pretrain-then-finetune": _epochs_and(results["curves"]["Finetune"]["self_curve"]),
            "Moving": _epochs_and(results["curves"]["Moving"]["self_curve"]),
        },
        out / "ms2l_figure4.png",
        title="MS²L Figure 4: L_self during supervised training (NW-UCLA)",
        ylabel="L_self (mean per epoch)",
    )
    payload = {"machine": machine(), "command": command, **results}
    (out / "nwucla_ms2l.json").write_text(json.dumps(payload, indent=2) + "\n")
    main_table = markdown_table(
        results["rows"],
        ["row", "epochs", "linear_top1", "knn_top1", "classifier_top1", "final_theta", "paper_top1"],
        ["row", "epochs", "linear top-1 %", "kNN top-1 %", "classifier C top-1 %", "θ, last epoch mean", "paper top-1 %"],
    )  # fmt: skip
    tasks_table = markdown_table(
        results["table7"],
        ["row", "epochs", "pretrain_minutes", "linear_top1", "knn_top1"],
        ["tasks", "epochs", "pre-train min", "linear top-1 %", "kNN top-1 %"],
    )
    knn = results["rows"][0].get("knn", "")
    lines = [
        "# MS²L on NW-UCLA cross-view (train views 1+2, test view 3)",
        "",
        f"Machine: {payload['machine']}. Final-epoch numbers; kNN: {knn}.",
        f"Command: `{command}`",
        "",
        "## Unsupervised (linear, kNN) and supervised strategies (classifier C)",
        "",
        main_table,
        "",
        "## Task combinations (Table 7), linear evaluation",
        "",
        tasks_table,
        "",
        f"Figure 4 (L_self during Pretrain-then-finetune vs Moving): `{figure.name}`",
    ]
    (out / "nwucla_ms2l.md").write_text("\n".join(lines) + "\n")


def _epochs_and(values: list[float]) -> tuple[list[int], list[float]]:
    return list(range(1, len(values) + 1)), values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--budget-minutes", type=float, default=120.0, help="whole benchmark")
    parser.add_argument("--frames", type=int, default=200, help="prepared sequence length")
    parser.add_argument("--strategy-epochs", type=int, default=30)
    parser.add_argument("--moving-epochs", type=float, default=10.0, help="θ reaches 1 here")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: subsets, 1 epoch, 50 frames"
    )
    parser.add_argument(
        "--work", default=os.environ.get("SKELSSL_BENCH_WORK", "runs/bench-nwucla-ms2l")
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "overrides", nargs="*", help="key=value overrides of configs/nwucla/ms2l.yaml"
    )
    args = parser.parse_args()
    if not args.root.exists():
        raise SystemExit(
            f"NW-UCLA not found at {args.root}: pass --root (see ../shared/datasets/README.md)"
        )
    if args.quick:
        args.frames = 50
    command = "python benchmarks/nwucla_ms2l.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results = run(args)
    out = Path(args.work) if args.quick else args.out
    write_results(results, out, command)
    print((out / "nwucla_ms2l.md").read_text())
    print(f"REPRODUCE.md: {command}")


if __name__ == "__main__":
    main()
