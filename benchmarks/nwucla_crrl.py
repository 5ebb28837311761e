"""CRRL on NW-UCLA cross-view (train views 1+2, labels unused; test view 3).

Rows (Wang et al., IEEE TIP 2022, Tables VIII and XIII): Rand-Enc (the untrained
gru-crrl encoder), CML (step 1), SER, CRRL (step 2: SER taught by the frozen CML query
encoder) and the fusion variants CML-SER-joint, CML-pretrain-SER, SER-pretrain-CML,
SER-distill-CML (``--rows all`` adds SER forward/reverse only, VG and VGSR). Each row, for
every seed of ``--seeds``: linear probe and kNN (k=1, cosine) on frozen features of view 3,
final epoch, nothing selected on view 3; the table gives mean ± std over the seeds.

The schedules are the configs' (the paper's: CML 100 epochs, SER and step 2 60 epochs, lr
halved at 20 and 50); ``--epoch-scale f`` multiplies every phase's epochs and milestones
by ``f`` (a CPU budget; 1 = the paper). With the configs' 2×256 encoder and scale 1 this is
the paper-scale run (a GPU job).

``--optimiser-study`` answers a different question on a validation split carved from the
training views (pre-train and train the probe on view 1, evaluate on view 2; view 3 is not
read): the paper's SGD against Adam for each phase (CML, SER, and step 2 taught by the CML
run of the winning optimiser), paired over the seeds. It writes
``nwucla_crrl_optimiser.{json,md}``; the configs take the winner.

Also written: parameter and FLOP counts of CML, SER and CRRL (Table XI's measure: one
60-frame, two-body, 25-joint sequence; ``torch.utils.flop_counter.FlopCounterMode``,
matrix multiplications, 1 multiply-add = 2 FLOPs), confusion matrices and t-SNE plots of
the CML, SER and CRRL features on view 3 (Figs. 6, 8; first seed), and ``summary_rows``.

    python benchmarks/nwucla_crrl.py                              # paper scale (GPU)
    python benchmarks/nwucla_crrl.py --epoch-scale 0.4 encoder.hidden_size=128   # CPU
    python benchmarks/nwucla_crrl.py --optimiser-study --epoch-scale 0.3 encoder.hidden_size=64
    python benchmarks/nwucla_crrl.py --quick   # smoke test: Rand-Enc, CML, SER, CRRL, 1 epoch
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from common import NWUCLA_ROOT as DEFAULT_ROOT
from common import (
    REPO,
    encoder_label,
    load_average,
    machine,
    mean_std,
    summary_row,
    write_json,
    write_markdown,
)
from skelssl.config import load_config, to_dict
from skelssl.data.cache import load_dataset
from skelssl.data.readers.arrays import write_npz
from skelssl.data.types import DataSpec
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.evaluation.metrics import confusion_matrix
from skelssl.methods import build_method
from skelssl.models import build_encoder, encoder_preset
from skelssl.report import markdown_table, plot_confusion_matrix, plot_tsne
from skelssl.runs import load_run, pretrain
from skelssl.train import set_seed

CONFIGS = REPO / "configs" / "nwucla"
RESULTS = "nwucla_crrl.json"
STUDY_RESULTS = "nwucla_crrl_optimiser.json"
# row -> (variant, config file, teacher row or None); in training order (teachers first,
# CML and CRRL before the ablations, so that a run cut short by its budget has the main rows)
ROWS = {
    "cml": ("cml", "crrl-cml.yaml", None),
    "crrl": ("crrl", "crrl.yaml", "cml"),
    "ser": ("ser", "crrl-ser.yaml", None),
    "cml-ser-joint": ("cml-ser-joint", "crrl-ser.yaml", None),
    "cml-pretrain-ser": ("cml-pretrain-ser", "crrl.yaml", "cml"),
    "ser-pretrain-cml": ("ser-pretrain-cml", "crrl.yaml", "ser"),
    "ser-distill-cml": ("ser-distill-cml", "crrl.yaml", "ser"),
    "ser-forward": ("ser-forward", "crrl-ser.yaml", None),
    "ser-reverse": ("ser-reverse", "crrl-ser.yaml", None),
    "vg": ("vg", "crrl-ser.yaml", None),
    "vgsr": ("vgsr", "crrl-ser.yaml", None),
}
DEFAULT_ROWS = "random,cml,ser,crrl,cml-ser-joint,cml-pretrain-ser,ser-pretrain-cml,ser-distill-cml"
QUICK_ROWS = "random,cml,ser,crrl"
PLOTTED = ("cml", "ser", "crrl")
PAPER = {  # NW-UCLA figures of the paper: Table VIII (linear), Tables V and VI (CRRL)
    "random": {"linear": 50.5},
    "cml": {"linear": 72.8},
    "ser": {"linear": 81.4},
    "crrl": {"linear": 83.8, "knn": 86.4},
    "cml-ser-joint": {"linear": 82.2},
    "cml-pretrain-ser": {"linear": 80.8},
    "ser-pretrain-cml": {"linear": 79.7},
    "ser-distill-cml": {"linear": 80.6},
}
QUICK = [  # smoke test: a narrow encoder, one epoch, a short linear probe
    "encoder.hidden_size=16",
    "train.epochs=1",
    "evaluation.linear_epochs=5",
]
# The two arms of the optimiser study. SGD: Sec. IV-B (momentum 0.9, weight decay 1e-4,
# lr 0.01 for CML and 0.04 for SER / step 2 on NW-UCLA). Adam: lr 1e-3, no weight decay.
# Both keep the configs' epochs and step schedule (halved at 20 and 50).
OPTIMISERS = {
    "sgd": {
        "cml": ["train.optimizer=sgd", "train.lr=0.01", "train.momentum=0.9", "train.weight_decay=1e-4"],
        "ser": ["train.optimizer=sgd", "train.lr=0.04", "train.momentum=0.9", "train.weight_decay=1e-4"],
    },
    "adam": {
        "cml": ["train.optimizer=adam", "train.lr=0.001", "train.weight_decay=0"],
        "ser": ["train.optimizer=adam", "train.lr=0.001", "train.weight_decay=0"],
    },
}  # fmt: skip
PAPER_EPOCHS = {"crrl-cml.yaml": 100, "crrl-ser.yaml": 60, "crrl.yaml": 60}  # Sec. IV-B
STUDY_PHASES = {"cml": "crrl-cml.yaml", "ser": "crrl-ser.yaml", "crrl": "crrl.yaml"}


# ---------------------------------------------------------------- configs and runs


def scale_schedule(config, scale: float):
    """``config`` with epochs and step milestones multiplied by ``scale`` (at least 1 epoch)."""
    if scale == 1.0:
        return config
    train = dataclasses.replace(
        config.train,
        epochs=max(1, round(config.train.epochs * scale)),
        milestones=[max(1, round(m * scale)) for m in config.train.milestones],
    )
    return dataclasses.replace(config, train=train)


def phase_config(file: str, overrides: list[str], args):
    """A config file with ``overrides``, then the quick settings and the user's overrides."""
    extra = QUICK if args.quick else []
    config = load_config("crrl", CONFIGS / file, [*overrides, *extra, *args.overrides])
    return scale_schedule(config, args.epoch_scale)


