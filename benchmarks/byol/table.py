"""Skeleton BYOL on NW-UCLA cross-view (train views 1+2 without labels, test view 3).

Main rows (final epoch; nothing is selected on view 3), each over ``--seeds`` (mean ± std):

- ``ours`` (asymmetric T₁/T₂, multi-viewpoint sampling, plain target BN — see
  configs/nwucla/byol.yaml for every deviation from the paper and its evidence),
  with the config's encoder and input (the bi-GRU 2×128 on 50 frames; ``--set`` changes
  them), ``--epochs`` epochs.
- ``random``: the untrained encoder of the same shape and seed, BN statistics estimated
  on the training views (like for like: every trained encoder carries its data's
  statistics); ``random-bn-init``: the same weights with BN as initialised (BN does
  nothing), the row this benchmark reported before.

Every row: the project's linear probe (Adam on standardised frozen features; the
``linear`` of ``summary_rows``), kNN (k=1, cosine) and the paper's linear protocol (SGD
lr 30, ×0.1 at 60/80 %) on frozen features without augmentation (cheaper on CPU). BYOL
rows also carry their collapse diagnostics from ``metrics.jsonl`` (effective rank of the
online and target features, targets' mean cosine between samples, true- vs
shuffled-partner loss) over training.

Optional (``--rows``): the Table 2 ablation rows and ``ours-0.5x``; (``--extras``) the
semi-supervised rows and the t-SNE of Fig. 3 on the first seed, distillation (Table 5
layout, teacher ``ours-0.5x``, ``--teacher-set`` to change its shape; the student has the
``ours`` row's shape) on every seed for ``--distill-samplings`` label samplings.

Results: ``benchmarks/byol/results/nwucla_byol.{json,md}`` (with ``summary_rows``).

    python benchmarks/byol/table.py --seeds 0 1 2 --epochs 40
    python benchmarks/byol/table.py --quick      # smoke test on tiny synthetic data
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import NWUCLA_ROOT as DEFAULT_ROOT
from benchmarks.common import (
    REPO,
    SUMMARY_KEYS,
    device_name,
    encoder_label,
    machine,
    mean_std_text,
    paired_differences,
    pretrain_reusing,
    summary_row,
    write_json,
)
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
from skelssl.evaluation.features import accuracy_on, extract_features
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.methods import build_method
from skelssl.methods.supervised import RandomInitConfig
from skelssl.models import build_encoder
from skelssl.optim import build_optimizer
from skelssl.report import markdown_table
from skelssl.runs import load_run, pretrain
from skelssl.train import resolve_device, to_device

RESULTS = REPO / "benchmarks" / "byol" / "results"
PAPER_REFERENCE = {"crrl_linear_nwucla": 83.8, "target_linear": 84.0}
T1 = ["shear", "left_right_drop", "resample", "savgol", "cyclic_shift"]

RANDOM_ROWS = {"random": "train", "random-bn-init": "init"}  # params.bn_statistics
MAIN_ROWS = ("ours", "random", "random-bn-init")
DIAGNOSTICS = (
    "loss_true_partner", "loss_shuffled_partner", "target_cosine",
    "effective_rank", "effective_rank_target",
)  # fmt: skip
ABLATION = {
    "random": [],  # the untrained encoder (0 epochs): what pre-training adds
    "random-bn-init": [],
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
}
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
    train, _ = data.split(config.data.split or next(iter(data.splits)))
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


def pretrain_run(name: str, seed: int, args) -> tuple[Path, dict]:
    """Pre-train one row's configuration with ``seed`` for ``--epochs`` (the 0.5× teacher
    ``--teacher-epochs``); the random rows train 0 epochs (BN statistics per their params).
    With ``--reuse`` a finished run of the same config is kept and an unfinished one resumes
    from its ``last.pt``; a run of another config is trained afresh."""
    run_dir = Path(args.work) / f"{name}-s{seed}"
    row_overrides = args.teacher_set if name == "ours-0.5x" and args.teacher_set else ABLATION[name]
    config = base_config(args, [*args.set, *row_overrides, f"train.seed={seed}"])
    if name in RANDOM_ROWS:
        config = dataclasses.replace(
            config, method="random", params=RandomInitConfig(bn_statistics=RANDOM_ROWS[name])
        )
    epochs = {"ours-0.5x": args.teacher_epochs}.get(name, args.epochs)
    config.train.epochs = 1 if args.quick else epochs
    config.train.warmup_epochs = min(config.train.warmup_epochs, 0.1 * config.train.epochs)

    def say(text: str) -> None:
        print(f"[{name} seed {seed}] {text}", flush=True)

    return run_dir, pretrain_reusing(config, run_dir, args.reuse, pretrain, say=say)[0]


def diagnostics_history(run_dir: Path, points: int = 8) -> list[dict]:
    """Up to ``points`` logged steps (evenly spread, the last included) with the collapse
    diagnostics from the run's ``metrics.jsonl``; empty for runs without them."""
    path = run_dir / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    logged = [r for r in records if "step" in r and "loss_shuffled_partner" in r]
    if not logged:
        return []
    picks = sorted({round(i * (len(logged) - 1) / max(points - 1, 1)) for i in range(points)})
    keys = ("step", "epoch", *DIAGNOSTICS)
    return [{k: round(logged[i][k], 4) for k in keys if k in logged[i]} for i in picks]


