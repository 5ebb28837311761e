"""Skeleton BYOL on NW-UCLA over its training: accuracy and feature effective rank per epoch.

Why this exists: in ``nwucla_byol.md`` every short BYOL run scores *below* the untrained
ST-GCN. This benchmark pre-trains one run of ours (configs/nwucla/byol.yaml, plus any
overrides) for ``--minutes``, keeps its weights at epochs 0, 1, 2, 4, 8, … and the last
(``train.keep_epochs``), and evaluates every kept checkpoint on view 3: the project's
linear probe (Adam on standardised frozen features), kNN (k=1, cosine) and the effective
rank of the training-set features (:func:`skelssl.diagnostics.effective_rank`; D = 64 for
the ST-GCN 0.25× that was the config's encoder when it ran, 256 for today's bi-GRU 2×128).
The epoch count is set from a timed step so that the cosine schedules of lr and λ complete
within the budget. Nothing is selected on view 3: every kept epoch is
reported.

Results: ``benchmarks/byol/results/nwucla_byol_dynamics.{json,md,png}``.

    python benchmarks/byol/diagnostics/dynamics.py --root ../shared/datasets/nw-ucla/all_sqe --minutes 40
    python benchmarks/byol/diagnostics/dynamics.py --tag batch16 train.batch_size=16 train.lr=0.025
    python benchmarks/byol/diagnostics/dynamics.py --quick     # smoke test on tiny synthetic data

Found (one run, 175 epochs in 38 min, ``results/nwucla_byol_dynamics.md``; the target BN
then fed with the online network's statistics, now ``params.bn_mode=momentum-online``):
the probe falls from 62.5 % at epoch 0 to 46.6 % at the end while kNN ends where it
started (58.4 -> 59.3) and the features' effective rank halves (10.1 -> 4.3): a longer
run did not lift this BYOL above its untrained encoder (the causes, measured afterwards:
``docs/methods/byol-diagnosis.md``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from matplotlib.figure import Figure

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.byol.table import DEFAULT_ROOT, RESULTS, base_config, seconds_per_epoch
from benchmarks.common import machine, write_json
from skelssl.checkpoint import kept_checkpoint_name
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.evaluation.metrics import effective_rank
from skelssl.report import markdown_table
from skelssl.runs import load_run, pretrain


def kept_epochs(epochs: int) -> list[int]:
    """0, 1, 2, 4, 8, … below ``epochs``, then ``epochs`` itself."""
    kept, epoch = [0], 1
    while epoch < epochs:
        kept.append(epoch)
        epoch *= 2
    return [*kept, epochs]


def epoch_losses(run_dir: Path) -> dict[int, float]:
    """Mean training loss of each epoch, from ``metrics.jsonl``."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {r["epoch"]: r["loss"] for r in records if "lr" not in r and "loss" in r}


def evaluate_checkpoint(run_dir: Path, epoch: int, losses: dict[int, float]) -> dict:
    run = load_run(run_dir, checkpoint=kept_checkpoint_name(epoch), quiet=True)
    train, test = run.data.split(run.split)
    evaluation = run.config.evaluation
    probe = linear_probe(run.encoder, train, test, evaluation, quiet=True)
    nearest = knn(run.encoder, train, test, evaluation, quiet=True)
    features = extract_features(run.encoder, train)
    return {
        "epoch": epoch,
        "train_loss": round(losses[epoch], 4) if epoch in losses else None,
        "probe_top1": probe["top1"],
        "knn_top1": nearest["top1"],
        "knn": f"k={nearest['k']} {nearest['metric']}",
        "effective_rank": round(effective_rank(features), 2),
        "feature_dim": int(features.shape[1]),
    }