def train_phase(config, run_dir: Path, quiet: bool) -> tuple:
    """Pre-train ``config`` into a fresh ``run_dir``; (encoder, data, config, info)."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    started = time.time()
    summary = pretrain(config, run_dir, quiet=quiet)
    run = load_run(run_dir, quiet=True)
    info = {"epochs": summary.get("epochs"), "minutes": round((time.time() - started) / 60, 2),
            "load_average": load_average()}  # fmt: skip
    return run.encoder, run.data, run.config, info


def random_encoder(config, seed: int):
    """Rand-Enc: the untrained encoder of ``config`` with the initial weights of ``seed``."""
    data = load_dataset(config.data, quiet=True)
    set_seed(seed)  # as runs.pretrain seeds before building the method
    return build_encoder(config.encoder, DataSpec.of(data)), data


def evaluate_encoder(encoder, data, config, figures: Path | None = None, name: str = "") -> dict:
    """Linear probe + kNN (k=1 cosine) train split -> test split of the config's protocol;
    confusion matrix and t-SNE PNGs into ``figures`` when given."""
    train, test = data.split(config.data.split or "xview")
    linear = linear_probe(
        encoder, train, test, config.evaluation, quiet=True, return_predictions=True
    )
    nearest = knn(encoder, train, test, config.evaluation, quiet=True)
    if figures is not None:
        matrix = confusion_matrix(test.labels, linear["predictions"], test.num_classes)
        plot_confusion_matrix(matrix, test.class_names, figures / f"confusion_{name}.png",
                              title=f"{name.upper()} linear probe, NW-UCLA view 3")  # fmt: skip
        features = extract_features(encoder, test, batch_size=config.evaluation.batch_size)
        plot_tsne(features, test.labels, test.class_names, figures / f"tsne_{name}.png",
                  title=f"{name.upper()} features, NW-UCLA view 3")  # fmt: skip
    return {"linear_top1": linear["top1"], "knn_top1": nearest["top1"],
            "knn": f"k={nearest['k']} {nearest['metric']}", "n_train": linear["n_train"],
            "n_test": linear["n_test"]}  # fmt: skip


def aggregate(per_seed: dict[int, dict]) -> dict:
    """Mean ± std over seeds (sample std; 0 for one seed) of the linear and kNN accuracies,
    the epochs reached and the minutes per run."""
    runs = list(per_seed.values())
    result = {"epochs": sorted({r.get("epochs", 0) for r in runs}), "seeds": list(per_seed),
              "pretrain_minutes": round(statistics.fmean(r.get("minutes", 0.0) for r in runs), 2)}  # fmt: skip
    for metric in ("linear_top1", "knn_top1"):
        mean, std = mean_std([r[metric] for r in runs])
        result[metric], result[f"{metric}_std"] = round(mean, 2), round(std or 0.0, 2)
    return result


# ---------------------------------------------------------------- Table XI


def count_flops(function) -> int:
    with FlopCounterMode(display=False) as counter:
        function()
    return int(counter.get_total_flops())


def complexity() -> dict:
    """Parameters and FLOPs of CML, SER and CRRL on one (60, 2, 25, 3) sequence."""
    spec = DataSpec(layout="ntu-25", num_classes=60, frames=60, bodies=2, channels=3)
    x = torch.rand(1, 60, 2, 25, 3) * 2 - 1
    lengths = torch.tensor([60])
    batch = {"joints": x, "lengths": lengths}
    encoder_config = encoder_preset("gru-crrl")
    results = {}
    with tempfile.TemporaryDirectory() as teacher_dir:
        torch.manual_seed(0)
        cml = build_method("crrl", {"variant": "cml"}, encoder_config, spec)
        torch.save({"model": cml.state_dict()}, Path(teacher_dir) / "last.pt")
        (Path(teacher_dir) / "config.yaml").write_text(
            yaml.safe_dump({"encoder": to_dict(encoder_config)})
        )
        methods = {
            "cml": cml,
            "ser": build_method("crrl", {"variant": "ser"}, encoder_config, spec),
            "crrl": build_method(
                "crrl", {"variant": "crrl", "teacher": teacher_dir}, encoder_config, spec
            ),
        }
    for name, method in methods.items():
        method.eval()  # dropout off; the queue is not changed outside training
        with torch.no_grad():
            results[name] = {
                "encoder_params": sum(p.numel() for p in method.encoder.parameters()),
                "pretrain_params": sum(p.numel() for p in method.parameters()),
                "trainable_params": sum(p.numel() for p in method.parameters() if p.requires_grad),
                "encoder_mflops": round(count_flops(lambda m=method: m.encoder(x, lengths)) / 1e6),
                "pretrain_forward_mflops": round(count_flops(lambda m=method: m.loss(batch)) / 1e6),
            }
    return results


# ---------------------------------------------------------------- the benchmark


def requested_rows(args) -> tuple[list[str], list[str]]:
    """(requested rows, rows to train in order: teachers first)."""
    requested = (
        list(ROWS) + ["random"] if args.rows == "all" else [r for r in args.rows.split(",") if r]
    )
    unknown = sorted(set(requested) - set(ROWS) - {"random"})
    if unknown:
        raise SystemExit(f"unknown rows {unknown} (known: random, {', '.join(ROWS)})")
    needed = set(requested)
    for row in list(needed):  # teachers are trained too
        while row in ROWS and ROWS[row][2] is not None:
            row = ROWS[row][2]
            needed.add(row)
    return requested, [row for row in ROWS if row in needed]


def run_benchmark(args, payload: dict) -> None:
    """Every requested row for every seed, row by row (teachers first), so that a run cut
    short still holds all seeds of its first rows; results rewritten after each run."""
    requested, order = requested_rows(args)
    root = [f"data.root={args.root}"]
    figures = args.out / "nwucla_crrl"
    per_seed: dict[str, dict[int, dict]] = {row: {} for row in requested}
    if "random" in requested:
        config = phase_config("crrl-cml.yaml", root, args)
        for seed in args.seeds:
            encoder, data = random_encoder(config, seed)
            per_seed["random"][seed] = {"epochs": 0, **evaluate_encoder(encoder, data, config)}
        payload["planned_epochs"]["random"] = 0
        save_rows(payload, per_seed, args.out)
    for row in order:
        variant, file, teacher = ROWS[row]
        for position, seed in enumerate(args.seeds):
            overrides = [*root, f"params.variant={variant}", f"train.seed={seed}"]
            if teacher is not None:
                overrides.append(f"params.teacher={run_dir_of(args, teacher, seed)}")
            encoder, data, config, info = train_phase(
                phase_config(file, overrides, args), run_dir_of(args, row, seed), args.quiet
            )
            if row in requested:
                plot = figures if row in PLOTTED and position == 0 else None
                per_seed[row][seed] = {**info, **evaluate_encoder(encoder, data, config, plot, row)}
                print(json.dumps({row: {seed: per_seed[row][seed]}}), flush=True)
            payload["planned_epochs"][row] = config.train.epochs
            save_rows(payload, per_seed, args.out)


def save_rows(payload: dict, per_seed: dict[str, dict[int, dict]], out: Path) -> None:
    """Aggregate the runs so far into ``payload`` and rewrite the results files."""
    payload["rows"] = {
        name: {"variant": ROWS[name][0] if name in ROWS else "rand-enc",
               "teacher": ROWS[name][2] if name in ROWS else None,
               **aggregate(runs), "per_seed": runs}
        for name, runs in per_seed.items() if runs
    }  # fmt: skip
    payload["summary_rows"] = summary_rows(payload)
    write_benchmark(payload, out)


def run_dir_of(args, row: str, seed: int) -> Path:
    return Path(args.work) / f"seed{seed}" / row


def summary_rows(payload: dict) -> list[dict]:
    """The rows ``benchmarks/nwucla.py --summary`` collects (HELPERS.md results contract):
    ``crrl`` and ``random`` as themselves, the ablations as ``crrl-<row>``."""
    rows = []
    for name, row in payload["rows"].items():
        runs = [row["per_seed"][seed] for seed in row["seeds"]]
        rows.append(summary_row(
            method=name if name in ("crrl", "random") else f"crrl-{name}",
            encoder=payload["encoder"], frames=payload["frames"], seeds=row["seeds"],
            epochs=row["epochs"][0] if len(row["epochs"]) == 1 else row["epochs"], minutes=row["pretrain_minutes"], device=payload["machine"]["device"],
            linear=[r["linear_top1"] for r in runs], knn=[r["knn_top1"] for r in runs],
            source=RESULTS, paper_linear=PAPER.get(name, {}).get("linear"),
            paper_knn=PAPER.get(name, {}).get("knn"),
        ))  # fmt: skip
    return rows


def cuts_from_the_paper(payload: dict) -> str:
    """What this run changed from the paper's (Sec. IV-B), for reading the gap to it."""
    epochs = ", ".join(f"{name} {payload['planned_epochs'][name]} of {PAPER_EPOCHS[ROWS[name][1]]}"
                       for name in payload["rows"] if name in ROWS)  # fmt: skip
    return (
        f"Differences to the paper's run: encoder {payload['encoder']} (paper gru-2x256); "
        f"epochs {epochs or '-'} (schedule milestones scaled alike); Adam lr 1e-3 instead of "
        "SGD (chosen on view 1 -> view 2, `nwucla_crrl_optimiser.md`); linear probe = Adam on "
        "standardised frozen features, 200 epochs, final epoch (the paper: SGD on the raw "
        "features); kNN k=1 cosine on the raw features as the paper."
    )


