"""Skeleton BYOL on NW-UCLA cross-view (train views 1+2 without labels, test view 3).

Rows (all final-epoch numbers; nothing is selected on view 3):

- ``ours`` (asymmetric T₁/T₂, multi-viewpoint sampling, momentum BN), ST-GCN 0.25× with
  joints + bones (``stgcn-byol-0.25``), 32 frames (configs/nwucla/byol.yaml): linear
  evaluation with the paper's protocol (SGD lr 30, ×0.1 at 60/80 %, resampling
  augmentation per batch), the project's standard linear probe (Adam on standardised
  frozen features) and kNN (k=1, cosine).
- Table 2 ablation: BYOL baseline with only conservative / only aggressive augmentation
  (symmetric, no multi-view), ours without multi-view, ours with symmetric (T₁/T₁)
  pipelines, ours with each augmentation of T₁ removed in turn. Their paper-protocol
  linear evaluation uses frozen features without augmentation (cheaper on CPU).
- ``ours-0.5x``: ours at ST-GCN 0.5×, the distillation teacher.
- Semi-supervised (ours): 1 / 5 / 10 % labels, mean ± std over 5 label samplings.
- Distillation (Table 5 layout): teacher ours-0.5x finetuned on 10 % labels, student
  ST-GCN 0.25× from scratch, without KD (labels only) and with KD (Eq. (6), τ = 1).
- t-SNE (Fig. 3) of view-3 features: BYOL baseline vs ours without multi-view vs ours.

Every Table 2 run (``ours`` included, so the ablation compares equal budgets) gets
``--run-minutes`` of pre-training, the 0.5× teacher ``--teacher-minutes``; a run's epoch
count is set from a timed training step so that the cosine schedules (lr and λ) complete.
Evaluation epochs are ``--eval-epochs``. Results: ``benchmarks/results/nwucla_byol.json``,
``nwucla_byol.md`` and ``nwucla_byol_tsne.png``.

    python benchmarks/nwucla_byol.py --root ../shared/datasets/nw-ucla/all_sqe --run-minutes 6 --teacher-minutes 12
    python benchmarks/nwucla_byol.py --quick      # smoke test on tiny synthetic data (~minutes)
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from common import machine, write_json
from skelssl.config import load_config
from skelssl.data.cache import load_dataset
from skelssl.data.sampling import label_fraction_indices
from skelssl.data.types import DataSpec
from skelssl.evaluation.byol import (
    ProtocolConfig,
    distill,
    finetune_classifier,
    linear_evaluation,
    semi_supervised,
    train_from_scratch,
)
from skelssl.evaluation.features import extract_features, predict
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.evaluation.metrics import classification_accuracy
from skelssl.methods import build_method
from skelssl.models import build_encoder, encoder_preset
from skelssl.optim import build_optimizer
from skelssl.report import markdown_table
from skelssl.runs import load_run, pretrain
from skelssl.train import resolve_device, to_device

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "datasets" / "nw-ucla" / "all_sqe"
RESULTS = REPO / "benchmarks" / "results"
PAPER_REFERENCE = {"crrl_linear_nwucla": 83.8, "target_linear": 84.0}
T1 = ["shear", "left_right_drop", "resample", "savgol", "cyclic_shift"]

ABLATION = {
    "random": [],  # the untrained encoder (0 epochs): what pre-training adds
    "ours": [],
    "baseline-conservative": ["params.pipelines=conservative", "params.multi_view=false"],
    "baseline-aggressive": ["params.pipelines=aggressive", "params.multi_view=false"],
    "ours-no-multi-view": ["params.multi_view=false"],
    "ours-symmetric": ["params.pipelines=aggressive"],
    **{
        f"ours-no-{name}": [f"params.aggressive=[{','.join(a for a in T1 if a != name)}]"]
        for name in T1
    },
    "ours-0.5x": ["encoder.preset=stgcn-byol-0.5"],
    "ours-long": [],  # ours with --long-minutes (skipped when 0)
}
QUICK_RUNS = ("ours", "baseline-conservative", "ours-no-multi-view", "ours-0.5x")
TSNE_RUNS = {
    "baseline-conservative": "BYOL",
    "ours-no-multi-view": "ours w/o multi-view",
    "ours": "ours",
}


def base_config(args, overrides: list[str]):
    if args.quick:
        quick = [
            "data.synthetic.classes=4", "data.synthetic.subjects=3", "data.synthetic.takes=2",
            "data.preprocess.frames=16", "train.batch_size=16", "params.hidden_dim=64",
        ]  # fmt: skip
        return load_config("byol", REPO / "configs/synthetic/byol.yaml", [*quick, *overrides])
    return load_config(
        "byol", REPO / "configs/nwucla/byol.yaml", [f"data.root={args.root}", *overrides]
    )


def seconds_per_epoch(config, steps: int = 2) -> float:
    """Time ``steps`` training steps (after one warm-up step) and scale to one epoch."""
    data = load_dataset(config.data, quiet=True)
    train, _ = data.split(config.data.split or next(iter(data.protocols)))
    device = resolve_device(config.train.device)
    method = build_method("byol", config.params, config.encoder, DataSpec.of(data)).to(device)
    optimizer = build_optimizer(method, config.train)
    dataset = method.train_dataset(train, 0)
    batch_size = min(config.train.batch_size, len(dataset))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    batch = to_device(next(iter(loader)), device)
    batch["generator"] = torch.Generator(device=device).manual_seed(0)
    for step in range(steps + 1):
        if step == 1:
            started = time.perf_counter()
        optimizer.zero_grad()
        method.loss(batch)["loss"].backward()
        optimizer.step()
        method.after_step(0.0)
    per_step = (time.perf_counter() - started) / steps
    return per_step * max(1, len(dataset) // batch_size)


def pretrain_run(name: str, args) -> tuple[Path, dict]:
    """Pre-train one row's configuration within its budget (``--run/teacher-minutes``)."""
    minutes = {"ours-0.5x": args.teacher_minutes, "ours-long": args.long_minutes}.get(
        name, args.run_minutes
    )
    budget_seconds = minutes * 60
    run_dir = Path(args.work) / name
    if args.reuse and (run_dir / "summary.json").exists():
        print(f"[{name}] reusing the finished run in {run_dir}", flush=True)
        return run_dir, json.loads((run_dir / "summary.json").read_text())
    config = base_config(args, ABLATION[name])
    epoch_seconds = seconds_per_epoch(config) if name != "random" else 1.0
    epochs = max(1, int(budget_seconds / epoch_seconds)) if not args.quick else 1
    epochs = 0 if name == "random" else epochs
    config.train.epochs = epochs
    config.train.warmup_epochs = min(10.0, 0.1 * epochs)  # paper: 10 of its epochs
    config.train.time_budget = 1.5 * budget_seconds  # safety net
    if run_dir.exists():
        shutil.rmtree(run_dir)
    print(f"[{name}] ~{epoch_seconds:.0f} s/epoch -> {epochs} epochs", flush=True)
    summary = pretrain(config, run_dir, quiet=True)
    return run_dir, summary


