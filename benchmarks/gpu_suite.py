"""The paper-scale check on one CUDA machine in one command, at most ~9 minutes.

Three modes:

``--prepare DIR`` (any machine with the NW-UCLA folder, beforehand)
    Writes the NW-UCLA arrays the recipes need (``write_npz``, re-saved compressed) into
    DIR with ``manifest.json`` (recipe -> file): one raw file (native frame rate, no
    spatial step) from which the suite rebuilds each recipe's arrays with the library's
    own temporal and spatial steps, checked here to equal the direct path exactly (a
    recipe that does not is given its own file). The GPU machine then needs only the
    checkout and DIR (``gpu_data/``, git-ignored; about 13 MiB).

``--data DIR --out OUT`` (the CUDA machine)
    1. prints the environment (GPU, torch, CUDA, cuDNN);
    2. runs the CUDA tests (``pytest -m cuda``: bf16 train step, trainer run on CUDA with
       bit-exact resume, augmentations on CUDA equal to CPU for the same random draws);
    3. times every encoder preset's train step (fp32, TF32, bf16 autocast) in sequences/s
       at the recipes' batch sizes and frame counts;
    4. pre-trains each method's paper-scale NW-UCLA recipe (the method's
       ``configs/nwucla/*.yaml``; only data path, device, precision and time budget are
       overridden, plus the recipe's paper-scale knobs in :data:`RECIPES`) under a
       per-method budget (sum 420 s; the untrained encoders of :data:`RANDOM_PAIRS` are
       only evaluated), then evaluates linear and kNN (k=1, cosine) on the test view 3
       (cross-view: trained on views 1+2, nothing chosen on view 3), and writes each
       :data:`RANDOM_PAIRS` gap to the untrained encoder of the same shape;
    5. writes ``OUT/gpu_suite.json`` and ``OUT/gpu_suite.md`` and prints a short table.

``--smoke``
    The same code path in seconds on CPU with synthetic data and tiny encoders (in the test
    suite, so the script never rots).

Usage::

    python benchmarks/gpu_suite.py --prepare gpu_data            # where NW-UCLA is
    python benchmarks/gpu_suite.py --data gpu_data --out OUT      # on the GPU machine
    python benchmarks/gpu_suite.py --smoke --out /tmp/gpu_smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    NWUCLA_ROOT,
    REPO,
    encoder_label,
    machine,
    summary_row,
    utc_now,
    write_json,
    write_markdown,
)
from benchmarks.speed.encoders import make_train_step
from skelssl.config import RunConfig, load_config
from skelssl.data.cache import load_dataset
from skelssl.data.preprocess import normalize_space, retime
from skelssl.data.readers.arrays import read_npz, write_npz
from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.evaluation.run import evaluate_run
from skelssl.models import build_encoder, encoder_preset
from skelssl.runs import pretrain
from skelssl.skeleton import get_layout
from skelssl.typed import to_dict

DEFAULT_ROOT = NWUCLA_ROOT
DEFAULT_DATA = REPO / "gpu_data"
PREPARED_LIMIT_BYTES = 48 * 2**20  # "well under 64 MiB" in all
NATIVE_FRAMES = 400  # the longest NW-UCLA clip has 201 frames (the read-back check is exact)
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Recipe:
    """One pre-training run: a method config of ``configs/nwucla/`` plus the knobs that
    make it paper-scale, under ``budget_seconds`` of training."""

    name: str
    config: str
    overrides: tuple[str, ...]
    budget_seconds: float
    teacher: str | None = None  # the recipe whose run becomes ``params.teacher``
    evaluate: bool = True


OPTIMISER_KEYS = ("optimizer", "lr", "lr_scaling", "lars_eta", "momentum", "weight_decay")


def optimiser_of(config_file: str) -> tuple[str, ...]:
    """``train.<key>=<value>`` overrides that give a recipe the optimiser of another
    ``configs/nwucla`` file (read from it, so the two cannot drift apart)."""
    train = load_config(None, REPO / "configs" / "nwucla" / config_file).train
    return tuple(f"train.{key}={getattr(train, key)}" for key in OPTIMISER_KEYS)


# the authors' MS²L encoder (github.com/LanglandsLin/MS2L, model.py / config.py: nn.GRU of
# hidden_size 600 // 2 per direction, 2 layers, bidirectional, no dropout)
MS2L_AUTHORS_ENCODER = ("encoder.hidden_size=300", "encoder.num_layers=2", "encoder.dropout=0.0")
# and their optimiser (procedure.py: Adam 1e-3, gradient norms clipped at 10; constant here,
# their x0.1 comes halfway through 60 epochs): under the config's Adam 0.01 the 2x300 ends
# 9.2 points below its untrained encoder on view 1 -> view 2 (2 seeds,
# nwucla_ms2l_validation_authors_encoder.md), so the GPU run tries the authors' recipe
MS2L_AUTHORS_OPTIMISER = ("train.schedule=constant", "train.lr=0.001", "train.clip_grad=10")
RECIPES = (
    # Skeleton BYOL (Moliner et al. 2022) at paper scale: ST-GCN 1x on joints + bones,
    # 150-frame crop with repetition (configs/nwucla/byol-paper.yaml says what is ours),
    # with configs/nwucla/byol.yaml's optimiser: LARS instead of the paper's SGD, which
    # barely moves the encoder on NW-UCLA (docs/methods/byol-diagnosis.md).
    Recipe("byol", "byol-paper.yaml", optimiser_of("byol.yaml"), 140),
    # CRRL (Wang et al. 2022): step 1 (Contrastive Motion Learner), then step 2 distilling
    # it into the Sequence Reconstructor; 2-layer bi-GRU of 2x256 (the configs' encoder).
    Recipe("crrl-cml", "crrl-cml.yaml", (), 40, evaluate=False),
    Recipe("crrl", "crrl.yaml", (), 50, teacher="crrl-cml"),
    # MS²L (Lin et al. 2020): 200 frames, bi-GRU 2x30 (configs/nwucla/ms2l.yaml as is).
    Recipe("ms2l", "ms2l.yaml", (), 50),
    # The same with the authors' encoder (a 2-layer bi-GRU of 300 units per direction) and
    # optimiser: the last hypothesis for the gap to random, at more iterations than
    # the CPU affords (76 s an epoch of view 1, 11x the 1x30), beside the untrained encoders
    # of both shapes (RANDOM_PAIRS).
    Recipe("ms2l-2x300", "ms2l.yaml", (*MS2L_AUTHORS_ENCODER, *MS2L_AUTHORS_OPTIMISER), 50),
    Recipe("random-ms2l", "ms2l.yaml", ("method=random",), 0),
    Recipe("random-2x300", "ms2l.yaml", ("method=random", *MS2L_AUTHORS_ENCODER), 0),
    # SimCLR at full width: the 2x256 bi-GRU (the config halves it for CPU), on the joint
    # stream and, for the recommended recipe (configs/nwucla/recommended.yaml: the three
    # streams' linear scores fused, ENSEMBLES), on the bone and motion streams.
    Recipe("simclr", "simclr.yaml", ("encoder.hidden_size=256",), 45),
    Recipe("simclr-bone", "simclr.yaml", ("encoder.hidden_size=256", "data.stream=bone"), 45),
    Recipe("simclr-motion", "simclr.yaml", ("encoder.hidden_size=256", "data.stream=motion"), 45),
)
# fused runs (name -> recipes, weights): the recommended recipe's ensemble, linear probe
ENSEMBLES = {"recommended": (("simclr", "simclr-bone", "simclr-motion"), (0.6, 0.6, 0.4))}
# recipe -> the untrained encoder of its shape on its input: the gap to random, one seed
RANDOM_PAIRS = {"ms2l": "random-ms2l", "ms2l-2x300": "random-2x300"}

# Encoder timing inputs: (batch, frames) of the recipe that uses the preset.
TIMING_SHAPES = {
    "stgcn": (64, 150),
    "stgcn-byol-0.25": (64, 150),
    "stgcn-0.25": (64, 150),
    "gru-crrl": (32, 50),
    "gru-ms2l": (32, 200),
}
PRECISIONS = ("fp32", "tf32", "bf16")

# --smoke: synthetic stand-in for NW-UCLA (3 cameras, camera 3 is the test view), tiny
# encoders, one epoch each.
SMOKE_DATA = [
    "data.name=synthetic",
    "data.synthetic.classes=3",
    "data.synthetic.subjects=2",
    "data.synthetic.takes=2",
    "data.synthetic.min_frames=8",
    "data.synthetic.max_frames=20",
]
SMOKE_KNOBS = [
    "train.epochs=1",
    "train.min_steps=0",  # the recipes' NW-UCLA step count would stretch the tiny set's run
    "train.batch_size=8",
    "train.device=cpu",
    "evaluation.linear_epochs=5",
]
SMOKE_ENCODERS = {
    "byol": ["encoder.width=0.25", "encoder.temporal_kernel=3", "params.hidden_dim=16"],
    "crrl-cml": ["encoder.hidden_size=8", "params.queue_size=8"],
    "crrl": ["encoder.hidden_size=8"],
    "ms2l": ["encoder.hidden_size=8"],
    "ms2l-2x300": ["encoder.hidden_size=8"],
    "random-ms2l": ["encoder.hidden_size=8"],
    "random-2x300": ["encoder.hidden_size=8"],
    "simclr": ["encoder.hidden_size=8"],
    "simclr-bone": ["encoder.hidden_size=8"],
    "simclr-motion": ["encoder.hidden_size=8"],
}


# --------------------------------------------------------------------------- configs
def recipe_config(recipe: Recipe, extra: list[str]) -> RunConfig:
    """The recipe's run config: its ``configs/nwucla`` file, its knobs, then ``extra``."""
    path = REPO / "configs" / "nwucla" / recipe.config
    return load_config(None, path, [*recipe.overrides, *extra])