def write_benchmark(payload: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RESULTS, payload)
    rows = [{"row": name, **row, "paper_linear": PAPER.get(name, {}).get("linear"),
             "paper_knn": PAPER.get(name, {}).get("knn"),
             "epochs": "/".join(str(e) for e in row["epochs"]) + f" of {payload['planned_epochs'].get(name, 0)}"}
            for name, row in payload["rows"].items()]  # fmt: skip
    table = markdown_table(
        rows,
        ["row", "variant", "teacher", "epochs", "pretrain_minutes", "linear_top1", "knn_top1", "paper_linear", "paper_knn"],
        ["row", "variant", "teacher run", "epochs reached of planned", "pre-train min / run", "linear %", "kNN % (k=1, cosine)", "paper linear %", "paper kNN %"],
    )  # fmt: skip
    flops = [{"model": name.upper(), **values} for name, values in payload["complexity"].items()]
    flops_table = markdown_table(
        flops,
        ["model", "encoder_params", "pretrain_params", "trainable_params", "encoder_mflops", "pretrain_forward_mflops"],
        ["model", "encoder params", "pre-training params (all)", "trainable params", "encoder MFLOPs", "pre-training forward MFLOPs"],
    )  # fmt: skip
    lines = [
        "# CRRL on NW-UCLA cross-view (train views 1+2, test view 3)",
        "",
        f"Encoder {payload['encoder']}; seeds {payload['seeds']} (mean ± std); final epoch; "
        f"schedules = the configs' × {payload['epoch_scale']}. Machine: {payload['machine']}.",
        f"Command: `{payload['command']}`",
        "",
        table,
        "",
        "## Parameters and FLOPs (Table XI measure: 60 frames, 2 bodies, 25 joints)",
        "",
        "FlopCounterMode counts matrix multiplications (2 FLOPs per multiply-add) of one "
        "sequence at the paper's 2×256; pre-training forward = one `loss` call (both "
        "reconstructions, the key encoder, the teacher).",
        "",
        flops_table,
        "",
        cuts_from_the_paper(payload),
        "",
        "Figures (first seed): "
        + ", ".join(f"nwucla_crrl/confusion_{r}.png, nwucla_crrl/tsne_{r}.png" for r in PLOTTED),
    ]
    write_markdown(out / "nwucla_crrl.md", lines)


