"""SimCLR's input streams and their score-level ensemble, chosen on validation splits of
NW-UCLA's training views (view 3, the test view, is never read).

Splits: ``view`` (pre-train and fit the probes on view 1, measure on view 2) and
``subject`` (views 1+2 of the subjects not held out -> views 1+2 of ``--held-out-subjects``:
both cameras kept, new people). Per split, stream (``joint``, ``bone``, ``motion``) and seed:
``skelssl pretrain simclr --config configs/nwucla/simclr.yaml data.stream=S seed=N`` on the
split (``--set`` adds overrides, e.g. a CPU budget), the linear probe and kNN (k=1, cosine),
then the streams' scores fused by ``skelssl evaluate RUN RUN RUN --ensemble`` with equal
weights, 3s-CrosSCLR's 0.6/0.6/0.4, and weights chosen on a holdout of the split's own
training part (``--weights validate``).

    python benchmarks/simclr/validate.py --work $WORK --split view --seeds 0 \\
        --set train.epochs=100 train.min_steps=400
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import (  # noqa: E402
    NWUCLA_ROOT,
    REPO,
    machine,
    mean_std_text,
    merge_row,
    require_nwucla,
    results_dir,
    run_finished,
    skelssl_command,
    write_held_out_subjects,
    write_json,
    write_markdown,
    write_view1_view2,
)
from skelssl.config import load_config  # noqa: E402
from skelssl.data.cache import load_dataset  # noqa: E402

STREAMS = ("joint", "bone", "motion")
FUSIONS = {"equal": None, "0.6/0.6/0.4": "0.6,0.6,0.4", "validate": "validate"}
CONFIG = REPO / "configs/nwucla/simclr.yaml"


def split_file(root: str, split: str, work: Path, held_out: list[int]) -> Path:
    """The split's ``given`` .npz (prepared arrays of the config's preprocessing)."""
    path = work / f"nwucla_val_{split}.npz"
    if not path.exists():
        config = load_config("simclr", CONFIG, [f"data.root={root}"])
        train, _ = load_dataset(config.data, quiet=True).split("xview")
        work.mkdir(parents=True, exist_ok=True)
        if split == "view":
            write_view1_view2(train, path)
        else:
            write_held_out_subjects(train, path, held_out)
    return path


def pretrain(data: Path, stream: str, seed: int, run: Path, extra: list[str]) -> None:
    if run_finished(run):
        return
    skelssl_command("pretrain", "simclr", "--data", str(data), "--config", str(CONFIG), "--out",
            str(run), "--quiet", f"data.stream={stream}", f"seed={seed}", *extra)  # fmt: skip


def top1(*args: str) -> dict:
    return json.loads(skelssl_command("evaluate", *args, "--json", "--quiet"))


def run_seed(work: Path, split: str, data: Path, seed: int, extra: list[str]) -> dict:
    runs = {s: work / "runs" / f"{split}_{s}_s{seed}" for s in STREAMS}
    row: dict = {"split": split, "seed": seed}
    for stream, run in runs.items():
        pretrain(data, stream, seed, run, extra)
        row[f"{stream}_linear"] = top1(str(run), "--protocol", "linear")["top1"]
        row[f"{stream}_knn"] = top1(str(run), "--protocol", "knn")["top1"]
    members = [str(runs[s]) for s in STREAMS]
    for name, weights in FUSIONS.items():
        for protocol in ("linear", "knn"):
            args = [*members, "--ensemble", "--protocol", protocol]
            result = top1(*args, *(["--weights", weights] if weights else []))
            row[f"fused_{name}_{protocol}"] = result["top1"]
            row[f"fused_{name}_{protocol}_weights"] = result.get("weights")
    return row


def table(rows: list[dict]) -> list[str]:
    columns = [f"{s}" for s in STREAMS] + [f"fused {n}" for n in FUSIONS]
    keys = [f"{s}" for s in STREAMS] + [f"fused_{n}" for n in FUSIONS]
    lines = ["| split | seeds | protocol | " + " | ".join(columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]  # fmt: skip
    for split in sorted({r["split"] for r in rows}):
        group = [r for r in rows if r["split"] == split]
        for protocol in ("linear", "knn"):
            cells = [mean_std_text([r[f"{k}_{protocol}"] for r in group]) for k in keys]
            lines.append(f"| {split} | {len(group)} | {protocol} | " + " | ".join(cells) + " |")
    return lines


def split_parser(doc: str) -> argparse.ArgumentParser:
    """The options every validation-split script shares: data, work folder, split, seeds."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--root", default=str(NWUCLA_ROOT))
    parser.add_argument("--work", required=True)
    parser.add_argument("--split", default="view", choices=["view", "subject"])
    parser.add_argument("--held-out-subjects", nargs="+", type=int, default=[8, 9, 10])
    parser.add_argument("--seeds", default="0")
    return parser


def main(argv=None) -> None:
    parser = split_parser(__doc__)
    parser.add_argument("--set", nargs="*", default=[], help="key=value for every run")
    parser.add_argument("--out", default=str(results_dir("simclr") / "nwucla_streams_validation"))
    args = parser.parse_args(argv)
    require_nwucla(args.root)
    work = Path(args.work).resolve()
    out = Path(args.out)
    saved = out.with_suffix(".json")
    data = split_file(args.root, args.split, work, args.held_out_subjects)
    rows: list[dict] = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        row = run_seed(work, args.split, data, seed, args.set)
        rows = merge_row(saved, row, ("split", "seed"))  # keeps another split's rows
        write_json(saved, {"rows": rows, "set": args.set, "machine": machine()},
                   seeds=sorted({r["seed"] for r in rows}))  # fmt: skip
        print(json.dumps(row), flush=True)
    header = ["# SimCLR's streams and their ensemble on validation splits (view 3 unread)", "",
              "Generated by `benchmarks/simclr/validate.py` (its docstring: the protocol); "
              f"overrides: `{' '.join(args.set) or 'none'}`. Top-1 %, kNN k=1 cosine.", ""]  # fmt: skip
    write_markdown(out.with_suffix(".md"), header + table(rows))
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