def prepared_name(config: RunConfig) -> str:
    """File name of the arrays for ``config``'s preprocessing (shared by equal ones)."""
    preprocess = json.dumps(to_dict(config.data.preprocess), sort_keys=True)
    digest = hashlib.sha256(preprocess.encode()).hexdigest()[:10]
    return f"nwucla-{config.data.preprocess.frames}f-{digest}.npz"


def compress_npz(path: Path) -> None:
    """Re-save ``write_npz``'s arrays compressed (mostly zero padding or repeated frames)."""
    with np.load(path, allow_pickle=False) as arrays:
        contents = {key: arrays[key] for key in arrays.files}
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        np.savez_compressed(file, **contents)
    temporary.replace(path)


def raw_config(config: RunConfig) -> RunConfig:
    """``config`` without any preprocessing step: every clip at its native frame rate
    (``at-most`` a length no NW-UCLA clip reaches), no centring or normalisation."""
    preprocess = dataclasses.replace(
        config.data.preprocess,
        frames=NATIVE_FRAMES,
        temporal="at-most",
        center=False,
        view_normalize=False,
        minmax=False,
    )
    return dataclasses.replace(config, data=dataclasses.replace(config.data, preprocess=preprocess))


def materialize(raw_path: Path, config: RunConfig, out: Path) -> Path:
    """The recipe's arrays from the raw ones: the temporal step (``retime``), then the
    spatial one (``normalize_space``), in the order of ``preprocess.prepare_sequences``."""
    preprocess = config.data.preprocess
    data = retime(read_npz(raw_path), preprocess)
    layout = get_layout(data.layout)
    joints = normalize_space(np.asarray(data.joints), layout, preprocess).astype(np.float32)
    path = out / prepared_name(config)
    write_npz(dataclasses.replace(data, joints=joints), path, prepared=True)
    return path