# ---------------------------------------------------------------- the optimiser study


def validation_split(args) -> Path:
    """Views 1+2 as the paper's preprocessing prepares them, written as a ``given`` split:
    train = view 1, test = view 2. Returns the ``.npz`` path (in the work folder)."""
    config = phase_config("crrl-ser.yaml", [f"data.root={args.root}"], args)
    train, _ = load_dataset(config.data, quiet=True).split(config.data.split)
    path = Path(args.work) / "nwucla_view1_view2.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    given = np.asarray(train.views) == 1
    write_npz(dataclasses.replace(train, protocols={"given": given}), path)
    return path


def run_study(args, payload: dict) -> None:
    """SGD vs Adam per phase on view 1 -> view 2, paired over seeds (see the docstring)."""
    split = validation_split(args)
    data = [f"data.name={split}", "data.split=given"]
    study: dict[str, dict] = {}
    teachers: dict[int, Path] = {}
    for phase, file in STUDY_PHASES.items():
        arms = {}
        for optimiser, settings in OPTIMISERS.items():
            runs = {}
            for seed in args.seeds:
                overrides = [*data, *settings["cml" if phase == "cml" else "ser"],
                             f"params.variant={phase}", f"train.seed={seed}"]  # fmt: skip
                if phase == "crrl":
                    overrides.append(f"params.teacher={teachers[seed]}")
                run_dir = Path(args.work) / f"{phase}-{optimiser}-seed{seed}"
                encoder, data_, config, info = train_phase(
                    phase_config(file, overrides, args), run_dir, args.quiet
                )
                runs[seed] = {**info, **evaluate_encoder(encoder, data_, config)}
                print(json.dumps({phase: {optimiser: {seed: runs[seed]}}}), flush=True)
            arms[optimiser] = {**aggregate(runs), "per_seed": runs, "settings": settings[
                "cml" if phase == "cml" else "ser"], "epochs_planned": config.train.epochs}  # fmt: skip
        study[phase] = {"arms": arms, **paired_difference(arms)}
        if phase == "cml":  # step 2 is taught by the CML runs of the winning optimiser
            winner = study["cml"]["winner"]
            teachers = {seed: Path(args.work) / f"cml-{winner}-seed{seed}" for seed in args.seeds}
        payload["phases"] = study
        write_study(payload, args.out)


