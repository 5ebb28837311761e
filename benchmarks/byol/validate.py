"""Skeleton BYOL's causes settled on a validation split of NW-UCLA's training views.

Pre-train on view 1 only (516 sequences, no labels), fit the linear probe on view 1's
labels and measure on view 2 (504 sequences); view 3 (the test view) is never read.
Each variant is a list of ``key=value`` overrides of ``configs/nwucla/byol.yaml`` (plus
``--base`` overrides shared by all), run for the same number of epochs with the same
seeds, so differences are *paired* by seed. Beside them: the untrained encoder of the
same shape with BN statistics estimated on view 1 (``random``, like for like) and as
initialised (``random-bn-init``). Each run's last collapse diagnostics (logged every
``train.log_every`` steps) are kept.

Multi-viewpoint sampling has nothing to pair on view 1 alone (one camera), so these
runs use ``params.multi_view=false``: they test the loss, the BN and the optimiser, not
the sampling. ``--split subject`` tests the sampling: pre-train and fit on views 1+2 of
the subjects not in ``--held-out-subjects`` (each performance keeps both cameras), measure
on views 1+2 of the held-out subjects (new people, not a new camera), or with ``--readout
cross-view`` fit on view 1 of the others and measure on view 2 of the held-out ones; the
variants keep the config's ``params.multi_view`` unless they set it.

    python benchmarks/byol/validate.py --seeds 0 1 2 --epochs 30 \\
        --variants plain momentum momentum-online
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.byol.table import machine_line, three_digits
from benchmarks.common import (
    NWUCLA_ROOT,
    REPO,
    machine,
    mean_std_text,
    paired_differences,
    pretrain_reusing,
    write_held_out_subjects,
    write_json,
    write_view1_view2,
)
from skelssl.config import load_config
from skelssl.data.cache import load_dataset
from skelssl.data.readers.arrays import read_npz
from skelssl.data.sampling import performance_groups
from skelssl.data.types import DataSpec
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.methods import build_method
from skelssl.report import markdown_table
from skelssl.runs import load_run, pretrain
from skelssl.train import set_seed
from skelssl.train_config import TrainConfig

DEFAULT_ROOT = NWUCLA_ROOT
RESULTS = REPO / "benchmarks" / "byol" / "results"
DIAGNOSTICS = (
    "loss_true_partner", "loss_shuffled_partner", "target_cosine",
    "effective_rank", "effective_rank_target",
)  # fmt: skip

CAMERA = "{vary: [beta], shear_magnitude: 0.5, crop_min_ratio: 0.6}"
# the two optimisers, spelled out so that a variant means the same whatever byol.yaml says:
# the paper's SGD (Sec. 4.2; byol.yaml's before LARS won here) and SimCLR's LARS
# (configs/nwucla/simclr.yaml; BYOL, Grill et al. Sec. 3.3, also trains with LARS)
SGD = ["train.optimizer=sgd", "train.lr=0.1", "train.lr_scaling=none", "train.weight_decay=1.0e-4"]
LARS = ["train.optimizer=lars", "train.lr=1.0", "train.lr_scaling=linear",
        "train.lars_eta=0.02", "train.weight_decay=1.0e-6"]  # fmt: skip
CAMERA_VIEWS = ["params.views=virtual-camera", f"params.camera={CAMERA}"]
CONFIGS = {"byol": "configs/nwucla/byol.yaml", "simclr": "configs/nwucla/simclr.yaml"}
# per split (and the subject split read out across cameras): title, fit part, measured part
SPLITS = {
    "view": ("view 1 -> view 2", "view 1", "view 2"),
    "subject": ("views 1+2, held-out subjects", "views 1+2 of the other subjects",
                "views 1+2 of the held-out subjects"),
    "subject-cross-view": ("views 1+2 pre-training, held-out subjects, view 1 -> view 2",
                           "views 1+2 of the other subjects (the readout: their view 1)",
                           "view 2 of the held-out subjects"),
}  # fmt: skip
SUMMARY_COLUMNS = ("encoder_change", "target_cosine", "loss_true_partner", "loss_shuffled_partner")
VARIANTS = {
    "plain": ["params.bn_mode=plain", *SGD],
    "momentum": ["params.bn_mode=momentum", *SGD],
    "momentum-online": ["params.bn_mode=momentum-online", *SGD],
    "predictor-lr-x10": ["params.bn_mode=plain", "params.predictor_lr_scale=10", *SGD],
    "shear-0.5": ["params.bn_mode=plain", "params.shear_magnitude=0.5", *SGD],
    # the factorial {BYOL loss, NT-Xent} x {Skeleton BYOL's views, SimCLR's virtual camera}:
    # each recipe keeps its own optimiser; the camera settings are configs/nwucla/simclr.yaml's
    "byol-camera": ["params.bn_mode=plain", *CAMERA_VIEWS, *SGD],
    "lars": ["params.bn_mode=plain", *LARS],
    "byol-camera-lars": ["params.bn_mode=plain", *CAMERA_VIEWS, *LARS],
    "sgd-lr1": ["params.bn_mode=plain", *SGD, "train.lr=1.0"],
    "simclr": ["method=simclr"],
    "simclr-byol-views": ["method=simclr", "params.views=skeleton-byol"],
    # the sampling (--split subject): byol.yaml as it is (multi-viewpoint sampling, one item
    # per performance) against one item per sequence, two augmentations of one camera;
    # `single-view-steps` matches the multi-view run's optimiser steps, warm-up included
    # (`matched_epochs`: on subjects 1-7, 381 performances / 723 sequences at batch 128, 2 and
    # 5 steps an epoch with drop_last, so 2/5 of the epochs)
    "multi-view": [],
    "single-view": ["params.multi_view=false"],
    "single-view-steps": ["params.multi_view=false"],
    "multi-view-shear-0.5": ["params.shear_magnitude=0.5"],  # the paper's [-1, 1] halved
    "multi-view-aggressive": ["params.pipelines=aggressive"],  # T1 on both views (Table 2)
    # the settings the paper fixes and byol.yaml keeps, one at a time: λ₀ as BYOL's
    # reference (Grill et al. Sec. 3.3: 0.996; the paper Sec. 4.2: 0.99), the paper's weight
    # decay 1e-4 (Sec. 4.2, for SGD) under byol.yaml's LARS (1e-6), the predictor's lr x10
    # (DirectPred / SimSiam; `predictor-lr-x10` above on view 1 -> view 2)
    "multi-view-lambda-0.996": ["params.base_target_momentum=0.996"],
    "multi-view-wd-1e-4": ["train.weight_decay=1.0e-4"],
    "multi-view-predictor-lr-x10": ["params.predictor_lr_scale=10"],
    # which parameters weight decay excludes: byol.yaml's LARS leaves biases and norm
    # parameters (ndim <= 1) without weight decay and trust ratio (BYOL's reference, Grill
    # et al. Sec. 3.3; the paper does not say); here LARS adapts and decays every parameter
    "multi-view-decay-all": ["train.exclude_bias_and_norm=false"],
    # the paper's input (Sec. 4.2): 150 frames, shorter sequences repeated, not resampled
    "multi-view-frames-150": ["data.preprocess.frames=150", "data.preprocess.temporal=repeat"],
    "random": ["method=random", "params.bn_statistics=train"],
    "random-bn-init": ["method=random", "params.bn_statistics=init"],
    "random-frames-150": [
        "method=random",
        "params.bn_statistics=train",
        "data.preprocess.frames=150",
        "data.preprocess.temporal=repeat",
    ],
}


def variant_input(args, name: str) -> tuple[int, str]:
    """(frames, temporal) of a variant's input: ``--frames`` resampled (byol.yaml's
    ``temporal``), unless the variant sets its own ``data.preprocess.*``."""
    given = dict(o.split("=", 1) for o in VARIANTS[name] if o.startswith("data.preprocess."))
    frames = int(given.get("data.preprocess.frames", args.frames))
    return frames, given.get("data.preprocess.temporal", "resample")


def input_file(args, frames: int, temporal: str) -> Path:
    """Where the validation file of an input lives: ``args.npz`` for ``--frames``
    resampled, another input beside it with its frames and sampling in the name."""
    if (frames, temporal) == (args.frames, "resample"):
        return args.npz
    return args.npz.with_name(f"{args.npz.stem}_{frames}_{temporal}.npz")


def validation_file(args, frames: int, temporal: str) -> Path:
    """NW-UCLA views 1+2, prepared as configs/nwucla/byol.yaml does at ``frames`` frames
    with ``temporal`` sampling, split ``given`` = view 1 (train) / view 2 (validation), or
    with ``--split subject`` = the other subjects / ``args.held_out_subjects``, written once
    to :func:`input_file`."""
    npz = input_file(args, frames, temporal)
    if npz.exists():
        return npz
    overrides = [
        f"data.root={args.root}", f"data.preprocess.frames={frames}",
        f"data.preprocess.temporal={temporal}",
    ]  # fmt: skip
    config = load_config("byol", REPO / "configs/nwucla/byol.yaml", overrides)
    train, _ = load_dataset(config.data, quiet=True).split("xview")
    if args.split == "subject":
        return write_held_out_subjects(train, npz, args.held_out_subjects)
    return write_view1_view2(train, npz)


def matched_epochs(npz: Path, train: TrainConfig) -> TrainConfig:
    """``train`` (a TrainConfig) with the epochs (and warm-up epochs) that give one item per
    sequence the optimiser steps that ``train`` gives one item per performance on the
    training part of ``npz``: scaled by (performances // batch) / (sequences // batch),
    drop_last; performances counted as multi-viewpoint sampling counts its items."""
    training, _ = read_npz(npz).split("given")
    performances, sequences = len(performance_groups(training)), len(training)
    if sequences < train.batch_size:
        raise SystemExit(f"{npz}: {sequences} training sequences, fewer than a batch")
    ratio = (performances // train.batch_size) / (sequences // train.batch_size)
    return dataclasses.replace(
        train, epochs=round(train.epochs * ratio), warmup_epochs=train.warmup_epochs * ratio
    )


def variant_method(name: str) -> str:
    """``random``, ``simclr`` or ``byol``: the method a variant runs."""
    if name.startswith("random"):
        return "random"
    return "simclr" if "method=simclr" in VARIANTS[name] else "byol"


def run_config(args, name: str, seed: int):
    """The config of one (variant, seed): the NW-UCLA BYOL (or SimCLR) config on the
    validation file; ``--base`` ``params.*`` overrides apply to the BYOL variants only."""
    method = variant_method(name)
    overrides = [o for o in VARIANTS[name] if not o.startswith(("method=", "data."))]
    overrides = [] if method == "random" else overrides
    frames, temporal = variant_input(args, name)
    npz = input_file(args, frames, temporal)
    data = [
        f"data.name={npz}", "data.split=given", "data.preprocess.view_normalize=false",
        f"data.preprocess.frames={frames}", f"data.preprocess.temporal={temporal}",
        f"train.seed={seed}", f"train.epochs={args.epochs}", "train.log_every=5",
    ]  # fmt: skip
    base = [o for o in args.base if method == "byol" or not o.startswith("params.")]
    if method == "byol" and args.split == "view":
        base = ["params.multi_view=false", *base]
    file = REPO / CONFIGS["simclr" if method == "simclr" else "byol"]
    config = load_config(None, file, [*data, *base, *overrides])
    if name == "single-view-steps":
        config = dataclasses.replace(config, train=matched_epochs(npz, config.train))
    if method == "random":
        params = dict(o.split("=", 1) for o in VARIANTS[name][1:])
        config = dataclasses.replace(config, method="random", params=_random_params(params))
    return config


def _random_params(params: dict):
    from skelssl.methods.supervised import RandomInitConfig

    return RandomInitConfig(bn_statistics=params["params.bn_statistics"])


def last_diagnostics(run_dir: Path) -> dict:
    """The collapse diagnostics of the last epoch (its ``metrics.jsonl`` epoch line: the mean
    over that epoch's logged steps); empty when none."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return {}
    last = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "loss_shuffled_partner" in record:
            last = record
    return {k: round(last[k], 4) for k in ("step", *DIAGNOSTICS) if k in last}


def encoder_change(run, seed: int) -> float:
    """‖θ_end − θ_0‖ / ‖θ_0‖ over the encoder's parameters: how far training moved the
    encoder from its initialisation (rebuilt from the seed, as :func:`pretrain` does)."""
    set_seed(seed)
    spec = DataSpec.of(run.data)
    initial = build_method(run.config.method, run.config.params, run.config.encoder, spec)
    start = dict(initial.encoder.named_parameters())
    end = dict(run.encoder.named_parameters())
    with torch.no_grad():
        moved = sum(float((end[k] - start[k]).square().sum()) for k in start)
        size = sum(float(start[k].square().sum()) for k in start)
    return math.sqrt(moved / size)


def pretrain_one(args, name: str, seed: int) -> tuple[Path, dict]:
    """Pre-train one (variant, seed) in ``--work``: (run folder, summary). With ``--reuse``
    a finished run of the same config is kept and an unfinished one resumes from its
    ``last.pt``; otherwise the folder is trained afresh."""
    run_dir = Path(args.work) / f"{name}-s{seed}"
    config = run_config(args, name, seed)
    return run_dir, pretrain_reusing(config, run_dir, args.reuse, pretrain)[0]


def readout_parts(data, readout: str):
    """(fit, measured) parts of the ``given`` split; ``cross-view`` keeps view 1 of the
    fit part and view 2 of the measured one (on the subject split: a new camera *and* new
    people, though pre-training saw view 2 of the other subjects)."""
    train, validation = data.split("given")
    if readout == "cross-view":
        train = train.subset(np.flatnonzero(np.asarray(train.views) == 1))
        validation = validation.subset(np.flatnonzero(np.asarray(validation.views) == 2))
    return train, validation


def run_one(args, name: str, seed: int) -> dict:
    run_dir, summary = pretrain_one(args, name, seed)
    minutes = summary["seconds"] / 60  # training time, over every resumed part
    run = load_run(run_dir, quiet=True)
    train, validation = readout_parts(run.data, args.readout)
    probe = linear_probe(run.encoder, train, validation, run.config.evaluation, quiet=True)
    nearest = knn(run.encoder, train, validation, run.config.evaluation, quiet=True)
    return {
        "variant": name, "seed": seed, "epochs": summary.get("epochs"),
        "minutes": round(minutes, 2), "probe_top1": round(probe["top1"], 2),
        "knn_top1": round(nearest["top1"], 2),
        "encoder_change": round(encoder_change(run, seed), 4), **last_diagnostics(run_dir),
    }  # fmt: skip


def summarise(rows: list[dict], reference: str) -> list[dict]:
    """Mean ± std per variant, and the mean ± std of its paired difference to ``reference``
    (sample std, ddof 1, as every benchmark)."""
    by_variant: dict[str, dict[int, dict]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], {})[row["seed"]] = row
    summary = []
    for name, seeds in by_variant.items():
        entry = {"variant": name, "seeds": sorted(seeds)}
        for key in ("probe_top1", "knn_top1"):
            ours = {s: row[key] for s, row in seeds.items()}
            entry[key] = mean_std_text(ours.values())
            theirs = {s: row[key] for s, row in by_variant.get(reference, {}).items()}
            paired = paired_differences(ours, theirs)
            if paired and name != reference:
                entry[f"{key}_minus_{reference}"] = mean_std_text(paired, signed=True)
        for key in SUMMARY_COLUMNS:
            values = [seeds[s][key] for s in seeds if key in seeds[s]]
            if values:
                entry[key] = f"{np.mean(values):.3f}"  # 3 digits: the table rounds floats
        summary.append(entry)
    return summary


def resummarise(path: Path) -> None:
    """Rewrite ``path`` (a results JSON) and its Markdown with the summary of its rows."""
    payload = json.loads(path.read_text())
    payload["summary"] = summarise(payload["rows"], payload["reference"])
    write(payload, path.parent, path.stem)


def write(payload: dict, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{stem}.json", payload)
    reference = payload["reference"]
    columns = ["variant", "seeds", "probe_top1", f"probe_top1_minus_{reference}", "knn_top1",
               f"knn_top1_minus_{reference}", *SUMMARY_COLUMNS]  # fmt: skip
    split = payload.get("split", "view")
    if payload.get("readout") == "cross-view":
        split = "subject-cross-view"
    title, fitted, measured = SPLITS[split]
    text = [
        f"# Skeleton BYOL on a validation split (NW-UCLA {title})\n",
        f"Command: `{payload['command']}`. Machine: {machine_line(payload['machine'])}.\n",
        f"Pre-training on {fitted} without labels, probe (Adam, standardised "
        f"features) and kNN (k=1, cosine) fitted there, measured on {measured}; "
        "final epoch; mean ± sample std (ddof 1) "
        f"over seeds; differences paired by seed against `{reference}`. Diagnostics: the "
        "last epoch, mean over its logged steps (true-partner loss per term vs shuffled "
        "partners; targets' mean cosine between samples); `encoder_change` = ‖θ_end − θ_0‖ / "
        "‖θ_0‖ of the encoder's parameters.\n",
        markdown_table(payload["summary"], columns),
        "\n## Runs\n",
        markdown_table(
            three_digits(payload["rows"]),
            [
                "variant",
                "seed",
                "epochs",
                "minutes",
                "probe_top1",
                "knn_top1",
                "encoder_change",
                *DIAGNOSTICS,
            ],  # fmt: skip
        ),  # fmt: skip
    ]
    (out / f"{stem}.md").write_text("\n".join(text) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument(
        "--npz",
        type=Path,
        default=None,
        help="default /tmp/nwucla_byol_val_[subjects_<held-out>_]<frames>.npz",
    )
    parser.add_argument("--frames", type=int, default=32, help="frames per sequence")
    parser.add_argument(
        "--split", choices=["view", "subject"], default="view",
        help="view: view 1 -> view 2; subject: views 1+2, --held-out-subjects measured",
    )  # fmt: skip
    parser.add_argument("--held-out-subjects", nargs="+", type=int, default=[8, 9, 10])
    parser.add_argument(
        "--readout", choices=["same", "cross-view"], default="same",
        help="cross-view (with --split subject): probe and kNN fitted on view 1 of the "
        "training subjects, measured on view 2 of the held-out ones",
    )  # fmt: skip
    parser.add_argument("--variants", nargs="+", default=["plain", "momentum", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--base", nargs="*", default=[], help="overrides for every variant")
    parser.add_argument("--reference", default="plain")
    parser.add_argument("--stem", default="nwucla_byol_validation")
    parser.add_argument("--work", default=str(REPO / "runs" / "bench-byol-validation"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--reuse", action="store_true",
        help="keep finished runs of the same config in --work; resume unfinished ones",
    )  # fmt: skip
    parser.add_argument(
        "--resummarise", nargs="+", type=Path, metavar="JSON",
        help="only rewrite these results files' summaries and Markdown from their stored rows",
    )  # fmt: skip
    args = parser.parse_args()
    if args.resummarise:
        for path in args.resummarise:
            resummarise(path)
        return
    if args.readout == "cross-view" and args.split != "subject":
        parser.error("--readout cross-view needs --split subject")
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown} (known: {', '.join(VARIANTS)})")
    subjects = "_".join(map(str, args.held_out_subjects))
    suffix = f"subjects_{subjects}_" if args.split == "subject" else ""
    args.npz = args.npz or Path(f"/tmp/nwucla_byol_val_{suffix}{args.frames}.npz")
    for name in args.variants:
        validation_file(args, *variant_input(args, name))
    payload = {
        "command": "python benchmarks/byol/validate.py "
        f"--seeds {' '.join(map(str, args.seeds))} --epochs {args.epochs} "
        f"--variants {' '.join(args.variants)}"
        + (f" --frames {args.frames}" if args.frames != 32 else "")
        + (f" --split subject --held-out-subjects {subjects.replace('_', ' ')}"
           if args.split == "subject" else "")  # fmt: skip
        + (" --readout cross-view" if args.readout == "cross-view" else "")
        + (f" --base {' '.join(args.base)}" if args.base else "")
        + (f" --reference {args.reference}" if args.reference != "plain" else "")
        + (f" --stem {args.stem}" if args.stem != "nwucla_byol_validation" else "")
        + (f" --work {args.work} --reuse" if args.reuse else ""),
        "machine": machine(), "reference": args.reference, "split": args.split,
        "readout": args.readout,
        "held_out_subjects": args.held_out_subjects if args.split == "subject" else None,
        "variants": {
            name: VARIANTS[name] for name in args.variants}, "base": args.base, "rows": [],
    }  # fmt: skip
    for seed in args.seeds:  # seed-major: an interrupted run still has complete pairs
        for name in args.variants:
            payload["rows"].append(run_one(args, name, seed))
            print(json.dumps(payload["rows"][-1]), flush=True)
            payload["summary"] = summarise(payload["rows"], args.reference)
            write(payload, args.out, args.stem)


if __name__ == "__main__":
    main()