def evaluate_row(name: str, run_dir: Path, summary: dict, protocol: ProtocolConfig) -> dict:
    run = load_run(run_dir, quiet=True)
    train, test = run.data.split(run.split)
    augmented = ("ours", "ours-0.5x", "ours-long")  # the others: frozen features, cheaper
    paper_protocol = protocol if name in augmented else _no_augment(protocol)
    linear = linear_evaluation(run.encoder, train, test, paper_protocol)
    probe = linear_probe(run.encoder, train, test, run.config.evaluation, quiet=True)
    nearest = knn(run.encoder, train, test, run.config.evaluation, quiet=True)
    return {
        "run": name,
        "encoder": f"stgcn x{run.config.encoder.width} joints+bones",
        "frames": run.config.data.preprocess.frames,
        "epochs": summary.get("epochs"),
        "pretrain_minutes": round(summary.get("seconds", 0) / 60, 1),
        "linear_top1": linear["top1"],
        "linear_augment": paper_protocol.augment,
        "probe_top1": probe["top1"],
        "knn_top1": nearest["top1"],
        "knn": f"k={nearest['k']} {nearest['metric']}",
    }


def _no_augment(protocol: ProtocolConfig) -> ProtocolConfig:
    import dataclasses

    return dataclasses.replace(protocol, augment=False)