def write_arrays(data, path: Path, *, prepared: bool) -> Path:
    """``write_npz`` then re-save compressed (``prepared``: the joints went through the
    spatial steps already)."""
    write_npz(data, path, prepared=prepared)
    compress_npz(path)
    return path


def reads_back_as(path: Path, config: RunConfig, wanted) -> bool:
    """Whether ``config`` reading ``path`` gives exactly ``wanted``'s joints and lengths."""
    with tempfile.TemporaryDirectory(prefix="gpu_suite_cache_") as cache:
        data = load_dataset(npz_config(config, path, Path(cache)).data, quiet=True)
        same = np.array_equal(np.asarray(data.joints), np.asarray(wanted.joints))
        return same and np.array_equal(data.lengths, wanted.lengths)


def prepare(out: Path, knobs, recipes=RECIPES) -> dict[str, dict]:
    """Write the arrays every recipe reads into ``out`` and ``out/manifest.json``.

    One raw file (native frame rate, no spatial step) serves every recipe for which
    :func:`materialize` gives exactly the arrays of the direct path (checked here); any
    other recipe gets its own file at its frame count. ``knobs(recipe)`` gives the data
    overrides (the NW-UCLA root, or the smoke run's synthetic data)."""
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="gpu_suite_prepare_") as scratch:
        for recipe in recipes:
            config = recipe_config(recipe, knobs(recipe))
            wanted = load_dataset(config.data, quiet=True)
            raw = out / prepared_name(raw_config(config))
            if not raw.exists():
                write_arrays(load_dataset(raw_config(config).data, quiet=True), raw, prepared=False)
            if reads_back_as(materialize(raw, config, Path(scratch)), config, wanted):
                manifest[recipe.name] = {"file": raw.name, "raw": True}
            else:
                own = write_arrays(wanted, out / prepared_name(config), prepared=True)
                if not reads_back_as(own, config, wanted):
                    raise SkelsslError("arrays read back differ from the prepared ones", own)
                manifest[recipe.name] = {"file": own.name, "raw": False}
            print(f"{recipe.name:>12}: {manifest[recipe.name]}", flush=True)
    files = {entry["file"] for entry in manifest.values()}
    for unused in set(out.glob("nwucla-*.npz")) - {out / name for name in files}:
        unused.unlink()
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum((out / name).stat().st_size for name in files)
    if total > PREPARED_LIMIT_BYTES:
        raise SkelsslError(f"prepared arrays take {total / 2**20:.1f} MiB (limit 48)", out)
    print(f"prepared {len(files)} files, {total / 2**20:.1f} MiB", flush=True)
    return manifest