def evaluate_row(
    name: str, seed: int, run_dir: Path, summary: dict, protocol: ProtocolConfig
) -> dict:
    run = load_run(run_dir, quiet=True)
    train, test = run.data.split(run.split)
    paper_protocol = _no_augment(protocol)  # frozen features: cheaper on CPU
    linear = linear_evaluation(run.encoder, train, test, paper_protocol)
    probe = linear_probe(run.encoder, train, test, run.config.evaluation, quiet=True)
    nearest = knn(run.encoder, train, test, run.config.evaluation, quiet=True)
    history = diagnostics_history(run_dir)
    return {
        "run": name,
        "seed": seed,
        "encoder": encoder_label(run.config.encoder),
        "frames": run.config.data.preprocess.frames,
        "epochs": summary.get("epochs"),
        "pretrain_minutes": round(summary.get("seconds", 0) / 60, 1),
        "linear_top1": linear["top1"],
        "linear_augment": paper_protocol.augment,
        "probe_top1": probe["top1"],
        "knn_top1": nearest["top1"],
        "knn": f"k={nearest['k']} {nearest['metric']}",
        **(history[-1] if history else {}),
        "diagnostics": history,
    }


def _no_augment(protocol: ProtocolConfig) -> ProtocolConfig:
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


def distillation_rows(
    teacher_dir: Path,
    student_dir: Path,
    protocol: ProtocolConfig,
    fraction: float,
    samplings: int = 1,
) -> list[dict]:
    """Table 5 layout, one row per label sampling ``0 .. samplings-1`` (class-balanced
    ``fraction`` of the training labels): the teacher (pre-trained ``teacher_dir``, the
    paper's wider network) finetuned on the labelled rows; a randomly initialised student
    of ``student_dir``'s shape trained on the labelled rows only (``scratch``) and by
    Eq. (6) from the teacher on every training sample without labels (``with_kd``); and the
    paper's "without KD" row (Table 5: the student-sized model pre-trained and finetuned on
    the fraction, ``semi``), ``student_dir``'s pre-trained encoder finetuned on the same rows.
    """
    teacher_run, student_run = load_run(teacher_dir, quiet=True), load_run(student_dir, quiet=True)
    train, test = teacher_run.data.split(teacher_run.split)
    device = resolve_device("auto")
    out = []
    for sampling in range(samplings):
        rows = label_fraction_indices(train.labels, fraction, sampling)
        teacher = finetune_classifier(
            teacher_run.encoder, train, rows, protocol, seed=sampling, device=device
        )
        semi = finetune_classifier(
            student_run.encoder, train, rows, protocol, seed=sampling, device=device
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sampling)
            student = build_encoder(student_run.config.encoder, DataSpec.of(student_run.data))
        scratch = train_from_scratch(student, train, test, rows, protocol, seed=sampling)
        with_kd = distill(teacher, student, train, test, protocol, seed=sampling)
        out.append({
            "teacher": encoder_label(teacher_run.config.encoder),
            "student": encoder_label(student_run.config.encoder),
            "label_fraction": f"{fraction:.0%}", "sampling": sampling, "n_labelled": int(rows.size),
            "teacher_top1": accuracy_on(teacher, test)["top1"],
            "student_semi_top1": accuracy_on(semi, test)["top1"],
            "student_without_kd_top1": scratch["top1"], "student_with_kd_top1": with_kd["top1"],
        })  # fmt: skip
        print(json.dumps(out[-1]), flush=True)
    return out