def semi_supervised_rows(run_dir: Path, protocol: ProtocolConfig, name: str) -> list[dict]:
    run = load_run(run_dir, quiet=True)
    train, test = run.data.split(run.split)
    results = semi_supervised(run.encoder, train, test, protocol)
    return [
        {"run": name, "label_fraction": f"{fraction:.0%}", "n_labelled": r["n_labelled"], "top1": r["top1"],
         "top1_std": r["top1_std"], "samplings": len(r["runs"]),
         "top1_mean_std": f"{r['top1']:.1f} ± {r['top1_std']:.1f}"}
        for fraction, r in results.items()
    ]  # fmt: skip


def distillation_rows(teacher_dir: Path, protocol: ProtocolConfig, fraction: float) -> list[dict]:
    """Table 5 layout: teacher 0.5× finetuned on ``fraction``; 0.25× student w/o and with KD."""
    run = load_run(teacher_dir, quiet=True)
    train, test = run.data.split(run.split)
    rows = label_fraction_indices(train.labels, fraction, 0)
    device = resolve_device("auto")
    teacher = finetune_classifier(run.encoder, train, rows, protocol, seed=0, device=device)
    teacher_top1 = classification_accuracy(predict(teacher, test), test.labels)["top1"]
    student_config = encoder_preset("stgcn-byol-0.25")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        student = build_encoder(student_config, DataSpec.of(run.data))
    without = train_from_scratch(student, train, test, rows, protocol)
    with_kd = distill(teacher, student, train, test, protocol)
    return [
        {"teacher": f"stgcn x{run.config.encoder.width}", "student": "stgcn x0.25",
         "label_fraction": f"{fraction:.0%}", "teacher_top1": teacher_top1,
         "student_without_kd_top1": without["top1"], "student_with_kd_top1": with_kd["top1"]}
    ]  # fmt: skip


def tsne_figure(run_dirs: dict[str, Path], path: Path, seed: int = 0) -> None:
    """Fig. 3: t-SNE of view-3 features, one panel per run."""
    from sklearn.manifold import TSNE

    figure = Figure(figsize=(6 * len(run_dirs), 5.5))
    for position, (name, run_dir) in enumerate(run_dirs.items(), start=1):
        run = load_run(run_dir, quiet=True)
        _, test = run.data.split(run.split)
        features = extract_features(run.encoder, test)
        perplexity = min(30.0, (len(features) - 1) / 3)
        embedding = TSNE(perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            features
        )
        axes = figure.add_subplot(1, len(run_dirs), position)
        axes.scatter(embedding[:, 0], embedding[:, 1], c=test.labels, cmap="tab10", s=6)
        axes.set_title(TSNE_RUNS[name])
        axes.set_xticks([])
        axes.set_yticks([])
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")


