"""The GRU encoders on NW-UCLA's real clip lengths: the CPU path for padded batches
(:func:`skelssl.models.gru.padded_gru`) against packing (our code before it).

Each row is a config's input as it prepares NW-UCLA's training views (``ms2l``: native
frame rate zero-padded to 200 frames; ``crrl``: at most 50 frames, shorter clips padded)
and the encoder the paper uses on it. Per round, one batch of training clips drawn at
random is sent forward and backward (sum of squared features) through both encoders
(same weights), timed in CPU seconds, interleaved; the speedup is the median over rounds
of the per-round ratio, the first round untimed.

    OMP_NUM_THREADS=1 python benchmarks/speed/gru_real_lengths.py [--rounds 6] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np
import torch

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import (
    NWUCLA_ROOT,
    REPO,
    load_average,
    machine,
    utc_now,
    write_json,
    write_markdown,
)
from benchmarks.speed.encoders import PreviousGRUEncoder
from skelssl.config import load_config
from skelssl.data.cache import load_dataset
from skelssl.data.types import DataSpec
from skelssl.models import ENCODER_PRESETS, build_encoder

ROWS = (("ms2l", "gru-ms2l"), ("crrl", "gru-crrl"))  # (config, its paper's encoder)


def timed_backward(encoder, x: torch.Tensor, lengths: torch.Tensor) -> float:
    """CPU seconds of one forward and backward of ``encoder`` on ``(x, lengths)``."""
    start = time.process_time()
    encoder(x, lengths).square().sum().backward()
    return time.process_time() - start


def time_config(name: str, preset: str, args) -> dict:
    config = load_config(None, REPO / f"configs/nwucla/{name}.yaml", [f"data.root={args.root}"])
    train, _ = load_dataset(config.data, quiet=True).split("xview")
    frames, lengths = train.joints.shape[1], np.asarray(train.lengths)
    spec = DataSpec.of(train)
    torch.manual_seed(args.seed)
    ours = build_encoder(ENCODER_PRESETS[preset], spec)
    packing = PreviousGRUEncoder(ENCODER_PRESETS[preset], spec)
    packing.load_state_dict(ours.state_dict())
    rng = np.random.default_rng(args.seed)
    seconds = {"ours": [], "packing": []}
    for _ in range(args.rounds + 1):
        rows = np.sort(rng.choice(len(lengths), args.batch, replace=False))
        x = torch.from_numpy(np.asarray(train.joints[rows], dtype=np.float32))
        batch_lengths = torch.from_numpy(lengths[rows]).long()
        for kind, encoder in (("ours", ours), ("packing", packing)):
            seconds[kind].append(timed_backward(encoder, x, batch_lengths))
    ratios = [b / a for a, b in zip(seconds["ours"][1:], seconds["packing"][1:], strict=True)]
    return {
        "config": name, "encoder": preset, "frames": int(frames), "batch": args.batch,
        "median_length": float(np.median(lengths)),
        "padded_fraction": float(np.mean(lengths < frames)),
        "cpu_seconds": seconds, "speedup_over_packing": median(ratios),
        "load_average_1min": load_average(),
    }  # fmt: skip


def markdown(report: dict) -> list[str]:
    lines = [
        "# GRU encoders on NW-UCLA's real clip lengths (CPU)",
        "",
        f"Command: `{report['command']}`. {report['machine']['cpu']}, torch "
        f"{report['machine']['torch']}, {report['machine']['threads']} thread(s); "
        f"{report['started']} to {report['finished']}. Forward + backward of the encoder on "
        "one batch of training clips per round, CPU seconds, interleaved; speedup = median "
        "over rounds of packing's CPU seconds / ours (the first round untimed).",
        "",
        "| config | encoder | T | median length | padded clips | batch | ours CPU-s "
        "| packing CPU-s | speedup | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        ours, packing = (median(row["cpu_seconds"][k][1:]) for k in ("ours", "packing"))
        lines.append(
            f"| {row['config']} | {row['encoder']} | {row['frames']} "
            f"| {row['median_length']:.0f} | {100 * row['padded_fraction']:.0f} % "
            f"| {row['batch']} | {ours:.3f} | {packing:.3f} "
            f"| {row['speedup_over_packing']:.2f}x | {row['load_average_1min']} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=NWUCLA_ROOT)
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "speed" / "results")
    args = parser.parse_args()
    if not args.root.exists():
        raise SystemExit(f"skipped: NW-UCLA is not at {args.root} (see ../shared/datasets)")
    torch.set_num_threads(1)
    report = {
        "command": " ".join(["python", *sys.argv]), "machine": machine("cpu"),
        "started": utc_now(), "rows": [],
    }  # fmt: skip
    for name, preset in ROWS:
        report["rows"].append(time_config(name, preset, args))
        report["finished"] = utc_now()
        write_json(args.out / "gru_real_lengths.json", report)
        write_markdown(args.out / "gru_real_lengths.md", markdown(report))
        print(markdown(report)[-1], flush=True)


if __name__ == "__main__":
    main()