# Results-contract keys the main table leaves out: one device, no paper number for NW-UCLA.
UNSHOWN_KEYS = ("device", "paper_linear", "paper_knn", "source")


def distillation_summary(rows: list[dict]) -> list[dict]:
    """Mean ± std over every (seed, label sampling) of each distillation column, and of
    the with-KD student minus each other column, paired by (seed, sampling)."""
    columns = [
        "teacher_top1",
        "student_semi_top1",
        "student_without_kd_top1",
        "student_with_kd_top1",
    ]
    kd = np.array([r["student_with_kd_top1"] for r in rows])
    out = []
    for column in columns:
        values = np.array([r[column] for r in rows])
        gap = kd - values
        out.append({
            "column": column, "n": int(values.size), "top1": mean_std_text(values),
            "with_kd_minus_this": "-" if column == "student_with_kd_top1" else mean_std_text(gap, signed=True),
            "with_kd_above_in": "-" if column == "student_with_kd_top1" else f"{int((gap > 0).sum())}/{gap.size}",
        })  # fmt: skip
    return out


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


def summary_rows(rows: list[dict], device: str, source: str) -> list[dict]:
    """One results-contract row per configuration, its runs grouped over seeds.
    The distillation teacher (``ours-0.5x``) is a BYOL run like ``ours``: its encoder
    column tells the two apart, and a teacher reused from another benchmark's runs repeats
    that benchmark's row (which ``nwucla.py --summary`` lists once)."""
    method = {
        "ours": "byol",
        "ours-0.5x": "byol",
        "random": "random",
        "random-bn-init": "random-bn-init",
    }
    out = []
    for name in dict.fromkeys(r["run"] for r in rows):
        group = [r for r in rows if r["run"] == name]
        out.append(summary_row(
            method=method.get(name, f"byol-{name}"), encoder=group[0]["encoder"],
            frames=group[0]["frames"], seeds=[r["seed"] for r in group],
            epochs=group[0]["epochs"], device=device, source=source,
            minutes=round(float(np.mean([r["pretrain_minutes"] for r in group])), 1),
            linear=[r["probe_top1"] for r in group], knn=[r["knn_top1"] for r in group],
        ))  # fmt: skip
    return out


def paired_gap(rows: list[dict], name: str, reference: str, key: str = "probe_top1") -> str:
    """Mean ± std over seeds of ``name`` minus ``reference`` (paired by seed)."""

    def by_seed(run: str) -> dict:
        return {r["seed"]: r[key] for r in rows if r["run"] == run}

    return mean_std_text(paired_differences(by_seed(name), by_seed(reference)), signed=True)


def three_digits(rows: list[dict]) -> list[dict]:
    """Copies of ``rows`` with the diagnostics as 3-digit strings (the table rounds to 1)."""
    return [{**r, **{k: f"{r[k]:.3f}" for k in DIAGNOSTICS if isinstance(r.get(k), float)}}
            for r in rows]  # fmt: skip


def machine_line(described: dict) -> str:
    """The machine dict of :func:`common.machine` in one line."""
    return ", ".join(f"{key} {value}" for key, value in described.items())


