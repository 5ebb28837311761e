"""Which reading of CRRL's encoders do the probes see best? TAP against the final state.

Sec. IV-B: "the feature before the MLP head is used as the action representation", and the
MLP heads sit on the temporal average pooling (TAP) of the per-frame states (Fig. 2,
Eqs. (3)-(4)): the project's reading (``encoder.pooling=mean``). The kNN comparison of
Table VI follows Predict & Cluster [13], whose encoder feature is the final hidden state,
and SER's decoder is fed the first and last states (Fig. 3). Reads finished runs only (no
training): for each seed, a step-2 run (its checkpoint holds the frozen CML teacher and the
student) and the SER run of the same seed, plus the untrained encoder of the same config
and seed. Each encoder's features are extracted twice, on the train and evaluated split of
the runs' own protocol:

- ``tap``: the mean of the top layer's per-frame states over the real frames, both
  directions (the configs' reading; its numbers reproduce the runs' results files);
- ``last``: the top layer's final hidden state of each direction (``encoder.pooling=last``:
  the forward state at the last real frame, the backward state at the first);
- ``tap+last``: both, each scaled to unit length per clip and concatenated (the cosine of
  the concatenation is the mean of the two cosines).

Then the project's linear probe and kNN (k=1, cosine; the paper's protocol, Sec. IV-C). A
set on the validation runs (view 1 -> view 2) may choose a reading; a set on the test runs
(view 3) only reports.

    python benchmarks/crrl/diagnostics/readings.py --set test-full-2x256 \\
        '/tmp/crrl12/test/seed{seed}/crrl' '/tmp/crrl12/test/seed{seed}/ser' --seeds 0,1,2

Found (2×256, full schedules, seeds 0-2, ``results/nwucla_crrl/readings.md``): the final
state instead of TAP moves CRRL's test-view kNN by +1.1 ± 2.7, inside the spread; on
validation it helps SER's kNN (+1.6 ± 0.2) and CRRL's linear (+2.8 ± 0.3), but the paper
says TAP, which the project keeps.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.common import REPO, mean_std, mean_std_text, run_pair_study
from benchmarks.crrl.diagnostics.concat import side_by_side
from benchmarks.crrl.table import random_encoder
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.generic import knn_on_features, linear_probe_on_features
from skelssl.report import markdown_table
from skelssl.runs import load_run

OUT = REPO / "benchmarks" / "crrl" / "results" / "nwucla_crrl"
ENCODERS = ("random", "cml", "ser", "crrl")
READINGS = ("tap", "last", "tap+last")
POOLING = {"tap": "mean", "last": "last"}


def read(encoder, splits, pooling: str) -> list:
    """``encoder``'s features of each split with ``pooling`` (mean or last), its own
    pooling restored afterwards. Each (N, D)."""
    kept = encoder.pooling
    encoder.pooling = pooling
    try:
        return [extract_features(encoder, split, quiet=True) for split in splits]
    finally:
        encoder.pooling = kept


def reading_scores(step2_dir: Path, ser_dir: Path, seed: int) -> dict:
    """Linear and kNN top-1 (%) of every encoder of :data:`ENCODERS` under every reading of
    :data:`READINGS` for one seed's runs: ``{"<encoder>_<reading>_<probe>": top-1}``."""
    step2, ser = load_run(step2_dir, quiet=True), load_run(ser_dir, quiet=True)
    config = step2.config
    splits = step2.data.split(config.data.split or "xview")
    train, test = splits
    untrained, _ = random_encoder(config, seed)  # as crrl/table.py's random row
    encoders = {"random": untrained, "cml": step2.method.teacher, "ser": ser.method.encoder,
                "crrl": step2.method.encoder}  # fmt: skip
    scores = {}
    for name, encoder in encoders.items():
        features = {reading: read(encoder, splits, POOLING[reading]) for reading in POOLING}
        features["tap+last"] = [side_by_side(features["tap"][i], features["last"][i])
                                for i in (0, 1)]  # fmt: skip
        for reading, (train_x, test_x) in features.items():
            arguments = (train_x, train.labels, test_x, test.labels, train.num_classes,
                         config.evaluation)  # fmt: skip
            linear = linear_probe_on_features(*arguments)["top1"]
            nearest = knn_on_features(*arguments)
            scores[f"{name}_{reading}_linear"] = round(float(linear), 2)
            scores[f"{name}_{reading}_knn"] = round(float(nearest["top1"]), 2)
            scores["knn"] = f"k={nearest['k']} {nearest['metric']}"
    return scores


def set_table(name: str, entry: dict) -> list[str]:
    """Markdown lines of one set: mean ± std per encoder and reading, and each reading's
    difference to ``tap`` paired by seed (with the seeds on which it is higher)."""
    per_seed = list(entry["per_seed"].values())
    rows = []
    for encoder in ENCODERS:
        for reading in READINGS:
            row = {"encoder": encoder, "reading": reading}
            for probe in ("linear", "knn"):
                values = [v[f"{encoder}_{reading}_{probe}"] for v in per_seed]
                mean, std = mean_std(values)
                row[probe] = f"{mean:.1f} ± {std or 0.0:.1f}"
                if reading != "tap":
                    tap = [v[f"{encoder}_tap_{probe}"] for v in per_seed]
                    diffs = [a - b for a, b in zip(values, tap, strict=True)]
                    higher = sum(d > 0 for d in diffs)
                    row[f"{probe}_vs_tap"] = (f"{mean_std_text(diffs, signed=True)} "
                                              f"({higher} of {len(diffs)} higher)")  # fmt: skip
            rows.append(row)
    columns = ["encoder", "reading", "linear", "knn", "linear_vs_tap", "knn_vs_tap"]
    titles = ["encoder", "reading", "linear %", "kNN %", "linear − tap (paired)",
              "kNN − tap (paired)"]  # fmt: skip
    return [f"## {name}", "",
            f"Step-2 runs `{entry['step2']}`, SER runs `{entry['ser']}`; kNN {entry['knn']}; "
            f"load average {entry['load_average']}; seeds {', '.join(map(str, entry['per_seed']))}.",
            "", markdown_table(rows, columns, titles), ""]  # fmt: skip


def main() -> None:
    header = ["# CRRL on NW-UCLA: the encoders read by TAP, by their final state, and both",
              "", "Written by `benchmarks/crrl/diagnostics/readings.py` (its docstring defines every "
              "reading). Reads finished runs; a validation set may choose, a test set only "
              "reports. Mean ± std over seeds; commands in benchmarks/crrl/README.md.", ""]  # fmt: skip
    run_pair_study("crrl/diagnostics/readings.py", "readings", description=__doc__.split("\n")[0],
                   labels=("STEP2", "SER"), shared="knn", measure=reading_scores,
                   set_table=set_table, header=header, out=OUT)  # fmt: skip


if __name__ == "__main__":
    main()
