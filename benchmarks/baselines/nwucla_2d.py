"""What losing depth costs: NW-UCLA cross-view from the 3D Kinect skeletons against the same
clips as a 2D pose estimator would give them (COCO-17 pixels with a score).

``--prepare DIR`` reads NW-UCLA at its native frame rate with no spatial step and writes

- ``DIR/nwucla_3d.npz``: the raw 3D joints (``kinect-v1-20``, xyz in metres, camera space);
- ``DIR/nwucla_2d.npz``: the same clips through :func:`skelssl.data.projection.project_joints`
  (pinhole camera f = 525 px, 640 x 480; the 12 COCO-17 joints Kinect v1 shares plus the
  nose from the head, score 1; eyes and ears score 0), ``coco-17``, ``xy+score``.

Both keep the ``xview`` split (views 1+2 train, view 3 test) as ``protocol_xview``. Reading
them, training applies the recipe's own temporal and spatial steps (3D: centre,
view-normalise, min-max; 2D: centre, divide by the body's size).

Then each method (``random``: the recipe's untrained encoder; ``simclr``) is pre-trained on
each input with the shipped ``configs/nwucla/simclr.yaml`` unchanged (``--epochs`` may
shorten it for a CPU budget; the row records it) and evaluated on view 3 with the linear
probe and kNN (k=1, cosine) of the frozen encoder, once per seed. Results merge into
``benchmarks/baselines/results/nwucla_2d.json`` (one row per method and input, per-seed
numbers, the 2D - 3D difference paired by seed, and ``summary_rows`` with a field
``input``) and ``nwucla_2d.md`` is rewritten from it. Nothing is selected on view 3.

    python benchmarks/baselines/nwucla_2d.py --prepare $TMP/nwucla-2d
    python benchmarks/baselines/nwucla_2d.py --data $TMP/nwucla-2d --methods random --seeds 0,1,2
    python benchmarks/baselines/nwucla_2d.py --data $TMP/nwucla-2d --methods simclr --seeds 0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import (
    NWUCLA_ROOT,
    encoder_label,
    machine,
    mean_std,
    mean_std_text,
    paired_differences,
    pretrain_reusing,
    require_nwucla,
    results_dir,
    summary_row,
    write_json,
    write_markdown,
)
from skelssl.config import RunConfig, load_config
from skelssl.data.cache import load_dataset
from skelssl.data.projection import project_joints
from skelssl.data.readers.arrays import write_npz
from skelssl.data.types import SkeletonData
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.runs import load_run, pretrain

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "nwucla" / "simclr.yaml"
RESULTS = results_dir("baselines")
NATIVE_FRAMES = 400  # longer than any NW-UCLA clip (201 frames): every clip at its own rate
INPUTS = {"3d": "nwucla_3d.npz", "2d": "nwucla_2d.npz"}
INPUT_LABELS = {"3d": "3d", "2d": "2d-coco17"}  # the summary rows' ``input``
METHODS = ("random", "simclr")
SPLIT = "xview"


# --------------------------------------------------------------------------- preparing
def raw_nwucla_config(root: Path) -> RunConfig:
    """The shipped recipe reading NW-UCLA at ``root`` at its native frame rate (``at-most``
    400 frames) with no spatial step: raw camera-space xyz."""
    config = load_config("simclr", CONFIG, [f"data.root={root}", f"data.split={SPLIT}"])
    preprocess = dataclasses.replace(
        config.data.preprocess, frames=NATIVE_FRAMES, temporal="at-most",
        center=False, view_normalize=False, minmax=False,
    )  # fmt: skip
    return dataclasses.replace(config, data=dataclasses.replace(config.data, preprocess=preprocess))


def to_2d(data: SkeletonData) -> SkeletonData:
    """``data`` (``kinect-v1-20`` xyz, ``(N, T, M, 20, 3)``) projected to COCO-17 pixels with a
    score, ``(N, T, M, 17, 3)``; padding frames (all zero) stay zero."""
    joints = np.asarray(data.joints)
    n, t, m = joints.shape[:3]
    flat = project_joints(joints.reshape(n * t, m, *joints.shape[3:]), data.layout)
    projected = flat.reshape(n, t, m, *flat.shape[2:])
    return dataclasses.replace(
        data, joints=projected, layout="coco-17", coords="xy+score",
        source=f"{data.source} (2D coco-17 projection)",
    )  # fmt: skip


def prepare(root: Path, out: Path) -> dict[str, Path]:
    """Write ``out/nwucla_3d.npz`` and ``out/nwucla_2d.npz`` (see the module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(raw_nwucla_config(root).data, quiet=True)
    longest = int(np.max(data.lengths))  # the padding beyond the longest clip dropped
    data = dataclasses.replace(data, joints=np.asarray(data.joints[:, :longest], dtype=np.float32))
    data.splits = {SPLIT: np.asarray(data.split_mask(SPLIT), dtype=bool)}
    paths = {"3d": out / INPUTS["3d"], "2d": out / INPUTS["2d"]}
    write_npz(data, paths["3d"])
    write_npz(to_2d(data), paths["2d"])
    train = int(data.splits[SPLIT].sum())
    print(f"{len(data.labels)} clips ({train} train views 1+2, {len(data.labels) - train} test"
          f" view 3), up to {data.joints.shape[1]} frames -> {paths['3d']}, {paths['2d']}")  # fmt: skip
    return paths


# --------------------------------------------------------------------------- measuring
def run_config(method: str, data_file: Path, seed: int, epochs: int | None) -> RunConfig:
    """The shipped recipe (``random``: its untrained encoder) reading ``data_file``."""
    overrides = [f"data.name={data_file}", "data.root=null", f"data.split={SPLIT}",
                 f"train.seed={seed}"]  # fmt: skip
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    return load_config(method, CONFIG, overrides)


def measure(method: str, data_file: Path, seed: int, epochs: int | None, work: Path) -> dict:
    """Pre-train (or reuse a finished run of the same config) and evaluate on view 3."""
    config = run_config(method, data_file, seed, epochs)
    run_dir = work / f"{method}-{data_file.stem}-seed{seed}"
    started = time.time()
    summary, how = pretrain_reusing(config, run_dir, True, pretrain,
                                    say=lambda text: print(f"{run_dir.name}: {text}", flush=True))  # fmt: skip
    minutes = (time.time() - started) / 60 if how == "trained" else None
    run = load_run(run_dir, quiet=True)
    train, test = run.data.split(run.split)
    linear = linear_probe(run.encoder, train, test, run.config.evaluation, quiet=True)
    nearest = knn(run.encoder, train, test, run.config.evaluation, quiet=True)
    return {
        "linear_top1": linear["top1"],
        "knn_top1": nearest["top1"],
        "knn": f"k={nearest['k']} {nearest['metric']}",
        "epochs": summary.get("epochs"),
        "pretrain_minutes": round(minutes, 1) if minutes is not None else None,
        "n_train": linear["n_train"],
        "n_test": linear["n_test"],
        "encoder": encoder_label(config.encoder),
        "frames": config.data.preprocess.frames,
    }


def row_stats(row: dict) -> None:
    """Mean and std over seeds of ``row``'s per-seed numbers, in place."""
    per_seed = row["per_seed"]
    row["seeds"] = sorted(int(seed) for seed in per_seed)
    for key in ("linear_top1", "knn_top1"):
        mean, std = mean_std([per_seed[seed][key] for seed in per_seed])
        row[f"{key}_mean"], row[f"{key}_std"] = mean, std


def differences(rows: dict) -> dict:
    """Per method: the 2D - 3D difference of linear and kNN top-1, paired by seed."""
    found = {}
    for method in METHODS:
        three, two = rows.get(f"{method}/3d"), rows.get(f"{method}/2d")
        if not (three and two):
            continue
        entry = {}
        for key in ("linear_top1", "knn_top1"):
            mine = {int(s): v[key] for s, v in two["per_seed"].items()}
            theirs = {int(s): v[key] for s, v in three["per_seed"].items()}
            values = paired_differences(mine, theirs)
            mean, std = mean_std(values)
            entry[key] = {"per_seed": values, "mean": mean, "std": std,
                          "seeds": sorted(set(mine) & set(theirs))}  # fmt: skip
        found[method] = entry
    return found


def summary_rows(rows: dict, device: str) -> list[dict]:
    """One row of the results contract per (method, input), with the extra field ``input``."""
    found = []
    for row in rows.values():
        per_seed = row["per_seed"]
        minutes = [v["pretrain_minutes"] for v in per_seed.values() if v["pretrain_minutes"]]
        found.append(
            summary_row(
                method=row["method"],
                encoder=row["encoder"],
                frames=row["frames"],
                seeds=row["seeds"],
                epochs=row["epochs"],
                minutes=round(float(np.mean(minutes)), 1) if minutes else None,
                device=device,
                linear=[per_seed[s]["linear_top1"] for s in per_seed],
                knn=[per_seed[s]["knn_top1"] for s in per_seed],
                source="nwucla_2d.json",
                input=INPUT_LABELS[row["input"]],
                **({"note": row["note"]} if row.get("note") else {}),
            )  # fmt: skip
        )
    return found


def write_results(payload: dict, out: Path, seeds: list[int], configs=None) -> None:
    """``out/nwucla_2d.json`` (with provenance: commit, command, ``configs`` the resolved
    configs of the rows measured, seeds) and ``out/nwucla_2d.md`` from ``payload``."""
    rows = payload["rows"]
    for row in rows.values():
        row_stats(row)
    payload["differences_2d_minus_3d"] = differences(rows)
    payload["summary_rows"] = summary_rows(rows, payload["machine"]["device"])
    all_seeds = sorted({s for row in rows.values() for s in row["seeds"]}) or seeds
    write_json(out / "nwucla_2d.json", payload, configs=configs or {}, seeds=all_seeds)  # fmt: skip
    write_markdown(out / "nwucla_2d.md", markdown(payload))


def markdown(payload: dict) -> list[str]:
    rows = payload["rows"]
    lines = [
        "# NW-UCLA cross-view, 3D Kinect joints against their 2D COCO-17 projection",
        "",
        "Train views 1+2 (1020 clips), test view 3 (464); `configs/nwucla/simclr.yaml` for "
        "both methods (`random`: its untrained encoder). 2D: each Kinect joint through a "
        "pinhole camera (f = 525 px, 640 x 480), the 12 COCO-17 joints Kinect v1 shares plus "
        "the nose from the head (score 1), eyes and ears undetected (score 0). Linear probe "
        "and kNN (k=1, cosine) on the frozen encoder; final-epoch numbers, mean ± std over "
        "seeds (sample std). Commands: `benchmarks/baselines/README.md`.",
        "",
        f"Machine: {payload['machine']['cpu']}, {payload['machine']['device']}.",
        "",
        "| method | input | epochs | seeds | linear top-1 % | kNN top-1 % | pre-train min/seed"
        " | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows.values():
        per_seed = row["per_seed"].values()
        minutes = [v["pretrain_minutes"] for v in per_seed if v["pretrain_minutes"]]
        lines.append(
            f"| {row['method']} | {INPUT_LABELS[row['input']]} | {row['epochs']} | "
            f"{','.join(map(str, row['seeds']))} | "
            f"{mean_std_text([v['linear_top1'] for v in per_seed])} | "
            f"{mean_std_text([v['knn_top1'] for v in per_seed])} | "
            f"{mean_std_text(minutes) if minutes else '-'} | `{row['command']}` |"
        )
    lines += ["", "Per seed (linear / kNN top-1 %):", ""]
    for row in rows.values():
        cells = [f"seed {s}: {v['linear_top1']:.1f} / {v['knn_top1']:.1f}"
                 for s, v in row["per_seed"].items()]  # fmt: skip
        lines.append(f"- {row['method']} {INPUT_LABELS[row['input']]}: " + "; ".join(cells))
    lines += ["", "2D − 3D, paired by seed (percentage points):", ""]
    for method, entry in payload["differences_2d_minus_3d"].items():
        parts = [
            f"{name} {mean_std_text(entry[key]['per_seed'], signed=True)} "
            f"(seeds {','.join(map(str, entry[key]['seeds']))}: "
            + ", ".join(f"{v:+.1f}" for v in entry[key]["per_seed"]) + ")"
            for name, key in (("linear", "linear_top1"), ("kNN", "knn_top1"))
        ]  # fmt: skip
        lines.append(f"- {method}: " + "; ".join(parts))
    notes = [f"- {row['method']} {INPUT_LABELS[row['input']]}: {row['note']}"
             for row in rows.values() if row.get("note")]  # fmt: skip
    if notes:
        lines += ["", "Notes:", "", *notes]
    return lines


def fresh_row(previous: dict | None, method: str, name: str, epochs: int | None, args) -> dict:
    """The row of ``method`` on input ``name``: the per-seed numbers of ``previous`` kept
    when they were measured with the same epoch count, with this command and note."""
    if previous is None or previous.get("epochs_override") != epochs:
        previous = {"per_seed": {}}  # another epoch count: not the same row
    command = (f"python benchmarks/baselines/nwucla_2d.py --data $TMP/nwucla-2d "
               f"--methods {method} --inputs {','.join(args.inputs.split(','))} "
               f"--seeds {args.seeds}" + (f" --epochs {epochs}" if epochs is not None else ""))  # fmt: skip
    row = {**previous, "method": method, "input": name, "epochs_override": epochs,
           "command": command}  # fmt: skip
    if args.note:
        row["note"] = args.note
    return row


def run_rows(args) -> None:
    seeds = [int(s) for s in args.seeds.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    inputs = [i for i in args.inputs.split(",") if i]
    for name in methods:
        if name not in METHODS:
            raise SystemExit(f"--methods: unknown method {name!r} (known: {', '.join(METHODS)})")
    for name in inputs:
        if name not in INPUTS:
            raise SystemExit(f"--inputs: unknown input {name!r} (known: {', '.join(INPUTS)})")
    for name in inputs:
        if not (args.data / INPUTS[name]).is_file():
            print(f"{args.data / INPUTS[name]} not found: run with --prepare {args.data} first",
                  file=sys.stderr)  # fmt: skip
            raise SystemExit(2)
    path = args.out / "nwucla_2d.json"
    payload = json.loads(path.read_text()) if path.is_file() else {}
    payload["machine"] = machine()
    rows = payload.setdefault("rows", {})
    configs = {}  # the resolved config of each row measured (its last seed's)
    for method in methods:
        epochs = None if method == "random" else args.epochs
        fresh = {name: fresh_row(rows.get(f"{method}/{name}"), method, name, epochs, args)
                 for name in inputs}  # fmt: skip
        for seed in seeds:  # seed by seed, both inputs: a stopped run leaves paired seeds
            for name in inputs:
                key = f"{method}/{name}"
                result = measure(method, args.data / INPUTS[name], seed, epochs, args.work)
                earlier = fresh[name]["per_seed"].get(str(seed)) or {}
                if result["pretrain_minutes"] is None:  # a reused run: keep its training time
                    result["pretrain_minutes"] = earlier.get("pretrain_minutes")
                print(json.dumps({key: {seed: result}}), flush=True)
                rows[key] = fresh[name]  # a row enters the file with its first seed
                rows[key]["per_seed"][str(seed)] = result
                rows[key].update(encoder=result["encoder"], frames=result["frames"],
                                 epochs=result["epochs"])  # fmt: skip
                configs[key] = run_config(method, args.data / INPUTS[name], seed, epochs)
                write_results(payload, args.out, seeds, configs)
    print((args.out / "nwucla_2d.md").read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepare", type=Path, metavar="DIR",
                        help="write DIR/nwucla_3d.npz and DIR/nwucla_2d.npz, then stop")  # fmt: skip
    parser.add_argument("--root", type=Path, default=NWUCLA_ROOT, help="NW-UCLA's all_sqe")
    parser.add_argument("--data", type=Path, help="the folder --prepare wrote")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--inputs", default="3d,2d")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the recipe's 200 epochs (simclr; recorded in the row)")  # fmt: skip
    parser.add_argument("--note", default="", help="a note recorded in the rows measured")
    parser.add_argument("--work", type=Path,
                        default=Path(os.environ.get("SKELSSL_BENCH_WORK", "runs/bench-nwucla-2d")))  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.prepare is not None:
        require_nwucla(args.root)
        prepare(args.root, args.prepare)
        return
    if args.data is None:
        parser.error("give --prepare DIR or --data DIR")
    run_rows(args)


if __name__ == "__main__":
    main()
