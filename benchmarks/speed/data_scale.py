"""Data at NTU-120 scale: streaming cache preparation and bounded-memory iteration.

Generates >= 100,000 synthetic sequences (``ntu-25``, 2 bodies, 80-120 frames), prepares
the memory-mapped cache with :func:`skelssl.data.cache.load_dataset`, then iterates one
epoch of batches with a ``DataLoader`` over ``TorchSkeletonDataset``. Each phase runs in
its own subprocess that reports its peak RSS (``VmHWM``, and ``ru_maxrss`` of its own
worker processes), so the numbers are not mixed between phases. Also times the NTU
reader on the 12 raw sample files.

    nice -n 10 python benchmarks/speed/data_scale.py            # full run (minutes), writes results
    python benchmarks/speed/data_scale.py --subjects 2 --takes 2  # a quick smoke run

Results: ``benchmarks/speed/results/data_scale.{json,md}``. The cache goes under ``--work``
(default: a new folder in /tmp) and is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import REPO, machine, write_json

RESULTS = REPO / "benchmarks" / "speed" / "results"
NTU_SAMPLES = REPO.parent / "shared" / "datasets" / "ntu-samples" / "nturgb+d_skeletons"
GIB = 2**30


def data_config(args, cache_dir: str):
    from skelssl.data.preprocess import PreprocessConfig
    from skelssl.data.sources import DataConfig
    from skelssl.data.synthetic import SyntheticConfig

    synthetic = SyntheticConfig(
        classes=12, subjects=args.subjects, takes=args.takes, cameras=3, bodies=2,
        min_frames=80, max_frames=120, seed=0,
    )  # fmt: skip
    return DataConfig(
        name="synthetic",
        cache_dir=cache_dir,
        synthetic=synthetic,
        preprocess=PreprocessConfig(frames=args.frames),
    )


def peak_rss() -> dict:
    """This process's peak RSS (VmHWM) and its finished children's largest ru_maxrss, in MiB."""
    hwm_kib = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm_kib = int(line.split()[1])
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "peak_rss_mib": round(hwm_kib / 1024, 1),
        "workers_peak_rss_mib": round(children_kib / 1024, 1),
    }


# ---------------------------------------------------------------- phases (subprocesses)


def phase_generate(args) -> dict:
    """Raw generation rate alone (iter_sequences), on the first ``--parse-sample`` sequences."""
    from itertools import islice

    from skelssl.data.synthetic import iter_sequences

    config = data_config(args, args.work).synthetic
    started = time.perf_counter()
    frames = sum(s.num_frames for s in islice(iter_sequences(config), args.parse_sample))
    seconds = time.perf_counter() - started
    return {"sequences": args.parse_sample, "seconds": round(seconds, 2),
            "sequences_per_s": round(args.parse_sample / seconds, 1),
            "mean_raw_frames": round(frames / args.parse_sample, 1)}  # fmt: skip


def phase_prepare(args) -> dict:
    from skelssl.data.cache import cache_directory, load_dataset

    config = data_config(args, args.work)
    started = time.perf_counter()
    data = load_dataset(config, quiet=False)
    seconds = time.perf_counter() - started
    directory = cache_directory(config)
    size = sum(p.stat().st_size for p in directory.iterdir())
    return {
        "sequences": len(data),
        "shape": list(data.shape),
        "seconds": round(seconds, 1),
        "sequences_per_s": round(len(data) / seconds, 1),
        "cache_bytes": size,
        "cache_gib": round(size / GIB, 3),
        "joints_in_memory_gib": round(data.joints.nbytes / GIB, 3),
        **peak_rss(),
    }


def phase_iterate(args) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from skelssl.data.cache import load_dataset
    from skelssl.data.sampling import TorchSkeletonDataset

    data = load_dataset(data_config(args, args.work), quiet=True)
    loader = DataLoader(
        TorchSkeletonDataset(data),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.loader_workers,
        generator=torch.Generator().manual_seed(0),
    )
    batches = samples = 0
    checksum = 0.0
    started = time.perf_counter()
    for batch in loader:
        batches += 1
        samples += batch["joints"].shape[0]
        checksum += float(batch["joints"][:, 0].sum())  # touch the data
    seconds = time.perf_counter() - started
    assert samples == len(data), (samples, len(data))
    return {
        "loader_workers": args.loader_workers,
        "batch_size": args.batch_size,
        "batches": batches,
        "seconds": round(seconds, 1),
        "batches_per_s": round(batches / seconds, 2),
        "samples_per_s": round(samples / seconds, 1),
        **peak_rss(),
    }


def phase_ntu(args) -> dict:
    from skelssl.data.readers.ntu import read_ntu

    if not NTU_SAMPLES.is_dir():
        return {"skipped": f"NTU samples not found at {NTU_SAMPLES}"}
    timings = []
    for _ in range(args.ntu_repeats):
        started = time.perf_counter()
        raw = read_ntu(NTU_SAMPLES, variant="ntu60", workers=1, quiet=True)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    frames = sum(s.num_frames for s in raw.sequences)
    return {
        "files": len(raw.sequences),
        "frames": frames,
        "best_seconds": round(best, 3),
        "sequences_per_s": round(len(raw.sequences) / best, 1),
        "frames_per_s": round(frames / best, 1),
        "repeats": args.ntu_repeats,
    }


PHASES = {
    "generate": phase_generate,
    "prepare": phase_prepare,
    "iterate": phase_iterate,
    "ntu": phase_ntu,
}


def run_phase(name: str, argv: list[str], **extra) -> dict:
    """Run one phase in a fresh Python process; its last stdout line is the JSON result."""
    command = [sys.executable, __file__, "--phase", name, *argv]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    print(f"== {name}", file=sys.stderr, flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report


def write_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "data_scale.json", results)
    prep, gen, ntu = results["prepare"], results["generate"], results["ntu"]
    lines = [
        "# Data at scale: streaming cache and bounded-memory iteration",
        "",
        f"`{results['command']}` on {results['machine']} ({results['date']}).",
        "",
        f"Dataset: {prep['sequences']:,} synthetic sequences (ntu-25, 2 bodies, "
        f"{gen['mean_raw_frames']} raw frames on average), prepared to shape "
        f"{tuple(prep['shape'])}: **{prep['joints_in_memory_gib']} GiB** as one in-memory array.",
        "",
        "| phase | throughput | peak RSS |",
        "|---|---|---|",
        f"| generate raw sequences (synthetic, {gen['sequences']:,}) | {gen['sequences_per_s']:,} seq/s | – |",
        f"| prepare cache (generate + preprocess + write, {prep['seconds']} s) | "
        f"{prep['sequences_per_s']:,} seq/s | {prep['peak_rss_mib']:,} MiB |",
    ]
    for item in results["iterate"]:
        workers_rss = (
            f" (+ {item['workers_peak_rss_mib']:,} MiB per worker)"
            if item["loader_workers"]
            else ""
        )
        lines.append(
            f"| one epoch, DataLoader batch {item['batch_size']}, shuffle, "
            f"{item['loader_workers']} workers ({item['seconds']} s) | {item['batches_per_s']} batches/s "
            f"({item['samples_per_s']:,} samples/s) | {item['peak_rss_mib']:,} MiB{workers_rss} |"
        )
    if "skipped" not in ntu:
        lines.append(
            f"| NTU reader, {ntu['files']} raw sample files, 1 process (best of {ntu['repeats']}) | "
            f"{ntu['sequences_per_s']} seq/s ({ntu['frames_per_s']:,.0f} frames/s) | – |"
        )
    lines += [
        "",
        f"Cache on disk: {prep['cache_gib']} GiB (`joints.npy` float32 memmap + metadata).",
        "Peak RSS is `VmHWM` of the phase's own process; DataLoader workers report "
        "`ru_maxrss` (largest worker). The cache memmap hands its pages back to the kernel "
        "every 2 MiB of rows read (`ReleasingMemmap`), so iterating stays far below the dataset's "
        "size; preparation keeps one 1,024-sequence chunk in memory at a time.",
        "",
    ]
    (RESULTS / "data_scale.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help="folder for the cache (default: new in /tmp)")
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--takes", type=int, default=70)  # 12 x 40 x 70 x 3 = 100,800
    parser.add_argument("--frames", type=int, default=100, help="prepared frames T")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--loader-workers", type=int, default=0)
    parser.add_argument("--parse-sample", type=int, default=3000)
    parser.add_argument("--ntu-repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not write the results files")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="skelssl-data-scale-", dir="/tmp"))
    argv = ["--work", str(work), "--subjects", str(args.subjects), "--takes", str(args.takes),
            "--frames", str(args.frames), "--batch-size", str(args.batch_size),
            "--parse-sample", str(args.parse_sample), "--ntu-repeats", str(args.ntu_repeats)]  # fmt: skip
    try:
        results = {
            "command": "nice -n 10 python benchmarks/speed/data_scale.py " + " ".join(sys.argv[1:]),
            "machine": {**machine(), "cpus": os.cpu_count()},
            "date": time.strftime("%Y-%m-%d"),
            "generate": run_phase("generate", argv),
            "prepare": run_phase("prepare", argv),
            "iterate": [run_phase("iterate", argv, loader_workers=w) for w in (0, 2)],
            "ntu": run_phase("ntu", argv),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if not args.no_write:
        write_results(results)


if __name__ == "__main__":
    main()