def write_results(payload: dict, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{stem}.json", payload)
    sections = [
        f"# Skeleton BYOL on {payload['data']}\n",
        f"Machine: {payload['machine']}. Command: `{payload['command']}`.\n",
        "## Linear / kNN and the Table 2 ablation\n",
        "`linear` = paper protocol (SGD lr 30, x0.1 at 60/80 %; resampling augmentation only for "
        "ours rows, frozen features otherwise); `probe` = project linear probe (Adam, "
        "standardised features); kNN k=1 cosine. Target for ours: linear >= 84 % "
        "(CRRL 83.8 %).\n",
        markdown_table(
            payload["rows"],
            [
                "run",
                "encoder",
                "frames",
                "epochs",
                "pretrain_minutes",
                "linear_top1",
                "probe_top1",
                "knn_top1",
            ],
        ),  # fmt: skip
        "\n## Semi-supervised (ours, mean ± std over label samplings)\n",
        markdown_table(
            payload["semi_supervised"],
            ["run", "label_fraction", "n_labelled", "top1_mean_std", "samplings"],
        ),
        "\n## Distillation (Table 5 layout)\n",
        markdown_table(
            payload["distillation"],
            [
                "teacher",
                "student",
                "label_fraction",
                "teacher_top1",
                "student_without_kd_top1",
                "student_with_kd_top1",
            ],
        ),  # fmt: skip
        f"\n![t-SNE]({stem}_tsne.png)\n",
    ]
    (out / f"{stem}.md").write_text("\n".join(sections) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument(
        "--run-minutes", type=float, default=6.0, help="pre-training of each Table 2 run"
    )
    parser.add_argument(
        "--teacher-minutes", type=float, default=12.0, help="pre-training of the 0.5x teacher"
    )
    parser.add_argument(
        "--long-minutes", type=float, default=0.0, help="an extra, longer run of ours (0: none)"
    )
    parser.add_argument("--eval-epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="smoke test on tiny synthetic data")
    parser.add_argument(
        "--reuse", action="store_true", help="keep finished runs in --work, evaluate them again"
    )
    parser.add_argument("--work", default=str(REPO / "runs" / "bench-byol"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = list(QUICK_RUNS if args.quick else ABLATION)
    if not args.long_minutes:
        names.remove("ours-long")
    epochs = 1 if args.quick else args.eval_epochs
    protocol = ProtocolConfig(
        linear_epochs=epochs, semi_epochs=epochs, distill_epochs=epochs,
        fractions=[0.1, 0.5] if args.quick else [0.01, 0.05, 0.1],
        samplings=2 if args.quick else 5, batch_size=16 if args.quick else 64,
    )  # fmt: skip
    stem = "nwucla_byol_quick" if args.quick else "nwucla_byol"
    out = args.out if not args.quick else Path(args.work) / "results"
    command = (
        "python benchmarks/nwucla_byol.py --quick" if args.quick else
        f"python benchmarks/nwucla_byol.py --run-minutes {args.run_minutes} "
        f"--teacher-minutes {args.teacher_minutes} --long-minutes {args.long_minutes} "
        f"--eval-epochs {args.eval_epochs}"
    )  # fmt: skip
    started = time.time()
    payload = {
        "data": "synthetic (quick)" if args.quick else "NW-UCLA xview (view 3 test)",
        "machine": machine(),
        "command": command, "rows": [], "semi_supervised": [], "distillation": [],
        "protocol": {k: v for k, v in vars(protocol).items()}, "paper_reference": PAPER_REFERENCE,
    }  # fmt: skip
    rows, run_dirs = payload["rows"], {}
    semi_run = "ours-long" if "ours-long" in names else "ours"  # the longest run of ours

    def save() -> None:  # after every step, so an interrupted benchmark keeps its rows
        payload["total_minutes"] = round((time.time() - started) / 60, 1)
        write_results(payload, out, stem)

    for name in names:
        run_dirs[name], summary = pretrain_run(name, args)
        rows.append(evaluate_row(name, run_dirs[name], summary, protocol))
        print(json.dumps(rows[-1]), flush=True)
        save()
        if name == semi_run:
            payload["semi_supervised"] = semi_supervised_rows(run_dirs[name], protocol, name)
            print(json.dumps(payload["semi_supervised"]), flush=True)
            save()
    payload["distillation"] = distillation_rows(
        run_dirs["ours-0.5x"], protocol, 0.5 if args.quick else 0.1
    )
    tsne_figure({k: run_dirs[k] for k in TSNE_RUNS if k in run_dirs}, out / f"{stem}_tsne.png")
    save()
    print(f"wrote {out / stem}.json/.md/_tsne.png in {payload['total_minutes']} min")
    print(f"REPRODUCE.md: {command}")
    if not math.isfinite(rows[0]["linear_top1"]) or np.isnan(rows[0]["knn_top1"]):
        raise SystemExit("non-finite accuracy")


if __name__ == "__main__":
    main()
