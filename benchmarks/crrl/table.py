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

``--fusion-study`` (same split, the configs' preparation): why step 2 adds nothing over SER,
by arms of the fusion step (``FUSION_ARMS``: the authors' teacher dropout, the paper's SGD
for SER and step 2, a stronger distillation weight; and the decoder of SER and of step 2 as
the paper's text or the authors' code has it), each paired by seed against its ``FUSION_BASELINES``;
``--reuse --work`` of the preparation study reuses its SER, CML and step-2 runs. It writes
``nwucla_crrl_fusion_validation.{json,md}`` (or ``--stem``).

Also written: parameter and FLOP counts of CML, SER and CRRL (Table XI's measure: one
60-frame, two-body, 25-joint sequence; ``torch.utils.flop_counter.FlopCounterMode``,
matrix multiplications, 1 multiply-add = 2 FLOPs), confusion matrices and t-SNE plots of
the CML, SER and CRRL features on view 3 (Figs. 6, 8; first seed), and ``summary_rows``.
Two further tables: every row minus SER, paired by seed (Table VIII's question), and the
CRRL authors' linear evaluation with its final and its best test epoch, a diagnosis that
reads view 3 after every epoch to measure the paper's selection (never used to choose).

    python benchmarks/crrl/table.py                              # paper scale (GPU)
    python benchmarks/crrl/table.py --epoch-scale 0.4 encoder.hidden_size=128   # CPU
    python benchmarks/crrl/table.py --optimiser-study --epoch-scale 0.3 encoder.hidden_size=64
    python benchmarks/crrl/table.py --quick   # smoke test: Rand-Enc, CML, SER, CRRL, 1 epoch
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import NWUCLA_ROOT as DEFAULT_ROOT
from benchmarks.common import (
    REPO,
    encoder_label,
    finished_with,
    load_average,
    machine,
    mean_std,
    paired_differences,
    pretrain_reusing,
    require_nwucla,
    summary_row,
    write_json,
    write_markdown,
    write_view1_view2,
)
from skelssl.config import load_config, to_dict
from skelssl.data.cache import load_dataset
from skelssl.data.preprocess import body_presence, minmax_normalize
from skelssl.data.types import DataSpec
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.generic import (
    knn_on_features,
    linear_probe_on_features,
    linear_test_curve_diagnostic,
    standardisation,
)
from skelssl.evaluation.metrics import confusion_matrix
from skelssl.methods import build_method
from skelssl.methods.crrl import VARIANTS, Recipe
from skelssl.models import build_encoder, encoder_preset
from skelssl.report import markdown_table, plot_confusion_matrix, plot_tsne
from skelssl.runs import load_run, pretrain
from skelssl.train import set_seed

CONFIGS = REPO / "configs" / "nwucla"
STEM = "nwucla_crrl"  # results files <stem>.{md,json}; only this stem draws the figures
STUDY_RESULTS = "nwucla_crrl_optimiser.json"
PREPARATION_STEM = "nwucla_crrl_preparation"
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
# The arms of the preparation study (``--preparation-study``), each on top of the configs
# (at most 50 frames, centred). "paper": Sec. IV-B for NW-UCLA, per-sequence min-max of each
# axis to [-1, 1], each person separately, no view normalisation (the configs' preparation).
# "view-norm": the view-normalising rotation Sec. IV-B gives for NTU and PKU-MMD only
# (X along the shoulders, Y along the spine), no min-max. "view-norm+minmax": both, in the
# order Sec. IV-B applies them to NTU.
PREPARATIONS = {
    "paper": ["data.preprocess.view_normalize=false", "data.preprocess.minmax=true"],
    "view-norm": ["data.preprocess.view_normalize=true", "data.preprocess.minmax=false"],
    "view-norm+minmax": ["data.preprocess.view_normalize=true", "data.preprocess.minmax=true"],
    "minmax-coordinate": ["data.preprocess.view_normalize=false", "data.preprocess.minmax=false"],
    "pc": ["data.preprocess.view_normalize=true", "data.preprocess.minmax=true",
           "data.preprocess.view_axis=hips", "data.preprocess.temporal=at-most-stride"],
    "pc-hips": ["data.preprocess.view_normalize=true", "data.preprocess.minmax=true",
                "data.preprocess.view_axis=hips"],
    "pc-stride": ["data.preprocess.view_normalize=true", "data.preprocess.minmax=true",
                  "data.preprocess.temporal=at-most-stride"],
}  # fmt: skip
# "pc": the NW-UCLA preparation of Predict & Cluster's released notebook (Su et al., CVPR
# 2020; github.com/shlizee/Predict-Cluster, ucla_demo.ipynb), the closest public pipeline to
# CRRL's text (at most 50 frames, per-sequence min-max of each axis to [-1, 1]): its clips
# come view-transformed ("new_xyz_transform_skel_*.json"; its NTU notebook rotates the first
# frame's spine onto an axis and the hips orthogonal to it), and a clip longer than 50
# frames keeps every floor(t / 50)-th frame from the first, the first 50 of them (its tail is
# cut). "pc-hips" / "pc-stride": each of its two steps alone. Run only when named in
# --preparation-arms (not among the study's default arms).
# "minmax-coordinate": the other reading of Sec. IV-B's "each dimension ... normalized
# individually": min and max of every joint's every axis over the frames (each person
# separately), not of every axis over all joints. Not a config option (it is not the
# configs' reading); the benchmark writes it into that arm's validation split.
PER_COORDINATE = "minmax-coordinate"
# arms that run SER only (CML + step 2 cost twice SER); the others run all three phases
PREPARATION_SER_ONLY = (PER_COORDINATE,)
PREPARATION_DEFAULT_ARMS = ("paper", "view-norm", "view-norm+minmax", "minmax-coordinate")
PREPARATION_PHASES = ("ser", "cml", "crrl")  # the study's default; "random" may be added
PREPARATION_PHASE_CHOICES = ("random", *PREPARATION_PHASES)
# The arms of the fusion study (``--fusion-study``): SER and step 2 on the validation split
# of the configs' preparation ("view-norm+minmax"), arm -> (variant, overrides on the
# configs); each step-2 arm names its teacher's mode, so the arms do not follow the configs.
# Step 2 is always taught by that split's CML run of the same seed (the configs, Adam). What
# each arm is: FUSION_ARM_TEXT, which its results file prints.
CONFIGS_PREPARATION = "view-norm+minmax"
TEACHER_EVAL = ["params.teacher_dropout=false"]
FUSION_ARMS = {
    "ser": ("ser", []),
    "crrl-teacher-eval": ("crrl", TEACHER_EVAL),
    "crrl-teacher-dropout": ("crrl", ["params.teacher_dropout=true"]),
    "ser-sgd": ("ser", OPTIMISERS["sgd"]["ser"]),
    "crrl-sgd": ("crrl", [*OPTIMISERS["sgd"]["ser"], *TEACHER_EVAL]),
    "crrl-distill-1": ("crrl", ["params.distill_weight=1.0", *TEACHER_EVAL]),
    "ser-decoder-frame": ("ser", ["params.decoder_hidden=0"]),
    "ser-decoder-256": ("ser", ["params.decoder_hidden=256"]),
    "crrl-decoder-frame": ("crrl", ["params.decoder_hidden=0"]),
    "crrl-decoder-256": ("crrl", ["params.decoder_hidden=256"]),
}
FUSION_ARM_TEXT = {  # the results file's description of each arm
    "ser": "SER (the configs)",
    # the preparation study's step-2 runs
    "crrl-teacher-eval": "step 2 with the frozen teacher in eval mode (the configs before "
    "this study)",
    "crrl-teacher-dropout": "step 2 with the teacher's dropout on, as in the authors' code "
    "(the configs since)",
    # does fusion add under the paper's optimiser?
    "ser-sgd": "SER with Sec. IV-B's SGD (lr 0.04, momentum 0.9, weight decay 1e-4)",
    "crrl-sgd": "step 2 with Sec. IV-B's SGD",
    # Eq. (8)'s weight: a diagnosis of the distillation's strength, not a candidate setting
    "crrl-distill-1": "step 2 with lambda_d = 1 (a diagnosis; the paper's is 0.1)",
    "ser-decoder-frame": "SER with the authors' code's decoder (GRU hidden size = the frame "
    "size, its outputs the frames; the configs' before this study)",
    # Sec. IV-B: "All GRUs have 256 hidden units"
    "ser-decoder-256": "SER whose decoder GRUs have 256 hidden units and a linear readout "
    "(Sec. IV-B's text)",
    # step 2 took the text's decoder with SER, unvalidated on its own; validated on its own
    # (nwucla_crrl_decoder_validation_step2.md) it went back to the authors' decoder
    "crrl-decoder-frame": "step 2 with the authors' code's decoder",
    "crrl-decoder-256": "step 2 with the decoder of Sec. IV-B's text (256 units, readout)",
}
# each step-2 arm against the SER arm of the same optimiser (what fusion adds) and against
# the eval-mode teacher's step 2; the text's decoder against the authors'
FUSION_BASELINES = {"crrl-teacher-eval": ("ser",),
                    "crrl-teacher-dropout": ("ser", "crrl-teacher-eval"),
                    "crrl-sgd": ("ser-sgd", "crrl-teacher-eval"),
                    "crrl-distill-1": ("ser", "crrl-teacher-eval"),
                    "ser-decoder-256": ("ser-decoder-frame",),
                    "crrl-decoder-frame": ("ser-decoder-frame",),
                    "crrl-decoder-256": ("ser-decoder-256", "crrl-decoder-frame")}  # fmt: skip
FUSION_STEM = "nwucla_crrl_fusion_validation"
# the columns of :func:`authors_probe` (a diagnosis reading the test view every epoch)
DIAGNOSIS = ("authors_probe_final_top1", "authors_probe_best_test_epoch_top1",
             "authors_probe_selection_lift", "authors_probe_best_test_epoch")  # fmt: skip
DIAGNOSIS_HEADERS = ("authors' probe, final epoch %", "authors' probe, best test epoch %",
                     "best − final (paired)", "best test epoch (of 85)")  # fmt: skip
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


def train_phase(config, run_dir: Path, quiet: bool, reuse: bool = False) -> tuple:
    """Pre-train ``config`` into a fresh ``run_dir``; (encoder, data, config, info). With
    ``reuse``, a finished run already there with the same config is loaded instead, an
    unfinished one (``last.pt``, no ``summary.json``: a process stopped mid-run) resumes, and
    where ``run_dir`` is new, a finished run of the same config under another name beside it
    (:func:`finished_twin`: an arm that equals the configs) is linked in instead of retrained."""
    twin = finished_twin(run_dir, config) if reuse and not os.path.lexists(run_dir) else None
    if twin is not None:
        run_dir.symlink_to(twin.resolve(), target_is_directory=True)
    started = time.time()
    summary, how = pretrain_reusing(
        config, run_dir, reuse, pretrain, without_unread_distillation, quiet=quiet
    )
    if how == "kept":
        minutes, load = round(summary["wall_seconds"] / 60, 2), None
    elif how == "resumed":
        minutes, load = round(summary["seconds"] / 60, 2), load_average()  # all calls' time
    else:
        minutes, load = round((time.time() - started) / 60, 2), load_average()
    run = load_run(run_dir, quiet=True)
    info = {"epochs": summary.get("epochs"), "minutes": minutes, "load_average": load}
    return run.encoder, run.data, run.config, info


def finished_twin(run_dir: Path, config) -> Path | None:
    """A finished run of ``config``'s pre-training in ``run_dir``'s folder under another
    name (the first by name), or None: the fusion arms ``ser-decoder-256`` and
    ``crrl-decoder-frame`` are the configs' ``ser`` and ``crrl`` under longer names."""
    siblings = sorted(run_dir.parent.iterdir()) if run_dir.parent.is_dir() else []
    for sibling in siblings:
        if sibling.is_dir() and finished_with(sibling, config, without_unread_distillation):
            return sibling
    return None


# params only a distilling variant reads (Eq. (8)): an override of them for step 2 reaches
# the teacher phase too, and must not make its finished run look different
DISTILLATION_PARAMS = ("distill_weight", "teacher_dropout")


def without_unread_distillation(settings: dict) -> dict:
    """``settings`` (a comparable config tree) without the :data:`DISTILLATION_PARAMS`
    where its variant does not distil."""
    params = dict(settings.get("params") or {})
    if VARIANTS.get(params.get("variant"), Recipe()).teacher != "distill":
        params = {k: v for k, v in params.items() if k not in DISTILLATION_PARAMS}
    return {**settings, "params": params}


def random_encoder(config, seed: int):
    """Rand-Enc: the untrained encoder of ``config`` with the initial weights of ``seed``."""
    data = load_dataset(config.data, quiet=True)
    set_seed(seed)  # as runs.pretrain seeds before building the method
    return build_encoder(config.encoder, DataSpec.of(data)), data


def standardised(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets shifted and scaled by the training split's per-dimension mean and
    std (the linear probe's :func:`standardisation`). Shape: (N, D), (Q, D) -> same."""
    mean, std = (t.numpy() for t in standardisation(torch.as_tensor(train)))
    return (train - mean) / std, (test - mean) / std


def evaluate_encoder(
    encoder, data, config, figures: Path | None = None, name: str = "", test_curve: bool = False
) -> dict:
    """Linear probe + kNN (k=1 cosine) train split -> test split of the config's protocol,
    on features extracted once (the pooled encoder output, the paper's "feature before the
    MLP head", Sec. IV-B); ``knn_standardised_top1`` is a diagnosis (kNN on the features the
    linear probe sees), not the paper's protocol. Confusion matrix and t-SNE PNGs into
    ``figures`` when given. ``test_curve``: also the authors' linear evaluation, a diagnosis
    that reads the test split every epoch (:func:`authors_probe`)."""
    train, test = data.split(config.data.split or "xview")
    evaluation = config.evaluation
    train_x, test_x = (
        extract_features(encoder, split, batch_size=evaluation.batch_size, quiet=True)
        for split in (train, test)
    )
    linear = linear_probe_on_features(train_x, train.labels, test_x, test.labels,
                                      train.num_classes, evaluation, return_predictions=True)  # fmt: skip
    nearest = knn_on_features(train_x, train.labels, test_x, test.labels, train.num_classes,
                              evaluation)  # fmt: skip
    train_z, test_z = standardised(train_x, test_x)
    nearest_standardised = knn_on_features(train_z, train.labels, test_z, test.labels,
                                           train.num_classes, evaluation)  # fmt: skip
    diagnosis = authors_probe(train_x, train, test_x, test) if test_curve else {}
    if figures is not None:
        matrix = confusion_matrix(test.labels, linear["predictions"], test.num_classes)
        plot_confusion_matrix(matrix, test.class_names, figures / f"confusion_{name}.png",
                              title=f"{name.upper()} linear probe, NW-UCLA view 3")  # fmt: skip
        plot_tsne(test_x, test.labels, test.class_names, figures / f"tsne_{name}.png",
                  title=f"{name.upper()} features, NW-UCLA view 3")  # fmt: skip
    return {"linear_top1": linear["top1"], "knn_top1": nearest["top1"],
            "knn_standardised_top1": nearest_standardised["top1"],
            "knn": f"k={nearest['k']} {nearest['metric']}", "n_train": linear["n_train"],
            "n_test": linear["n_test"], **diagnosis}  # fmt: skip


def authors_probe(train_x: np.ndarray, train, test_x: np.ndarray, test) -> dict:
    """DIAGNOSIS that reads the test view (view 3) after every epoch, never used to choose
    anything: the CRRL authors' ``linear_eval`` (85 epochs, SGD lr 0.1 Nesterov, batch 16,
    halved at 15/35/50/66/75, raw features; github.com/Picasso-Wang/CRRL), which reports the
    best test epoch. Its final epoch, its best test epoch (the paper's protocol) and the lift
    of the selection (best − final). Shape: train_x (N, D), test_x (Q, D)."""
    result = linear_test_curve_diagnostic(
        train_x, train.labels, test_x, test.labels, train.num_classes
    )
    return {
        "authors_probe_final_top1": round(result["final_top1"], 2),
        "authors_probe_best_test_epoch_top1": round(result["best_test_top1"], 2),
        "authors_probe_best_test_epoch": result["best_test_epoch"],
        "authors_probe_selection_lift": round(result["best_test_top1"] - result["final_top1"], 2),
    }


def aggregate(per_seed: dict[int, dict]) -> dict:
    """Mean ± std over seeds (sample std; 0 for one seed) of the linear and kNN accuracies,
    the epochs reached and the minutes per run."""
    runs = list(per_seed.values())
    result = {"epochs": sorted({r.get("epochs", 0) for r in runs}), "seeds": list(per_seed),
              "pretrain_minutes": round(statistics.fmean(r.get("minutes", 0.0) for r in runs), 2)}  # fmt: skip
    metrics = ["linear_top1", "knn_top1"]
    optional = ["knn_standardised_top1", *DIAGNOSIS]
    metrics += [metric for metric in optional if all(metric in r for r in runs)]
    for metric in metrics:
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
    figures = args.out / "nwucla_crrl" if args.stem == STEM else None
    per_seed: dict[str, dict[int, dict]] = {row: {} for row in requested}
    if "random" in requested:
        config = phase_config("crrl-cml.yaml", root, args)
        for seed in args.seeds:
            encoder, data = random_encoder(config, seed)
            evaluation = evaluate_encoder(encoder, data, config, test_curve=True)
            per_seed["random"][seed] = {"epochs": 0, **evaluation}
        payload["planned_epochs"]["random"] = 0
        save_rows(payload, per_seed, args.out)
    for row in order:
        variant, file, teacher = ROWS[row]
        for position, seed in enumerate(args.seeds):
            overrides = [*root, f"params.variant={variant}", f"train.seed={seed}"]
            if teacher is not None:
                overrides.append(f"params.teacher={run_dir_of(args, teacher, seed)}")
            encoder, data, config, info = train_phase(
                phase_config(file, overrides, args),
                run_dir_of(args, row, seed),
                args.quiet,
                args.reuse,
            )
            if row in requested:
                plot = figures if row in PLOTTED and position == 0 else None
                evaluation = evaluate_encoder(encoder, data, config, plot, row, test_curve=True)
                per_seed[row][seed] = {**info, **evaluation}
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
    """The rows ``benchmarks/baselines/nwucla.py --summary`` collects (the results contract):
    ``crrl`` and ``random`` as themselves, the ablations as ``crrl-<row>``."""
    rows = []
    for name, row in payload["rows"].items():
        runs = [row["per_seed"][seed] for seed in row["seeds"]]
        rows.append(summary_row(
            method=name if name in ("crrl", "random") else f"crrl-{name}",
            encoder=payload["encoder"], frames=payload["frames"], seeds=row["seeds"],
            epochs=row["epochs"][0] if len(row["epochs"]) == 1 else row["epochs"], minutes=row["pretrain_minutes"], device=payload["machine"]["device"],
            linear=[r["linear_top1"] for r in runs], knn=[r["knn_top1"] for r in runs],
            source=f"{payload.get('stem', STEM)}.json", paper_linear=PAPER.get(name, {}).get("linear"),
            paper_knn=PAPER.get(name, {}).get("knn"),
        ))  # fmt: skip
    return rows


def preparation_note(payload: dict) -> str:
    """How the clips were prepared, against Sec. IV-B's NW-UCLA preparation."""
    preprocess = payload.get("preprocess", {})
    view_normalised, minmax = preprocess.get("view_normalize"), preprocess.get("minmax")
    if view_normalised and minmax:
        return ("input view-normalised, then min-max per sequence and person (Sec. IV-B's "
                "NTU / PKU-MMD preparation; for NW-UCLA the paper has the min-max alone), "
                "chosen on view 1 -> view 2 (`nwucla_crrl_preparation.md`)")  # fmt: skip
    if minmax:
        return "input prepared as the paper (min-max per sequence, no view normalisation)"
    return f"input preparation {preprocess}"


def cuts_from_the_paper(payload: dict) -> str:
    """What this run changed from the paper's (Sec. IV-B), for reading the gap to it."""
    epochs = ", ".join(f"{name} {payload['planned_epochs'][name]} of {PAPER_EPOCHS[ROWS[name][1]]}"
                       for name in payload["rows"] if name in ROWS)  # fmt: skip
    return (
        f"Differences to the paper's run: encoder {payload['encoder']} (paper gru-2x256); "
        f"epochs {epochs or '-'} (schedule milestones scaled alike); {preparation_note(payload)}; "
        f"{optimiser_note(payload)}; linear probe = Adam on "
        "standardised frozen features, 200 epochs, final epoch (the paper: SGD on the raw "
        "features); kNN k=1 cosine on the raw features as the paper."
    )


def optimiser_note(payload: dict) -> str:
    """The pre-training optimiser (the configs' with the run's overrides) against Sec. IV-B's
    SGD; a file written before the payload recorded it had the configs' Adam."""
    optimiser = payload.get("optimizer", {"name": "adam", "lr": 0.001})
    if optimiser["name"] == "sgd":
        return f"SGD lr {optimiser['lr']:g}, Sec. IV-B's optimiser"
    return (f"{optimiser['name'].capitalize()} lr {optimiser['lr']:g} instead of SGD (chosen "
            "on view 1 -> view 2, `nwucla_crrl_optimiser.md`)")  # fmt: skip


def versus_ser_section(payload: dict) -> list[str]:
    """Each trained row minus SER, paired by seed (Table VIII's question: what fusing CML
    into SER adds), beside the paper's difference (Markdown lines; none without SER)."""
    rows = payload["rows"]
    if "ser" not in rows:
        return []
    lines = []
    for name, row in rows.items():
        if name in ("ser", "random") or set(row["seeds"]) != set(rows["ser"]["seeds"]):
            continue
        difference = paired_difference(rows, name, "ser")
        paper = PAPER.get(name, {}).get("linear")
        lines.append({"row": name,
                      "linear_top1": difference[f"{name}_minus_ser_linear_top1"],
                      "linear_top1_std": difference[f"{name}_minus_ser_linear_top1_std"],
                      "knn_top1": difference[f"{name}_minus_ser_knn_top1"],
                      "knn_top1_std": difference[f"{name}_minus_ser_knn_top1_std"],
                      "better": f"{difference[f'{name}_better_linear_top1_seeds']} of {len(row['seeds'])}",
                      "paper": None if paper is None else round(paper - PAPER["ser"]["linear"], 1)})  # fmt: skip
    if not lines:
        return []
    table = markdown_table(
        lines, ["row", "linear_top1", "knn_top1", "better", "paper"],
        ["row", "− SER, linear (paired)", "− SER, kNN (paired)", "linear better on seeds", "paper − SER, linear"],
    )  # fmt: skip
    return ["## Against SER, paired by seed (Table VIII: what fusion adds)", "", table, ""]


def diagnosis_section(payload: dict) -> list[str]:
    """The authors' linear evaluation beside our probe (Markdown lines; none without it)."""
    rows = [{"row": name, **row, "paper_linear": PAPER.get(name, {}).get("linear")}
            for name, row in payload["rows"].items() if all(m in row for m in DIAGNOSIS)]  # fmt: skip
    if not rows:
        return []
    table = markdown_table(
        rows, ["row", "linear_top1", "paper_linear", *DIAGNOSIS],
        ["row", "our probe, final epoch %", "paper linear %", *DIAGNOSIS_HEADERS],
    )  # fmt: skip
    return [
        "## The authors' linear evaluation: a diagnosis that reads view 3 every epoch",
        "",
        "The CRRL authors' `linear_eval` (github.com/Picasso-Wang/CRRL, src/main_evaluation.py): "
        "85 epochs, SGD lr 0.1, Nesterov momentum 0.9, batch 16, lr ×0.5 at epochs 15, 35, "
        "50, 66 and 75, no weight decay, raw features; it reports the best test-view accuracy "
        "over the epochs. Here on the same frozen features as our probe, with its final epoch "
        "and its best test epoch; best − final is the lift of choosing the epoch on the test "
        "view. Nothing in this benchmark is chosen by these columns.",
        "",
        table,
        "",
    ]


def write_benchmark(payload: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = payload.get("stem", STEM)
    write_json(out / f"{stem}.json", payload)
    rows = [{"row": name, **row, "paper_linear": PAPER.get(name, {}).get("linear"),
             "paper_knn": PAPER.get(name, {}).get("knn"),
             "epochs": "/".join(str(e) for e in row["epochs"]) + f" of {payload['planned_epochs'].get(name, 0)}"}
            for name, row in payload["rows"].items()]  # fmt: skip
    table = markdown_table(
        rows,
        ["row", "variant", "teacher", "epochs", "pretrain_minutes", "linear_top1", "knn_top1", "paper_linear", "paper_knn", "knn_standardised_top1"],
        ["row", "variant", "teacher run", "epochs reached of planned", "pre-train min / run", "linear %", "kNN % (k=1, cosine)", "paper linear %", "paper kNN %", "kNN % on standardised features (diagnosis)"],
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
        *versus_ser_section(payload),
        *diagnosis_section(payload),
        cuts_from_the_paper(payload),
        "",
        "Figures (first seed): "
        + ", ".join(f"nwucla_crrl/confusion_{r}.png, nwucla_crrl/tsne_{r}.png" for r in PLOTTED)
        if stem == STEM
        else f"Figures: none (only the stem {STEM} draws them).",
    ]
    write_markdown(out / f"{stem}.md", lines)


# ---------------------------------------------------------------- the optimiser study


def validation_split(
    args,
    preparation: tuple[str, ...] = (),
    name: str = "nwucla_view1_view2",
    per_coordinate: bool = False,
) -> Path:
    """Views 1+2 prepared as the configs (with the ``preparation`` overrides) say, written as
    a ``given`` split: train = view 1, test = view 2; ``per_coordinate``: then min-max per
    coordinate (:func:`minmax_per_coordinate`). Returns the ``.npz`` path (in the work
    folder)."""
    config = phase_config("crrl-ser.yaml", [f"data.root={args.root}", *preparation], args)
    train, _ = load_dataset(config.data, quiet=True).split(config.data.split)
    path = Path(args.work) / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    if per_coordinate:
        train = dataclasses.replace(train, joints=minmax_per_coordinate(np.asarray(train.joints)))
    return write_view1_view2(train, path)


def minmax_per_coordinate(joints: np.ndarray) -> np.ndarray:
    """Min-max to [-1, 1] of every joint's every axis over the frames where its person is
    present, each person separately (the per-coordinate reading of Sec. IV-B), by
    :func:`minmax_normalize` with the joints moved to a batch axis.
    Shape: (N, T, M, V, C) -> same; padding stays zero."""
    present = body_presence(joints)  # (N, T, M), before any joint is moved
    moved = np.moveaxis(joints, 3, 1)[..., None, :]  # (N, V, T, M, 1, C)
    scaled = minmax_normalize(moved, np.broadcast_to(present[:, None], moved.shape[:4]), True)
    return np.moveaxis(scaled[..., 0, :], 1, 3)


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


def paired_difference(arms: dict, better: str = "adam", worse: str = "sgd") -> dict:
    """``better`` − ``worse`` per seed (linear and kNN), mean ± std, and the winner of the
    two by mean linear."""
    result = {
        "winner": better if arms[better]["linear_top1"] > arms[worse]["linear_top1"] else worse
    }

    def by_seed(arm: str, metric: str) -> dict:
        return {seed: run[metric] for seed, run in arms[arm]["per_seed"].items()}

    for metric in ("linear_top1", "knn_top1"):
        differences = paired_differences(by_seed(better, metric), by_seed(worse, metric))
        mean, std = mean_std(differences)
        result[f"{better}_minus_{worse}_{metric}"] = round(mean, 2)
        result[f"{better}_minus_{worse}_{metric}_std"] = round(std or 0.0, 2)
        result[f"{better}_better_{metric}_seeds"] = sum(d > 0 for d in differences)
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


# ---------------------------------------------------------------- the preparation study


def run_preparation_study(args, payload: dict) -> None:
    """The paper's NW-UCLA preparation against view normalisation on view 1 -> view 2,
    paired over the seeds: SER for every arm of ``args.preparation_arms``, then CML and step 2
    (taught by the CML run of the same arm and seed) for the others, as far as
    ``args.preparation_phases`` goes. Each arm has its own validation split, prepared with its
    settings (a ``.npz`` is loaded as prepared: no spatial step is applied again)."""
    arms_run = {arm: PREPARATIONS[arm] for arm in args.preparation_arms}
    splits = {arm: validation_split(args, tuple(preparation), f"nwucla_view1_view2_{arm}",
                                    per_coordinate=arm == PER_COORDINATE)
              for arm, preparation in arms_run.items()}  # fmt: skip
    study: dict[str, dict] = {}
    for phase in args.preparation_phases:
        arms = {}
        for arm, preparation in arms_run.items():
            if phase != "ser" and arm in PREPARATION_SER_ONLY:
                continue
            runs = {}
            for seed in args.seeds:
                overrides = [f"data.name={splits[arm]}", "data.split=given", *preparation,
                             f"params.variant={phase}", f"train.seed={seed}"]  # fmt: skip
                if phase == "crrl":
                    overrides.append(f"params.teacher={Path(args.work) / f'cml-{arm}-seed{seed}'}")
                if phase == "random":  # the untrained SER encoder of this preparation and seed
                    config = phase_config(STUDY_PHASES["ser"], overrides, args)
                    encoder, data_ = random_encoder(config, seed)
                    info = {"epochs": 0, "minutes": 0.0, "load_average": None}
                else:
                    encoder, data_, config, info = train_phase(
                        phase_config(STUDY_PHASES[phase], overrides, args),
                        Path(args.work) / f"{phase}-{arm}-seed{seed}", args.quiet, args.reuse,
                    )  # fmt: skip
                runs[seed] = {**info, **evaluate_encoder(encoder, data_, config)}
                print(json.dumps({phase: {arm: {seed: runs[seed]}}}), flush=True)
            settings = [
                *preparation,
                *(["+ per-coordinate min-max in the .npz"] if arm == PER_COORDINATE else []),
            ]
            arms[arm] = {**aggregate(runs), "per_seed": runs, "settings": settings,
                         "epochs_planned": config.train.epochs}  # fmt: skip
            study[phase] = {"arms": arms, "versus": preparation_differences(arms)}
            payload["phases"] = study
            write_preparation_study(payload, args.out, args.stem)


def preparation_differences(arms: dict) -> dict[str, dict[str, dict]]:
    """Every arm paired against the paper's preparation and against the configs', where those
    arms ran: reference -> arm -> :func:`paired_difference`."""
    return {reference: {arm: paired_difference(arms, arm, reference)
                        for arm in arms if arm not in (reference, "paper")}
            for reference in ("paper", CONFIGS_PREPARATION) if reference in arms}  # fmt: skip


def difference_row(difference: dict, better: str, worse: str, seeds: int) -> dict:
    """A table row of a :func:`paired_difference` result: ``better − worse (paired)``."""
    key = f"{better}_minus_{worse}"
    return {"arm": f"{better} − {worse} (paired)",
            "linear_top1": difference[f"{key}_linear_top1"],
            "linear_top1_std": difference[f"{key}_linear_top1_std"],
            "knn_top1": difference[f"{key}_knn_top1"],
            "knn_top1_std": difference[f"{key}_knn_top1_std"],
            "settings": f"{better} better on {difference[f'{better}_better_linear_top1_seeds']}"
                        f" of {seeds} seeds (linear)"}  # fmt: skip


def write_preparation_study(payload: dict, out: Path, stem: str = PREPARATION_STEM) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{stem}.json", payload)
    rows = []
    for phase, result in payload["phases"].items():
        for arm, values in result["arms"].items():
            rows.append({**values, "phase": phase, "arm": arm,
                         "settings": " ".join(values["settings"]),
                         "epochs": "/".join(map(str, values["epochs"]))})  # fmt: skip
        for reference, differences in result["versus"].items():
            for arm, difference in differences.items():
                row = difference_row(difference, arm, reference, len(payload["seeds"]))
                rows.append({"phase": phase, **row})
    table = markdown_table(
        rows,
        ["phase", "arm", "settings", "epochs", "pretrain_minutes", "linear_top1", "knn_top1", "knn_standardised_top1"],
        ["phase", "preparation", "settings", "epochs", "min / run", "linear %", "kNN % (k=1, cosine)", "kNN % on standardised features (diagnosis)"],
    )  # fmt: skip
    lines = [
        "# CRRL input preparation on a validation split of NW-UCLA's training views",
        "",
        "Pre-training and probes on view 1, accuracy on view 2 (view 3, the test view, is not "
        f"read). Encoder {payload['encoder']}; Adam (the configs'); at most 50 frames; seeds "
        f"{payload['seeds']} (mean ± std; the difference rows are paired by seed); schedules = "
        f"the configs' × {payload['epoch_scale']}. Step 2 (crrl) is taught by the CML run of "
        "the same preparation and seed; `random` is the untrained SER encoder of the arm and "
        "seed. The last column is a diagnosis, not the paper's "
        "protocol: kNN (k=1, cosine) on features standardised by the training split's mean "
        "and std, as the linear probe sees them. Machine: " + str(payload["machine"]) + ".",
        f"Command: `{payload['command']}`",
        "",
        table,
    ]
    write_markdown(out / f"{stem}.md", lines)


# ---------------------------------------------------------------- the fusion study


def fusion_run_dir(args, arm: str, seed: int) -> Path:
    """``{variant}-view-norm+minmax[-{rest of the arm's name}]-seed{seed}`` in ``--work``; SER
    and the eval-mode teacher's step 2 are the preparation study's runs of the configs'
    preparation (reused with ``--reuse --work`` of that study)."""
    variant = FUSION_ARMS[arm][0]
    rest = "" if arm == "crrl-teacher-eval" else arm[len(variant) + 1 :]
    return (
        Path(args.work) / f"{variant}-{CONFIGS_PREPARATION}{'-' + rest if rest else ''}-seed{seed}"
    )


def run_fusion_study(args, payload: dict) -> None:
    """Every arm of ``FUSION_ARMS`` (``--fusion-arms``) on view 1 -> view 2 for every seed,
    each step-2 arm paired by seed against its ``FUSION_BASELINES``; view 3 is not read."""
    preparation = PREPARATIONS[CONFIGS_PREPARATION]
    split = validation_split(args, tuple(preparation), f"nwucla_view1_view2_{CONFIGS_PREPARATION}")
    data = [f"data.name={split}", "data.split=given", *preparation]
    arms: dict[str, dict] = {}
    for arm in args.fusion_arms:
        variant, settings = FUSION_ARMS[arm]
        runs = {}
        for seed in args.seeds:
            overrides = [*data, *settings, f"params.variant={variant}", f"train.seed={seed}"]
            if variant == "crrl":
                teacher = Path(args.work) / f"cml-{CONFIGS_PREPARATION}-seed{seed}"
                train_phase(phase_config("crrl-cml.yaml", [*data, "params.variant=cml",
                            f"train.seed={seed}"], args), teacher, args.quiet, reuse=True)  # fmt: skip
                overrides.append(f"params.teacher={teacher}")
            file = "crrl.yaml" if variant == "crrl" else "crrl-ser.yaml"
            encoder, data_, config, info = train_phase(phase_config(file, overrides, args),
                                                       fusion_run_dir(args, arm, seed), args.quiet, args.reuse)  # fmt: skip
            runs[seed] = {**info, **evaluate_encoder(encoder, data_, config)}
            print(json.dumps({arm: {seed: runs[seed]}}), flush=True)
        arms[arm] = {**aggregate(runs), "per_seed": runs, "settings": settings,
                     "variant": variant, "epochs_planned": config.train.epochs}  # fmt: skip
        payload["arms"] = arms
        payload["paired"] = {f"{arm} - {base}": paired_difference(arms, arm, base)
                             for arm, bases in FUSION_BASELINES.items() if arm in arms
                             for base in bases if base in arms}  # fmt: skip
        write_fusion_study(payload, args.out, args.stem)


def write_fusion_study(payload: dict, out: Path, stem: str = FUSION_STEM) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{stem}.json", payload)
    rows = [{**arm, "arm": name, "settings": " ".join(arm["settings"]) or "the configs",
             "epochs": "/".join(map(str, arm["epochs"]))}
            for name, arm in payload["arms"].items()]  # fmt: skip
    for pair, difference in payload["paired"].items():
        rows.append(difference_row(difference, *pair.split(" - "), len(payload["seeds"])))
    table = markdown_table(
        rows,
        ["arm", "settings", "epochs", "pretrain_minutes", "linear_top1", "knn_top1"],
        ["arm", "settings", "epochs", "min / run", "linear %", "kNN % (k=1, cosine)"],
    )  # fmt: skip
    lines = [
        "# CRRL arms (SER and the fusion step, INF) on a validation split of NW-UCLA's training "
        "views",
        "",
        "Pre-training and probes on view 1, accuracy on view 2 (view 3, the test view, is not "
        f"read). The configs' preparation; encoder {payload['encoder']}; seeds "
        f"{payload['seeds']} (mean ± std; the difference rows are paired by seed); schedules "
        f"= the configs' × {payload['epoch_scale']}. Step 2 is taught by the CML run (the "
        "configs, Adam) of the same seed on the same split. Arms: "
        + "; ".join(f"`{arm}`, {FUSION_ARM_TEXT[arm]}" for arm in payload["arms"])
        + f". Machine: {payload['machine']}.",
        f"Command: `{payload['command']}`",
        "",
        table,
    ]
    write_markdown(out / f"{stem}.md", lines)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    parser.add_argument("--preparation-study", action="store_true",
                        help="the paper's min-max vs view normalisation on view 1 -> view 2")  # fmt: skip
    parser.add_argument("--preparation-arms", default=",".join(PREPARATION_DEFAULT_ARMS),
                        help=f"comma list of PREPARATIONS for --preparation-study (known: {', '.join(PREPARATIONS)})")  # fmt: skip
    parser.add_argument("--preparation-phases", default=",".join(PREPARATION_PHASES),
                        help="comma list of the phases --preparation-study runs (random, ser, cml, crrl)")  # fmt: skip
    parser.add_argument("--fusion-study", action="store_true",
                        help="the fusion step's arms (FUSION_ARMS) on view 1 -> view 2")  # fmt: skip
    parser.add_argument("--fusion-arms", default=",".join(FUSION_ARMS),
                        help="comma list of FUSION_ARMS for --fusion-study")  # fmt: skip
    parser.add_argument("--reuse", action="store_true",
                        help="load finished runs of the same config in --work (linking one under another name in its folder) instead of training; resume unfinished ones")  # fmt: skip
    parser.add_argument("--rewrite", action="store_true",
                        help="only rewrite nwucla_crrl.md and summary_rows from the JSON in --out")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny encoder, 1 epoch")
    parser.add_argument("--work", default=None, help="run directories (default runs/bench-nwucla-crrl[-quick])")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="results (default benchmarks/crrl/results)")  # fmt: skip
    parser.add_argument("--stem", default=STEM,
                        help=f"results file name <stem>.{{md,json}}; only {STEM} draws figures")  # fmt: skip
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every run")
    args = parser.parse_args(argv)
    if args.epoch_scale <= 0:
        raise SystemExit("--epoch-scale must be > 0")
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    args.rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    suffix = ("-optimiser" if args.optimiser_study else "") + ("-quick" if args.quick else "")
    suffix += "-preparation" if args.preparation_study or args.fusion_study else ""
    args.fusion_arms = choices(args.fusion_arms, FUSION_ARMS, "fusion arms")
    args.preparation_arms = choices(args.preparation_arms, PREPARATIONS, "preparation arms")
    args.preparation_phases = choices(args.preparation_phases, PREPARATION_PHASE_CHOICES, "phases")
    if "crrl" in args.preparation_phases and "cml" not in args.preparation_phases:
        raise SystemExit("--preparation-phases: crrl needs its teacher, cml")
    if args.preparation_study and args.stem == STEM:
        args.stem = PREPARATION_STEM
    if args.fusion_study and args.stem == STEM:
        args.stem = FUSION_STEM
    args.work = args.work or os.environ.get("SKELSSL_BENCH_WORK", f"runs/bench-nwucla-crrl{suffix}")
    args.out = args.out or (
        Path(args.work) / "results" if args.quick else REPO / "benchmarks" / "crrl" / "results"
    )
    return args


def choices(text: str, known, what: str) -> list[str]:
    """The comma list ``text``, each item one of ``known`` (else exit with the known ones)."""
    items = [item for item in text.split(",") if item]
    unknown = sorted(set(items) - set(known))
    if unknown:
        raise SystemExit(f"unknown {what} {unknown} (known: {', '.join(known)})")
    return items


def rewrite(out: Path, stem: str) -> None:
    """Tables and ``summary_rows`` again from the per-seed runs of ``out``'s results JSON."""
    payload = json.loads((out / f"{stem}.json").read_text())
    payload["stem"] = stem  # --stem names the files, whatever the JSON was written as
    for row in payload["rows"].values():  # JSON keys are strings; seeds are ints
        row["per_seed"] = {int(seed): run for seed, run in row["per_seed"].items()}
        row.update(aggregate(row["per_seed"]))
    payload["summary_rows"] = summary_rows(payload)
    write_benchmark(payload, out)


def main(argv: list[str] | None = None) -> None:
    """The command line (``argv``: its arguments, default ``sys.argv[1:]``)."""
    args = parse_args(argv)
    if args.rewrite:
        rewrite(args.out, args.stem)
        print((args.out / f"{args.stem}.md").read_text())
        return
    require_nwucla(args.root)
    options = [f"--seeds {','.join(map(str, args.seeds))}", f"--epoch-scale {args.epoch_scale}"]
    if args.optimiser_study:
        options += ["--optimiser-study"]
    elif args.preparation_study:
        options += ["--preparation-study"]
        if args.preparation_arms != list(PREPARATION_DEFAULT_ARMS):
            options += [f"--preparation-arms {','.join(args.preparation_arms)}"]
        if args.preparation_phases != list(PREPARATION_PHASES):
            options += [f"--preparation-phases {','.join(args.preparation_phases)}"]
        options += [f"--stem {args.stem}"] if args.stem != PREPARATION_STEM else []
    elif args.fusion_study:
        options += ["--fusion-study", f"--fusion-arms {','.join(args.fusion_arms)}"]
        options += [f"--stem {args.stem}"] if args.stem != FUSION_STEM else []
    else:
        options += [f"--rows {args.rows}"]
        options += [f"--stem {args.stem}"] if args.stem != STEM else []
    options += ["--quick"] if args.quick else []
    command = "python benchmarks/crrl/table.py " + " ".join(options + list(args.overrides))
    config = phase_config("crrl-cml.yaml", [f"data.root={args.root}"], args)
    payload = {"machine": machine("cuda" if torch.cuda.is_available() else "cpu"), "command": command, "seeds": args.seeds,
               "epoch_scale": args.epoch_scale, "overrides": list(args.overrides),
               "encoder": encoder_label(config.encoder), "frames": config.data.preprocess.frames,
               "preprocess": to_dict(config.data.preprocess),
               "optimizer": {"name": config.train.optimizer, "lr": config.train.lr},
               "summary_rows": []}  # fmt: skip
    if args.optimiser_study:
        run_study(args, payload)
        print((args.out / "nwucla_crrl_optimiser.md").read_text())
    elif args.preparation_study:
        run_preparation_study(args, payload)
        print((args.out / f"{args.stem}.md").read_text())
    elif args.fusion_study:
        run_fusion_study(args, payload)
        print((args.out / f"{args.stem}.md").read_text())
    else:
        payload.update(rows={}, planned_epochs={}, complexity=complexity(), stem=args.stem)
        run_benchmark(args, payload)
        print((args.out / f"{args.stem}.md").read_text())
    print(f"command: {command}")


if __name__ == "__main__":
    main()