def dynamics_figure(rows: list[dict], path: Path) -> None:
    """Probe / kNN top-1 and effective rank against the epoch (symlog x axis)."""
    figure = Figure(figsize=(7, 4.5))
    accuracy = figure.add_subplot(1, 1, 1)
    epochs = [r["epoch"] for r in rows]
    accuracy.plot(epochs, [r["probe_top1"] for r in rows], "o-", label="linear probe top-1")
    accuracy.plot(epochs, [r["knn_top1"] for r in rows], "s-", label="kNN (k=1, cosine) top-1")
    accuracy.axhline(
        rows[0]["probe_top1"], color="grey", ls="--", lw=0.8, label="untrained (probe)"
    )
    accuracy.set_xscale("symlog", linthresh=1)
    accuracy.set_xlabel("pre-training epoch")
    accuracy.set_ylabel("test top-1 % (NW-UCLA: view 3)")
    rank = accuracy.twinx()
    rank.plot(
        epochs, [r["effective_rank"] for r in rows], "^:", color="tab:red", label="effective rank"
    )
    rank.set_ylabel(f"effective rank of features (of {rows[0]['feature_dim']})", color="tab:red")
    handles = accuracy.get_legend_handles_labels()[0] + rank.get_legend_handles_labels()[0]
    accuracy.legend(handles=handles, fontsize=8, loc="lower right")
    accuracy.set_title("Skeleton BYOL (ours) during pre-training")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")


def write_results(payload: dict, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{stem}.json", payload)
    columns = ["epoch", "train_loss", "probe_top1", "knn_top1", "effective_rank"]
    headers = ["epoch", "train loss", "probe top-1 %", "kNN top-1 %", "effective rank"]
    lines = [
        "# Skeleton BYOL on NW-UCLA during pre-training (view 3)",
        "",
        f"Machine: {payload['machine']}. Command: `{payload['command']}`.",
        f"Run: ours (configs/nwucla/byol.yaml), {payload['epochs']} epochs in "
        f"{payload['pretrain_minutes']} min; overrides {payload['overrides'] or 'none'}.",
        "Every kept epoch is shown (nothing selected on view 3); train loss = that epoch's "
        "mean (Eq. (2), range 0-8); effective rank of the training-split features.",
        "",
        markdown_table(payload["rows"], columns, headers),
        "",
        f"![dynamics]({stem}.png)",
        "",
    ]
    (out / f"{stem}.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT))
    parser.add_argument("--minutes", type=float, default=40.0, help="pre-training budget")
    parser.add_argument("--work", default="runs/bench-byol-dynamics")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--quick", action="store_true", help="tiny synthetic smoke test")
    parser.add_argument("--tag", default="", help="results file suffix, for runs with overrides")
    parser.add_argument("overrides", nargs="*", help="config overrides for the run")
    args = parser.parse_args()
    if not args.quick and not Path(args.root).is_dir():
        sys.exit(f"error: {args.root}: NW-UCLA not found (use --root or --quick)")
    config = base_config(args, args.overrides)
    epochs = 3 if args.quick else max(1, int(args.minutes * 60 / seconds_per_epoch(config)))
    config.train.epochs = epochs
    config.train.warmup_epochs = min(10.0, 0.1 * epochs)  # paper: 10 of its epochs
    config.train.time_budget = 0.0 if args.quick else 1.5 * args.minutes * 60
    config.train.keep_epochs = kept_epochs(epochs)
    run_dir = Path(args.work)
    shutil.rmtree(run_dir, ignore_errors=True)
    print(f"pre-training {epochs} epochs, keeping {config.train.keep_epochs}", flush=True)
    started = time.perf_counter()
    summary = pretrain(config, run_dir, quiet=True)
    minutes = round((time.perf_counter() - started) / 60, 1)
    final = run_dir / kept_checkpoint_name(summary["epochs"])
    if not final.exists():  # stopped early by the time budget: keep the last epoch too
        shutil.copyfile(run_dir / "last.pt", final)
    losses = epoch_losses(run_dir)
    done = sorted(
        {e for e in config.train.keep_epochs if e <= summary["epochs"]} | {summary["epochs"]}
    )
    rows = []
    for epoch in done:
        rows.append(evaluate_checkpoint(run_dir, epoch, losses))
        print(json.dumps(rows[-1]), flush=True)
    payload = {
        "machine": machine(),
        "command": "python benchmarks/byol/diagnostics/dynamics.py " + " ".join(sys.argv[1:]),
        "epochs": summary["epochs"],
        "pretrain_minutes": minutes,
        "overrides": args.overrides,
        "rows": rows,
    }
    out = Path(args.out)
    stem = (
        "nwucla_byol_dynamics"
        + ("_quick" if args.quick else "")
        + (f"_{args.tag}" if args.tag else "")
    )
    write_results(payload, out, stem)
    dynamics_figure(rows, out / f"{stem}.png")
    print(f"wrote {out / stem}.md", flush=True)


if __name__ == "__main__":
    main()