def npz_config(config: RunConfig, path: Path, cache: Path) -> RunConfig:
    """``config`` reading the prepared arrays at ``path`` (cache under ``cache``)."""
    data = dataclasses.replace(config.data, name=str(path), root=None, cache_dir=str(cache))
    return dataclasses.replace(config, data=data)


# --------------------------------------------------------------------------- steps
def environment() -> dict:
    """GPU, torch, CUDA and cuDNN versions (printed first)."""
    info = {**machine("cuda" if torch.cuda.is_available() else "cpu")}
    info["cuda"] = torch.version.cuda
    info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        info["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
        info["capability"] = f"{properties.major}.{properties.minor}"
    return info


def run_cuda_tests() -> dict:
    """``pytest -m cuda`` in a child process; counts from its summary line."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    print(done.stdout[-3000:], flush=True)
    return {
        "command": " ".join(command[1:]),
        "returncode": done.returncode,
        "summary": summary,
        "seconds": round(time.perf_counter() - started, 1),
    }


def set_precision(precision: str) -> None:
    """TF32 on for ``tf32`` only (fp32 means true fp32 matmuls and convolutions)."""
    tf32 = precision == "tf32"
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


def time_encoders(device: torch.device, presets, shapes, steps: int, warmup: int) -> list[dict]:
    """Train-step throughput of each preset at each precision (NW-UCLA joints, 1 body)."""
    rows = []
    layout = "kinect-v1-20"
    joints = get_layout(layout).num_joints
    for preset in presets:
        batch, frames = shapes[preset]
        spec = DataSpec(layout, 10, frames, 1, 3)
        generator = torch.Generator().manual_seed(0)
        x = torch.randn((batch, frames, 1, joints, 3), generator=generator).to(device)
        labels = torch.randint(10, (batch,), generator=generator).to(device)
        for precision in PRECISIONS if device.type == "cuda" else ("fp32",):
            set_precision(precision)
            torch.manual_seed(0)
            encoder = build_encoder(encoder_preset(preset), spec)
            step = make_train_step(encoder, None, x, labels, 10)
            autocast = torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16")
            try:
                seconds = _timed(step, autocast, device, steps, warmup)
            except RuntimeError as error:  # e.g. out of memory: the other rows still count
                print(f"{preset:>16} {precision}: FAILED {error}", flush=True)
                continue
            rows.append(
                {
                    "preset": preset,
                    "precision": precision,
                    "batch": batch,
                    "frames": frames,
                    "step_seconds": seconds,
                    "sequences_per_second": batch / seconds,
                }
            )
            print(f"{preset:>16} {precision}: {batch / seconds:9.0f} seq/s", flush=True)
    set_precision("tf32")
    return rows


def _timed(step, autocast, device: torch.device, steps: int, warmup: int) -> float:
    """Median seconds of one train step (synchronised around each)."""
    for _ in range(warmup):
        with autocast:
            step()
    times = []
    for _ in range(steps):
        _synchronize(device)
        start = time.perf_counter()
        with autocast:
            step()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_recipe(recipe: Recipe, config: RunConfig, run_dir: Path) -> dict:
    """Pre-train one recipe, then linear and kNN (k=1, cosine) on the test view."""
    started = time.perf_counter()
    summary = pretrain(config, run_dir, quiet=True)
    train_seconds = time.perf_counter() - started
    row = {
        "recipe": recipe.name,
        "method": config.method,
        "encoder": encoder_label(config.encoder),
        "frames": config.data.preprocess.frames,
        "optimizer": config.train.optimizer,
        "budget_seconds": config.train.time_budget,
        "epochs": summary["epochs"],
        "steps": summary["steps"],
        "train_seconds": round(train_seconds, 1),
        "seq_per_s": summary["seq_per_s"],
        "final_loss": summary["final_loss"],
        "device": summary["device"],
    }
    if recipe.evaluate:
        started = time.perf_counter()
        knn_settings = ["knn_k=1", "knn_metric=cosine"]
        linear = evaluate_run(run_dir, protocol="linear", quiet=True)
        knn = evaluate_run(run_dir, protocol="knn", overrides=knn_settings, quiet=True)
        row.update(
            linear=_percent(linear),
            knn=_percent(knn),
            eval_seconds=round(time.perf_counter() - started, 1),
        )
    print(
        f"{recipe.name:>12}: {row['epochs']} epochs in {row['train_seconds']:.0f} s, "
        f"linear {row.get('linear')}, kNN {row.get('knn')}",
        flush=True,
    )
    return row


def _percent(result: dict) -> float:
    """Top-1 accuracy of an evaluation result (already in percent)."""
    return round(float(result["top1"]), 2)


# --------------------------------------------------------------------------- report
def markdown(report: dict) -> list[str]:
    env = report["environment"]
    lines = [
        "# GPU suite",
        "",
        f"Command: `{report['command']}`; {report['started']} to {report['finished']},"
        f" {report['seconds']:.0f} s in all.",
        f"Device: {env['device']} (capability {env.get('capability')}, "
        f"{env.get('gpu_memory_gib')} GiB), torch {env['torch']}, CUDA {env['cuda']}, "
        f"cuDNN {env['cudnn']}.",
        "",
        f"CUDA tests: {report['cuda_tests'].get('summary', 'not run')}",
        "",
        "## Encoder train step (sequences/s; NW-UCLA joints, SGD step, random inputs)",
        "",
        "| preset | batch x frames | " + " | ".join(PRECISIONS) + " |",
        "|---|---|" + "---:|" * len(PRECISIONS),
    ]
    by_preset: dict[str, dict] = {}
    for row in report["encoders"]:
        by_preset.setdefault(row["preset"], {"shape": f"{row['batch']} x {row['frames']}"})
        by_preset[row["preset"]][row["precision"]] = f"{row['sequences_per_second']:.0f}"
    for preset, cells in by_preset.items():
        values = " | ".join(cells.get(p, "-") for p in PRECISIONS)
        lines.append(f"| {preset} | {cells['shape']} | {values} |")
    lines += [
        "",
        "## Paper-scale NW-UCLA recipes (cross-view; linear / kNN k=1 cosine on view 3)",
        "",
        "Final-epoch weights; one seed (0); budgets are training seconds (the run stops",
        "after the first epoch over its budget).",
        "",
        "| recipe | encoder | frames | optimiser | autocast | budget s | epochs | seq/s "
        "| linear % | kNN % |",
        "|---|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["recipes"]:
        if "error" in row:
            lines.append(f"| {row['recipe']} | failed: {row['error']} |" + " |" * 8)
            continue
        lines.append(
            f"| {row['recipe']} | {row['encoder']} | {row['frames']} "
            f"| {row.get('optimizer', '-')} | {row['amp_dtype']} "
            f"| {row['budget_seconds']:.0f} "
            f"| {row['epochs']} | {row['seq_per_s']:.0f} | {row.get('linear', '-')} "
            f"| {row.get('knn', '-')} |"
        )
    return lines + gap_lines(report) + ensemble_lines(report)


def ensemble_lines(report: dict) -> list[str]:
    """Each fused ensemble's linear top-1 beside its members' (:data:`ENSEMBLES`)."""
    lines = []
    for row in report.get("ensembles", []):
        if "error" in row:
            lines.append(f"- {row['ensemble']}: not fused ({row['error']})")
            continue
        members = ", ".join(f"{m} {v}" for m, v in zip(row["members"], row["member_linear"]))
        weights = "/".join(f"{w:g}" for w in row["weights"])
        lines.append(f"- {row['ensemble']} (weights {weights}): {row['linear']} ({members})")
    return ["", "Score-level ensembles (linear probe, one seed):", "", *lines] if lines else []


def gap_lines(report: dict) -> list[str]:
    """Each :data:`RANDOM_PAIRS` recipe minus the untrained encoder of its shape."""
    rows = {row["recipe"]: row for row in report["recipes"] if "linear" in row}
    lines = []
    for trained, untrained in RANDOM_PAIRS.items():
        if trained in rows and untrained in rows:
            linear = rows[trained]["linear"] - rows[untrained]["linear"]
            knn = rows[trained]["knn"] - rows[untrained]["knn"]
            lines.append(f"- {trained} − {untrained}: {linear:+.1f} linear / {knn:+.1f} kNN")
    if not lines:
        return []
    return ["", "Gaps to the untrained encoder of the same shape (one seed):", "", *lines]


def stdout_table(report: dict) -> str:
    lines = [f"{'recipe':>12} {'epochs':>6} {'linear':>7} {'kNN':>7}"]
    for row in report["recipes"]:
        linear, knn = row.get("linear", "-"), row.get("knn", "-")
        lines.append(f"{row['recipe']:>12} {row.get('epochs', 'failed'):>6} {linear:>7} {knn:>7}")
    return "\n".join(lines)


def summary_rows(report: dict) -> list[dict]:
    """Results-contract rows for the evaluated recipes."""
    rows = []
    for row in report["recipes"]:
        if "linear" not in row:
            continue
        rows.append(
            summary_row(
                method=row["method"],
                encoder=row["encoder"],
                frames=row["frames"],
                seeds=[0],
                epochs=row["epochs"],
                minutes=round(row["train_seconds"] / 60, 2),
                device=report["environment"]["device"],
                linear=[row["linear"]],
                knn=[row["knn"]],
                source="gpu_suite.json",
            )
        )
    return rows


# --------------------------------------------------------------------------- main
def run_suite(args, recipes=RECIPES, smoke: bool = False) -> dict:
    started, clock = utc_now(), time.perf_counter()
    env = environment()
    print(json.dumps(env), flush=True)
    device = torch.device("cuda" if torch.cuda.is_available() and not smoke else "cpu")
    if device.type == "cpu" and not smoke:
        raise SkelsslError("no CUDA device: the suite's full mode needs a GPU (try --smoke)")
    report = {"command": " ".join(["python", "benchmarks/gpu_suite.py", *sys.argv[1:]])}
    report.update(started=started, environment=env)
    report["cuda_tests"] = {"summary": "skipped (--smoke)"} if smoke else run_cuda_tests()
    presets = ["stgcn-0.25"] if smoke else list(TIMING_SHAPES)
    shapes = {"stgcn-0.25": (4, 16)} if smoke else TIMING_SHAPES
    steps, warmup = (1, 1) if smoke else (10, 3)
    report["encoders"] = time_encoders(device, presets, shapes, steps, warmup)
    report["recipes"] = []
    manifest = json.loads((args.data / MANIFEST).read_text())
    with tempfile.TemporaryDirectory(prefix="gpu_suite_") as scratch:
        runs = Path(scratch)
        for recipe in recipes:
            report["recipes"].append(run_recipe_or_fallback(recipe, args, manifest, runs, smoke))
        report["ensembles"] = run_ensembles(report["recipes"], runs)
    report.update(finished=utc_now(), seconds=round(time.perf_counter() - clock, 1))
    report["summary_rows"] = summary_rows(report)
    write_json(args.out / "gpu_suite.json", report)
    write_markdown(args.out / "gpu_suite.md", markdown(report))
    print(stdout_table(report), flush=True)
    print(f"wrote {args.out / 'gpu_suite.json'} and {args.out / 'gpu_suite.md'}", flush=True)
    return report


def run_ensembles(rows: list[dict], runs: Path, ensembles=ENSEMBLES) -> list[dict]:
    """Each :data:`ENSEMBLES` entry whose recipes all evaluated: the fused linear top-1
    (``skelssl evaluate RUN RUN ... --ensemble``) beside its members' own."""
    from skelssl.evaluation.ensemble import evaluate_ensemble

    done = {row["recipe"]: row for row in rows if "linear" in row}
    results = []
    for name, (members, weights) in ensembles.items():
        if not all(member in done for member in members):
            results.append({"ensemble": name, "error": "a member did not evaluate"})
            continue
        fused = evaluate_ensemble([runs / m for m in members], weights=list(weights), quiet=True)
        results.append({
            "ensemble": name, "members": list(members), "weights": list(weights),
            "linear": _percent(fused), "member_linear": [done[m]["linear"] for m in members],
        })  # fmt: skip
        print(f"{name:>12}: fused linear {results[-1]['linear']}", flush=True)
    return results


def run_recipe_or_fallback(recipe: Recipe, args, manifest: dict, runs: Path, smoke: bool) -> dict:
    """:func:`run_recipe` with the suite's knobs; on a failure under bf16 once more under
    fp16 autocast (e.g. a kernel without bf16), then a row naming the error: one failure
    must not cost the other recipes their minutes."""
    failures = []
    for precision in ("bfloat16", "float16"):
        extra = [*args.knobs(recipe), f"train.amp_dtype={precision}"]
        if recipe.teacher:
            extra.append(f"params.teacher={runs / recipe.teacher}")
        config = recipe_config(recipe, extra)
        entry = manifest[recipe.name]
        arrays = args.data / entry["file"]
        if entry["raw"]:
            arrays = materialize(arrays, config, runs)
        config = npz_config(config, arrays, runs / ".cache")
        shutil.rmtree(runs / recipe.name, ignore_errors=True)
        try:
            autocast = precision if config.train.device == "cuda" else "none"
            return {**run_recipe(recipe, config, runs / recipe.name), "amp_dtype": autocast}
        except Exception as error:
            if smoke:
                raise
            failures.append(f"{precision}: {type(error).__name__}: {error}"[:300])
            print(f"{recipe.name:>12}: FAILED {failures[-1]}", flush=True)
    return {"recipe": recipe.name, "error": " | ".join(failures)}


def gpu_knobs(recipe: Recipe, budget_scale: float = 1.0) -> list[str]:
    """The overrides of the GPU run: device, autocast (its dtype is added), time budget."""
    budget = recipe.budget_seconds * budget_scale
    return ["train.device=cuda", "train.amp=true", f"train.time_budget={budget:g}"]


def smoke_data_knobs(recipe: Recipe) -> list[str]:
    """The synthetic stand-in for NW-UCLA, at the smoke run's frame count."""
    return [*SMOKE_DATA, "data.preprocess.frames=16"]


def smoke_knobs(recipe: Recipe) -> list[str]:
    """Tiny encoders, one epoch on CPU (the data comes from :func:`smoke_data_knobs`)."""
    return [*smoke_data_knobs(recipe), *SMOKE_KNOBS, *SMOKE_ENCODERS[recipe.name]]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--prepare", type=Path, metavar="DIR", help="write the arrays into DIR")
    mode.add_argument("--data", type=Path, metavar="DIR", help="run the suite on DIR's arrays")
    mode.add_argument("--smoke", action="store_true", help="seconds on CPU, synthetic data")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="NW-UCLA all_sqe folder")
    parser.add_argument("--out", type=Path, default=Path("gpu_suite_out"))
    parser.add_argument(
        "--budget-scale",
        type=float,
        default=1.0,
        help=f"multiply every recipe's budget ({sum(r.budget_seconds for r in RECIPES):g} s in all)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        if args.prepare:
            prepare(args.prepare, lambda recipe: [f"data.root={args.root}"])
        elif args.smoke:
            with tempfile.TemporaryDirectory(prefix="gpu_suite_smoke_") as scratch:
                args.data, args.knobs = Path(scratch), smoke_knobs
                prepare(args.data, smoke_data_knobs)
                run_suite(args, smoke=True)
        else:
            if not (args.data / MANIFEST).is_file():
                raise SkelsslError("no prepared arrays here (run --prepare first)", args.data)
            args.knobs = lambda recipe: gpu_knobs(recipe, args.budget_scale)
            run_suite(args)
    except SkelsslError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