def write_results(payload: dict, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{stem}.json", payload)
    rows = payload["rows"]
    gaps = [{"row": name, "probe_minus_random": paired_gap(rows, name, "random"),
             "knn_minus_random": paired_gap(rows, name, "random", "knn_top1")}
            for name in dict.fromkeys(r["run"] for r in rows) if name != "random"]  # fmt: skip
    sections = [
        f"# Skeleton BYOL on {payload['data']}\n",
        f"Machine: {machine_line(payload['machine'])}. Command: `{payload['command']}`.\n",
        "## Main rows (mean ± std over seeds)\n",
        "`linear` = the project's linear probe (Adam, standardised frozen features), the "
        "number compared across methods; kNN k=1 cosine; final epoch. `random` = the same "
        "encoder untrained, BN statistics estimated on the training views (like for like); "
        "`random-bn-init`: BN as initialised. The paper reports no NW-UCLA number; our "
        "target for this dataset is 84 % at paper scale (GPU suite).\n",
        markdown_table(
            payload["summary_rows"], [key for key in SUMMARY_KEYS if key not in UNSHOWN_KEYS]
        ),
        "\nPaired by seed, against `random` (BN statistics estimated):\n",
        markdown_table(gaps, ["row", "probe_minus_random", "knn_minus_random"]),
        "\n## Every run\n",
        "`linear_top1` = the paper's protocol (SGD lr 30, ×0.1 at 60/80 %) on frozen features "
        "without augmentation. Diagnostics at the last logged step: loss per term with the "
        "true partner vs a shuffled one, targets' mean cosine between samples, effective rank "
        "of online / target encoder features (out of the feature width: 64 for ST-GCN 0.25×, "
        "2 × hidden size for a bi-GRU).\n",
        markdown_table(
            three_digits(rows),
            [
                "run",
                "seed",
                "encoder",
                "epochs",
                "pretrain_minutes",
                "linear_top1",
                "probe_top1",
                "knn_top1",
                *DIAGNOSTICS,
            ],
        ),  # fmt: skip
    ]
    history = [{"run": r["run"], "seed": r["seed"], **h} for r in rows for h in r["diagnostics"]]
    if history:
        sections += ["\n## Collapse diagnostics over training (BYOL runs)\n",
                     markdown_table(three_digits(history), ["run", "seed", "step", "epoch", *DIAGNOSTICS])]  # fmt: skip
    if payload["semi_supervised"]:
        sections += ["\n## Semi-supervised (ours, first seed, mean ± std over label samplings)\n",
                     markdown_table(payload["semi_supervised"], ["run", "label_fraction",
                                    "n_labelled", "top1_mean_std", "samplings"])]  # fmt: skip
    if payload["distillation"]:
        sections += ["\n## Distillation (Table 5 layout, every seed's runs, one row per seed and label sampling)\n",
                     "`student_semi_top1` = the student-shaped `ours` encoder pre-trained and "
                     "finetuned on the fraction (the paper's row without KD); "
                     "`student_without_kd_top1` = the student from scratch on the labelled rows "
                     "only; `student_with_kd_top1` = the student from scratch by Eq. (6) from the "
                     "finetuned teacher on every training sample, labels unused.\n",
                     markdown_table(payload["distillation"], ["teacher", "student", "label_fraction",
                                    "seed", "sampling", "n_labelled", "teacher_top1", "student_semi_top1",
                                    "student_without_kd_top1", "student_with_kd_top1"]),
                     "\nMean ± std over every (seed, label sampling); the with-KD student "
                     "minus each column, paired:\n",
                     markdown_table(payload.get("distillation_summary", []), ["column", "n", "top1",
                                    "with_kd_minus_this", "with_kd_above_in"])]  # fmt: skip
        sections.append(f"\n![t-SNE]({stem}_tsne.png)\n")
    (out / f"{stem}.md").write_text("\n".join(sections) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40, help="pre-training epochs of each run")
    parser.add_argument("--teacher-epochs", type=int, default=80, help="of the 0.5x teacher")
    parser.add_argument(
        "--teacher-set",
        nargs="*",
        default=[],
        help="overrides of the teacher row ours-0.5x instead of its ST-GCN 0.5x "
        "(e.g. encoder.hidden_size=128 with a bi-GRU --set)",
    )
    parser.add_argument(
        "--distill-samplings",
        type=int,
        default=1,
        help="label samplings of the distillation rows (the paper: 5)",
    )
    parser.add_argument(
        "--distill-fraction",
        type=float,
        default=0.1,
        help="label fraction of the distillation rows (Table 5: 0.01, 0.05, 0.1)",
    )
    parser.add_argument("--rows", nargs="+", default=list(MAIN_ROWS), choices=list(ABLATION))
    parser.add_argument("--set", nargs="*", default=[], help="key=value overrides of every run")
    parser.add_argument("--extras", action="store_true",
                        help="semi-supervised and t-SNE (first seed), distillation (every seed; needs ours-0.5x)")  # fmt: skip
    parser.add_argument("--eval-epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="smoke test on tiny synthetic data")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep finished runs in --work, evaluate them again; resume unfinished ones of the same config",
    )
    parser.add_argument("--work", default=str(REPO / "runs" / "bench-byol"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--stem", default="nwucla_byol", help="results file name (no suffix)")
    args = parser.parse_args()
    if args.extras and "ours-0.5x" not in args.rows:
        args.rows.append("ours-0.5x")
    epochs = 1 if args.quick else args.eval_epochs
    protocol = ProtocolConfig(
        linear_epochs=epochs, semi_epochs=epochs, distill_epochs=epochs,
        fractions=[0.1, 0.5] if args.quick else [0.01, 0.05, 0.1],
        samplings=2 if args.quick else 5, batch_size=16 if args.quick else 64,
    )  # fmt: skip
    stem = f"{args.stem}_quick" if args.quick else args.stem
    out = args.out if not args.quick else Path(args.work) / "results"
    command = " ".join(["python benchmarks/byol/table.py", *(["--quick"] if args.quick else []),
        f"--seeds {' '.join(map(str, args.seeds))} --epochs {args.epochs}",
        f"--rows {' '.join(args.rows)}", *([f"--set {' '.join(args.set)}"] if args.set else []),
        *([f"--extras --teacher-epochs {args.teacher_epochs}"] if args.extras else []),
        *([f"--teacher-set {' '.join(args.teacher_set)}"] if args.teacher_set else []),
        *([f"--distill-samplings {args.distill_samplings}"] if args.distill_samplings != 1 else []),
        *([f"--distill-fraction {args.distill_fraction:g}"] if args.distill_fraction != 0.1 else []),
        f"--eval-epochs {args.eval_epochs}",
        *([f"--stem {args.stem}"] if args.stem != "nwucla_byol" else [])])  # fmt: skip
    started = time.time()
    device = device_name(resolve_device("auto"))
    payload = {
        "data": "synthetic (quick)" if args.quick else "NW-UCLA xview (view 3 test)",
        "machine": machine(), "command": command, "overrides": args.set,
        "rows": [], "summary_rows": [], "semi_supervised": [], "distillation": [],
        "protocol": dict(vars(protocol)), "paper_reference": PAPER_REFERENCE,
    }  # fmt: skip
    rows, runs = payload["rows"], {}  # runs[name][seed] = run directory

    def save() -> None:  # after every row, so an interrupted benchmark keeps its rows
        payload["total_minutes"] = round((time.time() - started) / 60, 1)
        payload["summary_rows"] = summary_rows(rows, device, f"{stem}.json")
        write_results(payload, out, stem)

    for seed in args.seeds:  # seed-major: an interrupted run still has complete seeds
        for name in args.rows:
            run_dir, summary = pretrain_run(name, seed, args)
            runs.setdefault(name, {})[seed] = run_dir
            rows.append(evaluate_row(name, seed, run_dir, summary, protocol))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "diagnostics"}), flush=True)
            save()
    if args.extras:
        first_runs = {name: by_seed[args.seeds[0]] for name, by_seed in runs.items()}
        payload["semi_supervised"] = semi_supervised_rows(first_runs["ours"], protocol, "ours")
        for seed in args.seeds:  # every seed's teacher and student-sized encoder
            payload["distillation"] += [
                {"seed": seed, **row}
                for row in distillation_rows(
                    runs["ours-0.5x"][seed], runs["ours"][seed], protocol,
                    0.5 if args.quick else args.distill_fraction, args.distill_samplings,
                )
            ]  # fmt: skip
            payload["distillation_summary"] = distillation_summary(payload["distillation"])
            save()
        tsne = {k: first_runs[k] for k in TSNE_RUNS if k in first_runs}
        tsne_figure(tsne, out / f"{stem}_tsne.png")
        save()
    print(f"wrote {out / stem}.json/.md in {payload['total_minutes']} min")
    print(f"command: {command}")
    if not all(math.isfinite(r["probe_top1"]) for r in rows):
        raise SystemExit("non-finite accuracy")


if __name__ == "__main__":
    main()
