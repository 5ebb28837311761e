"""The recommended set's other choices on validation splits of NW-UCLA's training views
(view 3, the test view, is never read): which method as the streams' base, how long, how
wide, which encoder family, which input (frames, temporal sampling), and a fourth stream.
The encoder and input candidates run 400 steps, beside ``simclr-400``.

Splits as in ``validate.py``: ``view`` (pre-train and fit the probes on view 1, measure on
view 2) and ``subject`` (views 1+2 of the subjects not held out -> views 1+2 of
``--held-out-subjects``). Each split is written as a ``.npz`` of *raw* camera coordinates,
so every candidate's config applies its own preprocessing (MS²L reads 200 frames, CRRL
separates bodies). A candidate is a shipped config plus overrides (:data:`CANDIDATES`);
per (candidate, split, seed): ``skelssl pretrain <method> --data SPLIT.npz --config
configs/nwucla/<config>.yaml seed=S [overrides]``, then ``skelssl evaluate RUN --protocol
linear|knn`` (kNN: k=1, cosine) on the split's validation part. Final epochs; the
pre-training's wall minutes (one thread) are kept beside the numbers.

    python benchmarks/simclr/choices.py --work $WORK --split view \\
        --candidates random,simclr,random-byol,byol,random-ms2l,ms2l --seeds 0
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.carryover.table import evaluate, pretrain, raw_nwucla, shipped  # noqa: E402
from benchmarks.common import (  # noqa: E402
    machine,
    mean_std_text,
    merge_row,
    require_nwucla,
    results_dir,
    validation_train_mask,
    write_json,
    write_markdown,
)
from benchmarks.simclr.validate import split_parser  # noqa: E402
from skelssl.data.readers.arrays import write_npz  # noqa: E402
from skelssl.data.types import SkeletonData  # noqa: E402

SHORT = ("train.epochs=50", "train.min_steps=400")  # the same length on both splits
STGCN = "encoder.preset=stgcn-0.25"  # the ST-GCN that costs about a 2x256 bi-GRU on a CPU


@dataclasses.dataclass(frozen=True)
class Candidate:
    config: str  # configs/nwucla/<config>.yaml
    overrides: tuple[str, ...] = ()
    untrained: bool = False  # ``pretrain random`` of the config
    question: str = ""
    reference: str = "random"  # the untrained candidate its gain is measured against


CANDIDATES = {
    "random": Candidate("simclr", untrained=True, question="reference (simclr's encoder)"),
    "simclr": Candidate("simclr", question="base method (the set's base, as shipped)"),
    "random-byol": Candidate("byol", untrained=True, question="reference"),
    "byol": Candidate("byol", question="base method", reference="random-byol"),
    "random-ms2l": Candidate("ms2l", untrained=True, question="reference"),
    "ms2l": Candidate("ms2l", question="base method", reference="random-ms2l"),
    "random-crrl-ser": Candidate("crrl-ser", untrained=True, question="reference"),
    "crrl-ser": Candidate("crrl-ser", question="base method", reference="random-crrl-ser"),
    "simclr-400": Candidate("simclr", SHORT, question="length: 400 steps vs 1,400"),
    "simclr-2x256-400": Candidate(
        "simclr", (*SHORT, "encoder.hidden_size=256"), question="width at equal steps"
    ),
    "simclr-2800": Candidate("simclr", ("train.min_steps=2800",), question="length: 2x"),
    "simclr-32f-400": Candidate(
        "simclr", (*SHORT, "data.preprocess.frames=32"), question="input: 32 frames vs 50"
    ),
    "simclr-native-400": Candidate(
        "simclr",
        (*SHORT, "data.preprocess.temporal=at-most"),
        question="input: native frame rate, zero-padded, vs resampled to 50",
    ),
    "simclr-native": Candidate(
        "simclr", ("data.preprocess.temporal=at-most",), question="input: native rate, full length"
    ),
    "random-stgcn": Candidate(
        "simclr", (STGCN,), untrained=True, question="reference (ST-GCN at 1/4 width)"
    ),
    "simclr-stgcn-400": Candidate(
        "simclr",
        (*SHORT, STGCN),
        question="encoder family: ST-GCN vs bi-GRU, 400 steps",
        reference="random-stgcn",
    ),
    "simclr-bone-motion": Candidate(
        "simclr", ("data.stream=bone-motion",), question="a fourth stream"
    ),
}


def validation_rows(data: SkeletonData, split: str, held_out: list[int]) -> tuple:
    """The split's rows of ``data`` (its training views, 1+2) and their ``given`` mask
    (True = the split's training part): ``view`` trains on view 1, ``subject`` on the
    subjects not in ``held_out`` (both cameras)."""
    rows = np.flatnonzero(np.asarray(data.splits["xview"], dtype=bool))
    return rows, validation_train_mask(data, split, held_out)[rows]


def split_file(root: str, split: str, work: Path, held_out: list[int]) -> Path:
    """``WORK/nwucla_raw_val_<split>.npz``: the split's clips, raw coordinates."""
    path = work / f"nwucla_raw_val_{split}.npz"
    if not path.exists():
        data = raw_nwucla(root, work)
        rows, train = validation_rows(data, split, held_out)
        write_npz(dataclasses.replace(data.subset(rows), splits={"given": train}), path)
    return path


def run_candidate(work: Path, split: str, data: Path, name: str, seed: int) -> dict:
    candidate = CANDIDATES[name]
    run = work / "runs" / f"{split}_{name}_s{seed}"
    config = shipped(candidate.config)
    pretrain(data, config, seed, run, candidate.untrained, list(candidate.overrides))
    summary = json.loads((run / "summary.json").read_text())
    return {
        "candidate": name, "split": split, "seed": seed, "config": candidate.config,
        "overrides": list(candidate.overrides), "steps": summary.get("steps"),
        "minutes": round(summary.get("wall_seconds", summary.get("seconds", 0)) / 60, 1),
        "linear": evaluate(run, "linear"), "knn": evaluate(run, "knn"),
        "collapse_warning": (summary.get("collapse") or {}).get("warning"),
    }  # fmt: skip


def score_cell(rows: list[dict], reference: list[dict], protocol: str) -> str:
    """``mean ± std`` over seeds, and the gain over ``reference`` paired by seed."""
    text = mean_std_text([r[protocol] for r in rows])
    base = {r["seed"]: r[protocol] for r in reference}
    gains = [r[protocol] - base[r["seed"]] for r in rows if r["seed"] in base]
    return f"{text} ({mean_std_text(gains, signed=True)})" if gains else text


def table(rows: list[dict]) -> list[str]:
    """Per candidate (in :data:`CANDIDATES` order) and split: linear / kNN, mean ± std over
    seeds, in brackets the gain over its untrained reference (paired by seed)."""
    splits = sorted({r["split"] for r in rows}, reverse=True)  # view, subject
    head = " | ".join(f"{s} linear | {s} kNN" for s in splits)
    lines = [f"| candidate | question | config + overrides | steps | minutes | {head} |",
             "|---|---|---|---|---|" + "---|---|" * len(splits)]  # fmt: skip
    for name, candidate in CANDIDATES.items():
        group = [r for r in rows if r["candidate"] == name]
        if not group:
            continue
        cells = []
        for split in splits:
            mine = [r for r in group if r["split"] == split]
            reference = [r for r in rows if not candidate.untrained and
                         r["candidate"] == candidate.reference and r["split"] == split]  # fmt: skip
            cells += [score_cell(mine, reference, protocol) for protocol in ("linear", "knn")]
        settings = " ".join((f"{candidate.config}.yaml", *candidate.overrides))
        steps = "/".join(sorted({str(r["steps"]) for r in group}))
        minutes = f"{np.mean([r['minutes'] for r in group]):.1f}"
        lines.append(f"| {name} | {candidate.question} | `{settings}` | {steps} | {minutes} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return lines


def main(argv=None) -> None:
    parser = split_parser(__doc__)
    parser.add_argument("--candidates", default="random,simclr", help=f"of {list(CANDIDATES)}")
    parser.add_argument("--report", action="store_true", help="tables from the saved rows")
    parser.add_argument("--out", default=str(results_dir("simclr") / "nwucla_choices_validation"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    saved = out.with_suffix(".json")
    rows: list[dict] = json.loads(saved.read_text())["rows"] if saved.exists() else []
    if not args.report:
        require_nwucla(args.root)
        work = Path(args.work).resolve()
        data = split_file(args.root, args.split, work, args.held_out_subjects)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name in args.candidates.split(","):
                row = run_candidate(work, args.split, data, name, seed)
                rows = merge_row(saved, row, ("candidate", "split", "seed"))
                write_json(saved, {"rows": rows, "machine": machine()},
                           seeds=sorted({r["seed"] for r in rows}))  # fmt: skip
                print(json.dumps(row), flush=True)
    header = ["# The recommended set's choices on validation splits (view 3 unread)", "",
              "Generated by `benchmarks/simclr/choices.py` (its docstring: the protocol). "
              "Top-1 % on the split's validation part, final epoch; kNN k=1 cosine; minutes: "
              "the pre-training's wall time on one thread (two jobs on two cores).", ""]  # fmt: skip
    write_markdown(out.with_suffix(".md"), header + table(rows))
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
