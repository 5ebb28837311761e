"""DIAGNOSTIC: how far rounding alone moves one seed's final-epoch Rand-S on NW-UCLA.

The GRU over a padded batch has two exact implementations in ``skelssl.models.gru``:
:func:`~skelssl.models.gru.padded_gru` (the CPU default) and
:func:`~skelssl.models.gru.packed_gru` (cuDNN's packing, used on a GPU). They give the same
states and gradients up to float rounding (``tests/test_models.py``). This script trains
MS²L's Rand-S (the classifier C on a random 1×30 bi-GRU, 60 epochs, the test records'
settings: ``benchmarks/ms2l/table.py --rows rand-s``) once under each, same seed, same batches, same
initialisation, and reports the final test top-1 of both and their difference. Whatever
differs between the two numbers is rounding amplified by training: a floor under the
seed-to-seed spread of a single run, and under any comparison of one run with one number.
It reads the test split at the final epoch only, as the records do; it chooses nothing.

    python benchmarks/ms2l/diagnostics/rounding.py --seeds 0,1,2

Found (seeds 0-5, ``results/nwucla_ms2l_rounding.md``): padded 81.8 ± 2.5, packed 81.6 ±
1.9, packed − padded −0.2 ± 1.3, a mean absolute difference of 0.97 points from rounding
alone: one run against one number cannot resolve differences of about a point.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.common import (
    NWUCLA_ROOT,
    REPO,
    machine,
    mean_std_text,
    paired_differences,
    require_nwucla,
    write_json,
    write_markdown,
)
from benchmarks.ms2l.table import STRATEGY_DEFAULTS, load_splits, random_method, strategy_settings
from skelssl.evaluation.ms2l import train_recognition
from skelssl.models import gru as gru_module
from skelssl.report import markdown_table

PATHS = ("padded", "packed")  # the CPU default, and packing as on a GPU


def rand_s(splits, seed: int, path: str) -> dict:
    """Rand-S of ``seed`` with the GRU over padded batches run by ``path``."""
    config, train_data, test_data, _ = splits
    args = SimpleNamespace(**STRATEGY_DEFAULTS)
    implementation = gru_module.padded_gru if path == "padded" else gru_module.packed_gru
    with mock.patch.object(gru_module, "padded_gru", implementation):
        result = train_recognition(
            "rand-s", random_method(config, train_data, seed), train_data, test_data,
            strategy_settings(args, config, "rand-s"), seed=seed,
        )  # fmt: skip
    return {"top1": round(result["top1"], 2), "final_loss": round(result["cls_curve"][-1], 4),
            "minutes": round(result["seconds"] / 60, 2)}  # fmt: skip


def run(args, seeds: list[int]) -> dict:
    """``{path: {seed: record}}``, each run kept in ``WORK`` (one process per seed may run
    beside the others; a later call gathers them)."""
    splits = None
    runs: dict[str, dict] = {path: {} for path in PATHS}
    for seed in seeds:
        for path in PATHS:
            kept = args.work / f"rand-s-{path}-seed{seed}.json"
            if not kept.exists():
                splits = splits or load_splits(args, [], validate=False)
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(json.dumps(rand_s(splits, seed, path)))
            runs[path][seed] = json.loads(kept.read_text())
            print(seed, path, runs[path][seed], flush=True)
    return runs


def write(args, runs: dict, command: str) -> None:
    seeds = list(runs["padded"])
    padded, packed = ({s: runs[p][s]["top1"] for s in seeds} for p in PATHS)
    differences = paired_differences(packed, padded)
    table = [{"seed": s, "padded": f"{padded[s]:.2f}", "packed": f"{packed[s]:.2f}",
              "difference": f"{packed[s] - padded[s]:+.2f}"} for s in seeds]  # fmt: skip
    summary = {
        "padded": mean_std_text(list(padded.values())),
        "packed": mean_std_text(list(packed.values())),
        "packed_minus_padded": mean_std_text(differences, signed=True),
        "mean_absolute_difference": round(sum(abs(d) for d in differences) / len(seeds), 2),
    }
    payload = {"machine": machine("cpu"), "command": command, "summary": summary,
               "table": table, "runs": runs}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{args.stem}.json", payload)
    write_markdown(
        args.out / f"{args.stem}.md",
        [
            "# MS²L on NW-UCLA: Rand-S under two exact GRU implementations (rounding alone)",
            "",
            "DIAGNOSTIC: Rand-S (views 1+2 -> view 3, 60 epochs of C, the test records' "
            "settings) trained twice per seed, the GRU over padded batches run by "
            "`padded_gru` (the CPU default) and by `packed_gru` (packing, as on a GPU): the "
            "same computation up to float rounding. Final-epoch test top-1 %.",
            f"Machine: {payload['machine']}.",
            f"Command: `{command}`",
            "",
            markdown_table(
                table,
                ["seed", "padded", "packed", "difference"],
                ["seed", "padded_gru", "packed_gru", "packed − padded"],
            ),  # fmt: skip
            "",
            f"Mean ± std over seeds {args.seeds}: padded {summary['padded']}, packed "
            f"{summary['packed']}, packed − padded {summary['packed_minus_padded']} (mean "
            f"absolute difference {summary['mean_absolute_difference']} points).",
        ],
    )
    print((args.out / f"{args.stem}.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(NWUCLA_ROOT))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench/ms2l-rounding"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "ms2l" / "results")
    parser.add_argument("--stem", default="nwucla_ms2l_rounding")
    args = parser.parse_args()
    require_nwucla(args.root)
    args.base, args.quick = [], False  # what nwucla_ms2l's helpers read
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = run(args, seeds)
    command = "python benchmarks/ms2l/diagnostics/rounding.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:]
    )
    write(args, runs, command)


if __name__ == "__main__":
    main()
