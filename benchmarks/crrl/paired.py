"""Two CRRL benchmark results paired by seed: ``A − B`` per row, linear and kNN.

Reads two ``crrl/table.py`` result JSONs (``rows -> row -> per_seed -> seed``) and prints,
for every row both hold (or the ``--rows`` named; ``--as`` maps a row of A to a row of B),
the mean ± std (ddof 1) of the per-seed differences over the seeds both ran, and on how many
seeds A is higher. The gap accounting's paired numbers (``docs/methods/crrl-gap.md``) come from it:

    python benchmarks/crrl/paired.py \\
        benchmarks/crrl/results/nwucla_crrl/crrl_width_256_full_pc_preparation.json \\
        benchmarks/crrl/results/nwucla_crrl/ser_width_256_full.json --rows ser

Each side may be a comma list of result JSONs of one config run apart (say seeds 0-2 and
3-5): their seeds are merged, and a seed two files share must hold the same numbers. With A
alone it prints each row's mean ± std over A's seeds; CRRL − SER over six seeds is

    F=benchmarks/crrl/results/nwucla_crrl
    A=$F/crrl_width_256_full_pc_preparation.json,$F/crrl_width_256_full_pc_preparation_seeds_3_5.json
    python benchmarks/crrl/paired.py $A $A --rows crrl --as crrl:ser

A file that is missing or not such a JSON, or two files that disagree on a seed, stop it
with a one-line error (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import mean_std_text, paired_differences

METRICS = ("linear_top1", "knn_top1")


Runs = dict[str, dict[int, dict]]  # row -> seed -> that run's numbers


class ResultFileError(Exception):
    """A result file that cannot be read as ``rows -> row -> per_seed -> seed``."""


def per_seed(path: Path) -> Runs:
    """Row -> seed -> that run's numbers, from a result JSON."""
    try:
        rows = json.loads(path.read_text())["rows"]
        return {
            row: {int(s): run for s, run in value["per_seed"].items()}
            for row, value in rows.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        problem = error.strerror if isinstance(error, OSError) else f"not a result JSON ({error!r})"
        raise ResultFileError(f"{path}: {problem}") from None


def merged_per_seed(paths: list[Path]) -> Runs:
    """Row -> seed -> numbers over several result JSONs of one config (their seeds merged);
    a seed held by two files with different numbers is refused."""
    merged: dict[str, dict[int, dict]] = {}
    for path in paths:
        for row, runs in per_seed(path).items():
            held = merged.setdefault(row, {})
            for seed, run in runs.items():
                if seed in held and any(held[seed][m] != run[m] for m in METRICS):
                    raise ResultFileError(
                        f"{path}: seed {seed} of {row} differs from an earlier file's"
                    )
                held[seed] = run
    return merged


def paired_lines(a: Runs, b: Runs, pairs: list[tuple[str, str]]) -> list[str]:
    """One line per (row of ``a``, row of ``b``): both means and A − B paired."""
    lines = []
    for row_a, row_b in pairs:
        if row_a not in a or row_b not in b:
            lines.append(f"{row_a} - {row_b}: not in both files")
            continue
        seeds = sorted(set(a[row_a]) & set(b[row_b]))
        parts = []
        for metric in METRICS:
            mine, theirs = ({s: runs[s][metric] for s in seeds} for runs in (a[row_a], b[row_b]))
            differences = paired_differences(mine, theirs)
            higher = sum(d > 0 for d in differences)
            parts.append(f"{metric} {mean_std_text(mine.values())} vs "
                         f"{mean_std_text(theirs.values())}: "
                         f"{mean_std_text(differences, signed=True)} (A higher on {higher} of "
                         f"{len(seeds)})")  # fmt: skip
        lines.append(f"{row_a} - {row_b}, seeds {seeds}: " + "; ".join(parts))
    return lines


def mean_lines(a: Runs, rows: list[str]) -> list[str]:
    """One line per row of ``a``: mean ± std over its seeds."""
    lines = []
    for row in rows:
        if row not in a:
            lines.append(f"{row}: not in the files")
            continue
        seeds = sorted(a[row])
        parts = [
            f"{metric} {mean_std_text(a[row][s][metric] for s in seeds)}" for metric in METRICS
        ]
        lines.append(f"{row}, seeds {seeds}: " + "; ".join(parts))
    return lines


def paths(text: str) -> list[Path]:
    """A comma list of result JSONs."""
    return [Path(item) for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", type=paths, help="result JSON(s) A, comma list")
    parser.add_argument("second", type=paths, nargs="?", help="result JSON(s) B, comma list")
    parser.add_argument("--rows", default="", help="comma list of rows (default: all of A's)")
    parser.add_argument("--as", dest="renames", default="",
                        help="comma list ROW_A:ROW_B pairing differently named rows")  # fmt: skip
    args = parser.parse_args()
    renames = dict(pair.split(":", 1) for pair in args.renames.split(",") if pair)
    try:
        a = merged_per_seed(args.first)
        rows = [r for r in args.rows.split(",") if r] or list(a)
        if args.second is None:
            lines = mean_lines(a, rows)
        else:
            pairs = [(row, renames.get(row, row)) for row in rows]
            lines = paired_lines(a, merged_per_seed(args.second), pairs)
        print("\n".join(lines))
    except ResultFileError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