def paired_difference(arms: dict) -> dict:
    """Adam − SGD per seed (linear and kNN), mean ± std, and the winner by mean linear."""
    seeds = arms["sgd"]["per_seed"].keys()
    result = {
        "winner": "adam" if arms["adam"]["linear_top1"] > arms["sgd"]["linear_top1"] else "sgd"
    }
    for metric in ("linear_top1", "knn_top1"):
        differences = [arms["adam"]["per_seed"][s][metric] - arms["sgd"]["per_seed"][s][metric]
                       for s in seeds]  # fmt: skip
        mean, std = mean_std(differences)
        result[f"adam_minus_sgd_{metric}"] = round(mean, 2)
        result[f"adam_minus_sgd_{metric}_std"] = round(std or 0.0, 2)
        result[f"adam_better_{metric}_seeds"] = sum(d > 0 for d in differences)
    return result


def write_study(payload: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / STUDY_RESULTS, payload)
    rows = []
    for phase, result in payload["phases"].items():
        for optimiser, arm in result["arms"].items():
            rows.append({**arm, "phase": phase, "optimiser": optimiser,
                         "settings": " ".join(arm["settings"]),
                         "epochs": "/".join(map(str, arm["epochs"]))})  # fmt: skip
        rows.append({"phase": phase, "optimiser": f"adam − sgd (paired; winner {result['winner']})",
                     "linear_top1": result["adam_minus_sgd_linear_top1"],
                     "linear_top1_std": result["adam_minus_sgd_linear_top1_std"],
                     "knn_top1": result["adam_minus_sgd_knn_top1"],
                     "knn_top1_std": result["adam_minus_sgd_knn_top1_std"],
                     "settings": f"Adam better on {result['adam_better_linear_top1_seeds']} of "
                                 f"{len(payload['seeds'])} seeds (linear)"})  # fmt: skip
    table = markdown_table(
        rows,
        ["phase", "optimiser", "settings", "epochs", "pretrain_minutes", "linear_top1", "knn_top1"],
        ["phase", "optimiser", "settings", "epochs", "min / run", "linear %", "kNN % (k=1, cosine)"],
    )  # fmt: skip
    lines = [
        "# CRRL optimiser on a validation split of NW-UCLA's training views",
        "",
        "Pre-training and probes on view 1, accuracy on view 2 (view 3, the test view, is not "
        f"read). Encoder {payload['encoder']}; seeds {payload['seeds']} (mean ± std; the "
        "difference row is paired by seed); schedules = the configs' × "
        f"{payload['epoch_scale']}. Step 2 (crrl) is taught by the CML run of the same seed "
        "trained with the CML winner. Machine: " + str(payload["machine"]) + ".",
        f"Command: `{payload['command']}`",
        "",
        table,
    ]
    write_markdown(out / "nwucla_crrl_optimiser.md", lines)


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument(
        "--rows", default=None, help=f"comma list or all (default: {DEFAULT_ROWS}; --quick: {QUICK_ROWS})"
    )  # fmt: skip
    parser.add_argument("--seeds", default="0,1,2", help="comma list of training seeds")
    parser.add_argument(
        "--epoch-scale", type=float, default=1.0, help="multiply every phase's epochs and milestones"
    )  # fmt: skip
    parser.add_argument("--optimiser-study", action="store_true",
                        help="SGD vs Adam per phase on view 1 -> view 2 (no test view)")  # fmt: skip
    parser.add_argument("--rewrite", action="store_true",
                        help="only rewrite nwucla_crrl.md and summary_rows from the JSON in --out")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny encoder, 1 epoch")
    parser.add_argument("--work", default=None, help="run directories (default runs/bench-nwucla-crrl[-quick])")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="results (default benchmarks/results)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every run")
    args = parser.parse_args()
    if args.epoch_scale <= 0:
        raise SystemExit("--epoch-scale must be > 0")
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    args.rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    suffix = ("-optimiser" if args.optimiser_study else "") + ("-quick" if args.quick else "")
    args.work = args.work or os.environ.get("SKELSSL_BENCH_WORK", f"runs/bench-nwucla-crrl{suffix}")
    args.out = args.out or (
        Path(args.work) / "results" if args.quick else REPO / "benchmarks" / "results"
    )
    return args


