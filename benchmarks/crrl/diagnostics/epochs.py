"""CRRL's learners over pre-training on NW-UCLA: every kept epoch on the test view (a diagnosis).

CRRL compares by kNN "following [13]" (Sec. IV-C, Table VI): Predict & Cluster (Su et al.,
CVPR 2020). P&C's released NW-UCLA notebook (github.com/shlizee/Predict-Cluster,
``ucla_demo.ipynb``) evaluates the test-view kNN during training and keeps the model whenever
it improves; CRRL's released code (github.com/Picasso-Wang/CRRL, ``main_evaluation.py``)
scores the final checkpoint once. How much could choosing the epoch on the test view add?

This reads finished runs trained with ``train.keep_epochs`` (no training) and scores every
kept checkpoint and the last: the project's linear probe and kNN (k=1, cosine) on the pooled
features, views 1+2 -> view 3. Per seed it reports the final epoch and the best test epoch
of each probe (the selection P&C's notebook makes), and best − final paired by seed. It reads
the test view at every epoch and is never used to choose anything.

    python benchmarks/crrl/diagnostics/epochs.py '/tmp/crrl8/ser-epochs/seed{seed}/ser' \\
        --seeds 0,1,2 --stem ser_width_256_full_epochs --title "SER 2x256, full schedule"

Results: ``benchmarks/crrl/results/nwucla_crrl/<stem>.{json,md,png}``.

Found (SER 2×256, full schedule, seeds 0-2, ``results/nwucla_crrl/ser_width_256_full_epochs.md``):
kNN rises at almost every kept epoch (67.0 ± 1.3 at epoch 5, 81.2 ± 1.0 at 60) while
linear stays in 77.5-79.6, so the best test epoch is about the last: choosing the epoch on
the test view, as Predict & Cluster's notebook does, adds nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.common import REPO, machine, mean_std_text, write_json, write_markdown
from benchmarks.crrl.table import evaluate_encoder
from skelssl.report import markdown_table
from skelssl.runs import load_run

OUT = REPO / "benchmarks" / "crrl" / "results" / "nwucla_crrl"
PROBES = ("linear_top1", "knn_top1")
PAPER = {"linear_top1": 83.8, "knn_top1": 86.4}  # CRRL on NW-UCLA, Tables V and VI


def epoch_scores(run_dir: Path) -> dict[int, dict]:
    """Linear and kNN top-1 (%) at every kept checkpoint (``epoch-NNNN.pt``) and ``last.pt``,
    keyed by the epoch each checkpoint records."""
    scores = {}
    for checkpoint in [*sorted(run_dir.glob("epoch-*.pt")), run_dir / "last.pt"]:
        run = load_run(run_dir, checkpoint=checkpoint.name, quiet=True)
        result = evaluate_encoder(run.encoder, run.data, run.config)
        scores[run.epochs_done] = {probe: result[probe] for probe in PROBES}
        print(f"{run_dir} epoch {run.epochs_done}: {scores[run.epochs_done]}", flush=True)
    return scores


def summarise(per_seed: dict[int, dict[int, dict]]) -> dict:
    """Per probe, each seed's final and best-test-epoch score, best − final, the best epoch."""
    summary = {}
    for probe in PROBES:
        final = [runs[max(runs)][probe] for runs in per_seed.values()]
        best = [max(score[probe] for score in runs.values()) for runs in per_seed.values()]
        best_epoch = [max(runs, key=lambda e, r=runs: r[e][probe]) for runs in per_seed.values()]
        summary[probe] = {
            "final": final, "best_test_epoch": best,
            "best_minus_final": [b - f for b, f in zip(best, final)],
            "best_epochs": best_epoch,
        }  # fmt: skip
    return summary


def curve(per_seed: dict[int, dict[int, dict]], probe: str) -> tuple[list[int], np.ndarray]:
    """Epochs kept by every seed and the seeds' scores there. -> epochs, (seeds, epochs)."""
    epochs = sorted(set.intersection(*(set(runs) for runs in per_seed.values())))
    return epochs, np.array([[runs[e][probe] for e in epochs] for runs in per_seed.values()])


