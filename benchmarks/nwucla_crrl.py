"""CRRL on NW-UCLA cross-view (train views 1+2, labels unused; test view 3).

Rows (Wang et al., IEEE TIP 2022, Tables VIII and XIII): Rand-Enc (the untrained
gru-crrl encoder), CML (step 1), SER, CRRL (step 2: SER taught by the frozen CML query
encoder) and the fusion variants CML-SER-joint, CML-pretrain-SER, SER-pretrain-CML,
SER-distill-CML (``--rows all`` adds SER forward/reverse only, VG and VGSR). Each row:
linear probe and kNN (k=1, cosine) on frozen features of view 3, final-epoch numbers,
nothing selected on view 3. Pre-training shares ``--budget-minutes`` in proportion to the
paper's epochs (100 per step-1 phase, 60 per step-2 phase); a phase stops after the first
epoch past its share.

Also written: parameter and FLOP counts of CML, SER and CRRL (Table XI's measure: one
60-frame, two-body, 25-joint sequence; ``torch.utils.flop_counter.FlopCounterMode``,
matrix multiplications, 1 multiply-add = 2 FLOPs), and confusion matrices and t-SNE
plots of the CML, SER and CRRL features on view 3 (Figs. 6, 8).

    python benchmarks/nwucla_crrl.py --budget-minutes 60          # full: benchmarks/results/
    python benchmarks/nwucla_crrl.py --quick   # smoke test: Rand-Enc, CML, SER, CRRL, 1 epoch
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from common import machine, write_json
from skelssl.config import load_config, to_dict
from skelssl.data.cache import load_dataset
from skelssl.data.types import DataSpec
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.evaluation.metrics import confusion_matrix
from skelssl.methods import build_method
from skelssl.models import build_encoder, encoder_preset
from skelssl.report import markdown_table, plot_confusion_matrix, plot_tsne
from skelssl.runs import load_run, pretrain

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "datasets" / "nw-ucla" / "all_sqe"
CONFIGS = REPO / "configs" / "nwucla"
# row -> (variant, config file, teacher row or None); in training order (teachers first)
ROWS = {
    "cml": ("cml", "crrl-cml.yaml", None),
    "ser": ("ser", "crrl-ser.yaml", None),
    "crrl": ("crrl", "crrl.yaml", "cml"),
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
PAPER = {  # NW-UCLA figures of the paper (linear; kNN where reported)
    "random": {"linear": 50.5},
    "cml": {"linear": 72.8},
    "ser": {"linear": 81.4},
    "crrl": {"linear": 83.8, "knn": 86.4},
}
QUICK = [  # smoke test: a narrow encoder, one epoch, a short linear probe
    "encoder.hidden_size=16",
    "train.epochs=1",
    "evaluation.linear_epochs=5",
]


def phase_epochs(row: str) -> int:
    return 60 if ROWS[row][1] == "crrl.yaml" else 100


def row_config(row: str, args, budget_seconds: float, run_dirs: dict[str, Path]):
    variant, file, teacher = ROWS[row]
    overrides = [f"data.root={args.root}", f"params.variant={variant}",
                 f"train.time_budget={budget_seconds}"]  # fmt: skip
    if teacher is not None:
        overrides.append(f"params.teacher={run_dirs[teacher]}")
    if args.quick:
        overrides += QUICK
    return load_config("crrl", CONFIGS / file, [*overrides, *args.overrides])


def random_encoder(args):
    """Rand-Enc: the untrained gru-crrl encoder (seed 0) and the prepared dataset."""
    config = load_config("crrl", CONFIGS / "crrl-cml.yaml", [f"data.root={args.root}",
                         *(QUICK if args.quick else []), *args.overrides])  # fmt: skip
    data = load_dataset(config.data, quiet=True)
    torch.manual_seed(0)
    encoder = build_encoder(config.encoder, DataSpec.of(data))
    return encoder, data, config


def evaluate_encoder(row: str, encoder, data, config, out: Path) -> dict:
    """Linear probe + kNN on view 3; PNGs for the plotted rows."""
    train, test = data.split(config.data.split or "xview")
    linear = linear_probe(
        encoder, train, test, config.evaluation, quiet=True, return_predictions=True
    )
    nearest = knn(encoder, train, test, config.evaluation, quiet=True)
    result = {
        "linear_top1": linear["top1"],
        "knn_top1": nearest["top1"],
        "knn": f"k={nearest['k']} {nearest['metric']}",
        "n_train": linear["n_train"],
        "n_test": linear["n_test"],
    }
    if row in PLOTTED:
        figures = out / "nwucla_crrl"
        matrix = confusion_matrix(test.labels, linear["predictions"], test.num_classes)
        plot_confusion_matrix(matrix, test.class_names, figures / f"confusion_{row}.png",
                              title=f"{row.upper()} linear probe, NW-UCLA view 3")  # fmt: skip
        features = extract_features(encoder, test, batch_size=config.evaluation.batch_size)
        plot_tsne(features, test.labels, test.class_names, figures / f"tsne_{row}.png",
                  title=f"{row.upper()} features, NW-UCLA view 3")  # fmt: skip
    return result


def train_row(row: str, args, budget_seconds: float, run_dirs: dict[str, Path]) -> tuple:
    run_dir = Path(args.work) / row
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = row_config(row, args, budget_seconds, run_dirs)
    started = time.time()
    summary = pretrain(config, run_dir, quiet=args.quiet)
    minutes = (time.time() - started) / 60
    run_dirs[row] = run_dir
    run = load_run(run_dir, quiet=True)
    info = {"epochs": summary.get("epochs"), "pretrain_minutes": round(minutes, 1),
            "variant": config.params.variant, "teacher": ROWS[row][2]}  # fmt: skip
    return run.encoder, run.data, run.config, info


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


# ---------------------------------------------------------------- output


def write_results(payload: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "nwucla_crrl.json", payload)
    rows = [{"row": name, **row, "paper_linear": PAPER.get(name, {}).get("linear"),
             "paper_knn": PAPER.get(name, {}).get("knn")} for name, row in payload["rows"].items()]  # fmt: skip
    table = markdown_table(
        rows,
        ["row", "variant", "teacher", "epochs", "pretrain_minutes", "linear_top1", "knn_top1", "paper_linear", "paper_knn"],
        ["row", "variant", "teacher run", "epochs", "pre-train min", "linear %", "kNN % (k=1, cosine)", "paper linear %", "paper kNN %"],
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
        f"Budget: {payload['budget_minutes']} min of pre-training in all. Machine: {payload['machine']}.",
        f"Command: `{payload['command']}`",
        "",
        table,
        "",
        "Epochs reached of the paper's (100 per step-1 phase, 60 per step 2): "
        + ", ".join(
            f"{name} {row['epochs']}/{phase_epochs(name)}"
            for name, row in payload["rows"].items()
            if name in ROWS
        )
        + ". Overrides of the configs for every row: "
        + (" ".join(payload.get("overrides", [])) or "none")
        + " (the FLOP table is of the paper's 2×256 model).",
        "",
        "## Parameters and FLOPs (Table XI measure: 60 frames, 2 bodies, 25 joints)",
        "",
        "FlopCounterMode counts matrix multiplications (2 FLOPs per multiply-add) of one "
        "sequence; pre-training forward = one `loss` call (both reconstructions, the key "
        "encoder, the teacher).",
        "",
        flops_table,
        "",
        "Figures: "
        + ", ".join(f"nwucla_crrl/confusion_{r}.png, nwucla_crrl/tsne_{r}.png" for r in PLOTTED),
    ]
    (out / "nwucla_crrl.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument(
        "--rows",
        default=None,
        help=f"comma list or all (default: {DEFAULT_ROWS}; --quick: {QUICK_ROWS})",
    )
    parser.add_argument(
        "--budget-minutes", type=float, default=60.0, help="pre-training, all rows together"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny encoder, 1 epoch")
    parser.add_argument(
        "--work", default=None, help="run directories (default runs/bench-nwucla-crrl[-quick])"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="results (default benchmarks/results)"
    )
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every row")
    args = parser.parse_args()
    if not args.root.exists():
        raise SystemExit(
            f"NW-UCLA not found at {args.root}: pass --root (see ../shared/datasets/README.md)"
        )
    args.rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    suffix = "-quick" if args.quick else ""
    args.work = args.work or os.environ.get("SKELSSL_BENCH_WORK", f"runs/bench-nwucla-crrl{suffix}")
    args.out = args.out or (
        Path(args.work) / "results" if args.quick else REPO / "benchmarks" / "results"
    )
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
    order = [row for row in ROWS if row in needed]
    total_epochs = sum(phase_epochs(row) for row in order) or 1
    command = "python benchmarks/nwucla_crrl.py " + " ".join(
        [f"--rows {args.rows}", f"--budget-minutes {args.budget_minutes}"]
        + (["--quick"] if args.quick else [])
        + list(args.overrides)
    )
    payload = {"machine": machine("cuda" if torch.cuda.is_available() else "cpu"),
               "budget_minutes": args.budget_minutes, "command": command, "rows": {},
               "overrides": list(args.overrides),
               "complexity": complexity()}  # fmt: skip
    if "random" in requested:
        encoder, data, config = random_encoder(args)
        payload["rows"]["random"] = {"variant": "rand-enc", "epochs": 0,
                                     **evaluate_encoder("random", encoder, data, config, args.out)}  # fmt: skip
        print(json.dumps({"random": payload["rows"]["random"]}), flush=True)
    run_dirs: dict[str, Path] = {}
    for row in order:
        budget = args.budget_minutes * 60 * phase_epochs(row) / total_epochs
        encoder, data, config, info = train_row(row, args, budget, run_dirs)
        if row in requested:
            payload["rows"][row] = {
                **info,
                **evaluate_encoder(row, encoder, data, config, args.out),
            }
            print(json.dumps({row: payload["rows"][row]}), flush=True)
            write_results(payload, args.out)
    write_results(payload, args.out)
    print((args.out / "nwucla_crrl.md").read_text())
    print(f"REPRODUCE.md: {command}")


if __name__ == "__main__":
    main()