def rewrite(out: Path) -> None:
    """Tables and ``summary_rows`` again from the per-seed runs of ``out``'s results JSON."""
    payload = json.loads((out / RESULTS).read_text())
    for row in payload["rows"].values():  # JSON keys are strings; seeds are ints
        row["per_seed"] = {int(seed): run for seed, run in row["per_seed"].items()}
        row.update(aggregate(row["per_seed"]))
    payload["summary_rows"] = summary_rows(payload)
    write_benchmark(payload, out)


def main() -> None:
    args = parse_args()
    if args.rewrite:
        rewrite(args.out)
        print((args.out / "nwucla_crrl.md").read_text())
        return
    if not args.root.exists():
        raise SystemExit(
            f"NW-UCLA not found at {args.root}: pass --root (see ../shared/datasets/README.md)"
        )
    options = [f"--seeds {','.join(map(str, args.seeds))}", f"--epoch-scale {args.epoch_scale}"]
    options += ["--optimiser-study"] if args.optimiser_study else [f"--rows {args.rows}"]
    options += ["--quick"] if args.quick else []
    command = "python benchmarks/nwucla_crrl.py " + " ".join(options + list(args.overrides))
    config = phase_config("crrl-cml.yaml", [f"data.root={args.root}"], args)
    payload = {"machine": machine("cuda" if torch.cuda.is_available() else "cpu"), "command": command, "seeds": args.seeds,
               "epoch_scale": args.epoch_scale, "overrides": list(args.overrides),
               "encoder": encoder_label(config.encoder), "frames": config.data.preprocess.frames,
               "preprocess": to_dict(config.data.preprocess), "summary_rows": []}  # fmt: skip
    if args.optimiser_study:
        run_study(args, payload)
        print((args.out / "nwucla_crrl_optimiser.md").read_text())
    else:
        payload.update(rows={}, planned_epochs={}, complexity=complexity())
        run_benchmark(args, payload)
        print((args.out / "nwucla_crrl.md").read_text())
    print(f"REPRODUCE.md: {command}")


if __name__ == "__main__":
    main()