def plot(per_seed: dict[int, dict[int, dict]], path: Path, title: str) -> None:
    """Mean ± std over seeds of both probes against the epoch, the paper's numbers dashed."""
    figure = Figure(figsize=(6.4, 4.0))
    axes = figure.subplots()
    for probe, colour in zip(PROBES, ("tab:blue", "tab:orange")):
        epochs, scores = curve(per_seed, probe)
        mean, std = scores.mean(axis=0), scores.std(axis=0, ddof=1 if len(scores) > 1 else 0)
        label = "linear probe" if probe == "linear_top1" else "kNN (k=1, cosine)"
        axes.plot(epochs, mean, marker="o", color=colour, label=label)
        axes.fill_between(epochs, mean - std, mean + std, color=colour, alpha=0.2)
        axes.axhline(PAPER[probe], color=colour, linestyle="--", linewidth=1,
                     label=f"paper's CRRL, {label.split(' (')[0]}")  # fmt: skip
    axes.set(xlabel="pre-training epoch", ylabel="top-1 on view 3 (%)", title=title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write(payload: dict, out: Path, stem: str) -> None:
    per_seed = {int(s): {int(e): v for e, v in runs.items()}
                for s, runs in payload["per_seed"].items()}  # fmt: skip
    write_json(out / f"{stem}.json", payload)
    plot(per_seed, out / f"{stem}.png", f"{payload['title']}, seeds {payload['seeds']}")
    rows = []
    for probe, values in payload["summary"].items():
        rows.append({"probe": "linear" if probe == "linear_top1" else "kNN (k=1, cosine)",
                     "final": mean_std_text(values["final"]),
                     "best": mean_std_text(values["best_test_epoch"]),
                     "gain": mean_std_text(values["best_minus_final"], signed=True),
                     "epochs": ", ".join(map(str, values["best_epochs"])),
                     "paper": PAPER[probe]})  # fmt: skip
    table = markdown_table(
        rows, ["probe", "final", "best", "gain", "epochs", "paper"],
        ["probe", "final epoch", "best test epoch (diagnosis)", "best − final (paired)", "best epoch per seed", "paper"],
    )  # fmt: skip
    epochs, _ = curve(per_seed, "knn_top1")
    curve_rows = [{"epoch": e, **{probe: mean_std_text([per_seed[s][e][probe] for s in per_seed])
                                  for probe in PROBES}} for e in epochs]  # fmt: skip
    curve_table = markdown_table(curve_rows, ["epoch", *PROBES],
                                 ["epoch", "linear %", "kNN % (k=1, cosine)"])  # fmt: skip
    lines = [
        "# CRRL's learners over pre-training, scored on the test view at every kept epoch",
        "",
        f"Runs `{payload['runs']}`, seeds {payload['seeds']}; NW-UCLA views 1+2 -> view 3; the "
        "project's linear probe (Adam on standardised frozen features) and kNN (k=1, cosine) on "
        "the pooled features. **A diagnosis that reads the test view at every kept epoch and "
        "chooses nothing**: the best test epoch is the selection Predict & Cluster's NW-UCLA "
        "notebook makes for its kNN (the protocol CRRL's Table VI follows); the results report "
        "the final epoch. Mean ± std over seeds (ddof 1). Machine: "
        f"{payload['machine']}.",
        f"Command: `{payload['command']}`",
        "",
        table,
        "",
        f"![probes over pre-training]({stem}.png)",
        "",
        curve_table,
    ]
    write_markdown(out / f"{stem}.md", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="?", help="run directory pattern with {seed}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--stem", required=True, help="results file name <stem>.{json,md,png}")
    parser.add_argument("--title", default="", help="the figure's title (default: the stem)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--rewrite", action="store_true",
                        help="only write the Markdown and figure again from <stem>.json")  # fmt: skip
    args = parser.parse_args()
    if args.rewrite:
        payload = json.loads((args.out / f"{args.stem}.json").read_text())
        write({**payload, "title": args.title or payload["title"]}, args.out, args.stem)
        return
    if not args.runs:
        parser.error("give the run directory pattern (or --rewrite)")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    per_seed = {seed: epoch_scores(Path(args.runs.format(seed=seed))) for seed in seeds}
    payload = {
        "machine": machine(), "runs": args.runs, "seeds": seeds, "title": args.title or args.stem,
        "command": f"python benchmarks/crrl/diagnostics/epochs.py '{args.runs}' --seeds "
                   f"{args.seeds} --stem {args.stem}" + (f" --title '{args.title}'" if args.title else ""),
        "per_seed": per_seed, "summary": summarise(per_seed),
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    write(payload, args.out, args.stem)
    print((args.out / f"{args.stem}.md").read_text())


if __name__ == "__main__":
    main()
