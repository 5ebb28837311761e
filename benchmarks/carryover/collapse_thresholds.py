"""The evidence behind the collapse check's thresholds (``skelssl.diagnostics``): each run's
encoder-feature effective rank and mean cosine over training, against its untrained start.

Reads finished (or stopped) run directories only: ``metrics.jsonl``'s ``feature_rank`` /
``feature_cosine`` (step 0 = the untrained encoder, then every logged step) and
``summary.json``'s ``collapse`` block. Per run: the rank at the start, its lowest and last
value and the lowest ratio to the start past the monitor's grace period, the highest mean
cosine there, and whether the run warned. Reported collapsed runs of other datasets that
we could not rerun are listed as given (``--reported``), marked so.

    python benchmarks/carryover/collapse_thresholds.py RUN [RUN ...] \\
        --out benchmarks/carryover/results/collapse_thresholds
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import write_json, write_markdown  # noqa: E402
from skelssl.diagnostics import (  # noqa: E402
    COLLAPSE_CHECKS,
    COLLAPSE_GRACE,
    COLLAPSE_RANK_RATIO,
)

# reported by the issue tracker's carry-over check on two Kinect-v1 datasets we do not have
# (BYOL, configs/nwucla/byol.yaml unchanged, .npz inputs): online effective rank
REPORTED = [
    {"run": "byol, 431-clip Kinect v1 set, seed 0 (reported)", "rank_start": 31.0,
     "rank_last": 4.4, "cosine_last": 0.72, "collapsed": True},
    {"run": "byol, 431-clip Kinect v1 set, seed 1 (reported)", "rank_start": None,
     "rank_last": 4.3, "cosine_last": None, "collapsed": True},
    {"run": "byol, 291-clip Kinect v1 set (reported)", "rank_start": None,
     "rank_last": 7.0, "cosine_last": None, "collapsed": True},
]  # fmt: skip


def trajectory(run: Path) -> dict:
    """One run's feature checks (see the module docstring)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    checks = [r for r in records if "feature_rank" in r]
    if not checks or checks[0]["step"] != 0:
        return {"run": run.name, "error": "no step-0 feature check"}
    start = checks[0]["feature_rank"]
    steps = max(r["step"] for r in checks) or 1
    summary = (
        json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    )
    planned = summary.get("steps") or steps
    later = [r for r in checks[1:] if r["step"] / planned >= COLLAPSE_GRACE] or checks[1:]
    return {
        "run": run.name,
        "steps_seen": steps,
        "rank_start": round(start, 2),
        "rank_min": round(min(r["feature_rank"] for r in checks[1:]), 2),
        "rank_last": round(checks[-1]["feature_rank"], 2),
        "ratio_min_past_grace": round(min(r["feature_rank"] for r in later) / start, 3),
        "cosine_max_past_grace": round(max(r["feature_cosine"] for r in later), 3),
        "warning": (summary.get("collapse") or {}).get("warning"),
        "finished": bool(summary),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    rows = [trajectory(Path(run)) for run in args.runs]
    thresholds = {"rank_ratio": COLLAPSE_RANK_RATIO, "grace": COLLAPSE_GRACE,
                  "checks": COLLAPSE_CHECKS}  # fmt: skip
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"runs": rows, "reported": REPORTED,
                                          "thresholds": thresholds})  # fmt: skip
    lines = [
        "# The collapse check's thresholds: measured runs", "",
        f"Thresholds: warn when the encoder's feature rank < {COLLAPSE_RANK_RATIO} x its "
        f"untrained start, {COLLAPSE_CHECKS} checks in a row past {COLLAPSE_GRACE:.0%} of "
        "training. The mean cosine is recorded, not used: the healthy bone-stream run below "
        "sat at 0.99 (its warning came from a cosine rule, since removed).", "",
        "| run | steps seen | rank start | min | last | min ratio past grace | max cosine "
        "past grace | finished | warned |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['run']} | {r['error']} |" + " |" * 7)
            continue
        lines.append(
            f"| {r['run']} | {r['steps_seen']} | {r['rank_start']} | {r['rank_min']} | "
            f"{r['rank_last']} | {r['ratio_min_past_grace']} | {r['cosine_max_past_grace']} | "
            f"{'yes' if r['finished'] else 'stopped'} | {'yes' if r['warning'] else 'no'} |"
        )
    lines += ["", "Collapsed runs reported on datasets we do not have (not rerun here):", ""]
    for r in REPORTED:
        start = "?" if r["rank_start"] is None else r["rank_start"]
        lines.append(f"- {r['run']}: rank {start} -> {r['rank_last']} (ratio "
                     f"{'?' if r['rank_start'] is None else round(r['rank_last'] / r['rank_start'], 2)})")  # fmt: skip
    write_markdown(out.with_suffix(".md"), lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
