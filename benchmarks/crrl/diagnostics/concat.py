"""How far could fusing CRRL's two learners go? Their features side by side (a diagnosis).

CRRL (Sec. III-C, Eqs. (7)-(8)) fuses the Contrastive Motion Learner (CML, step 1) into
the Sequence Reconstructor (SER) by distillation. Reads finished runs only (no training):
for each seed, a step-2 run (its checkpoint holds the frozen CML teacher and the student)
and the SER run of the same seed. Features = the pooled encoder output (the paper's
"feature before the MLP head", Sec. IV-B), extracted on the train and test split of the
runs' protocol (NW-UCLA cross-view: views 1+2 -> view 3), then the project's linear probe
and kNN (k=1, cosine; the paper's protocol, Sec. IV-C) on:

- ``cml``, ``ser``, ``crrl``: each encoder alone (``crrl`` = the distilled student);
- ``ser+cml`` and ``crrl+cml``: the two feature vectors, each scaled to unit length per
  clip, concatenated: the cosine of the concatenation is the mean of the two cosines, so
  the nearest neighbour weighs both learners equally.

If ``ser+cml`` reaches the paper's kNN (86.4) the two learners hold what the paper's CRRL
shows and our fusion step fails to combine it; if not, the learners themselves fall short.
It reads the test view and is never used to choose anything.

    python benchmarks/crrl/diagnostics/concat.py --set test-full-2x256 \\
        '/tmp/crrl6/w256-full/seed{seed}/crrl' '/tmp/crrl6/w256-full/seed{seed}/ser' --seeds 0,1,2

Each ``--set NAME STEP2 SER`` (patterns with ``{seed}``) becomes a table of
``benchmarks/crrl/results/nwucla_crrl/concat.{json,md}``; sets already in the JSON and not named
again are kept.

Found (2×256, full schedules, seeds 0-2, ``results/nwucla_crrl/concat.md``): SER's and
CML's features side by side score 76.2 ± 2.2 kNN, 5.0 below SER alone: the missing kNN
points are not in a fusion the distillation fails to make; they lie in the learners.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.common import REPO, mean_std, run_pair_study
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.generic import knn_on_features, linear_probe_on_features
from skelssl.report import markdown_table
from skelssl.runs import load_run

OUT = REPO / "benchmarks" / "crrl" / "results" / "nwucla_crrl"
FEATURES = ("cml", "ser", "crrl", "ser+cml", "crrl+cml")
PAPER_KNN = 86.4  # CRRL on NW-UCLA, Table VI


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length. (N, D) -> (N, D)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def side_by_side(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Unit-length rows of both, concatenated. (N, D1), (N, D2) -> (N, D1 + D2)."""
    return np.concatenate([unit_rows(first), unit_rows(second)], axis=1)


def concat_scores(step2_dir: Path, ser_dir: Path) -> dict:
    """Linear and kNN top-1 (%) of every entry of :data:`FEATURES` for one seed's runs."""
    step2, ser = load_run(step2_dir, quiet=True), load_run(ser_dir, quiet=True)
    config = step2.config
    train, test = step2.data.split(config.data.split or "xview")
    encoders = {"cml": step2.method.teacher, "ser": ser.method.encoder,
                "crrl": step2.method.encoder}  # fmt: skip
    features = {name: [extract_features(encoder, split, quiet=True) for split in (train, test)]
                for name, encoder in encoders.items()}  # fmt: skip
    for name in ("ser", "crrl"):
        features[f"{name}+cml"] = [side_by_side(features[name][i], features["cml"][i])
                                   for i in (0, 1)]  # fmt: skip
    scores = {}
    for name in FEATURES:
        train_x, test_x = features[name]
        arguments = (train_x, train.labels, test_x, test.labels, train.num_classes,
                     config.evaluation)  # fmt: skip
        scores[f"{name}_linear"] = round(float(linear_probe_on_features(*arguments)["top1"]), 2)
        nearest = knn_on_features(*arguments)
        scores[f"{name}_knn"] = round(float(nearest["top1"]), 2)
        scores["knn"] = f"k={nearest['k']} {nearest['metric']}"
    return scores


def set_table(name: str, entry: dict) -> list[str]:
    """Markdown lines of one set: a row per seed, the mean ± std, and the paired gains."""
    per_seed = entry["per_seed"]
    columns = [f"{feature}_{probe}" for probe in ("linear", "knn") for feature in FEATURES]
    headers = [f"{feature} {probe} %" for probe in ("linear", "kNN") for feature in FEATURES]
    rows = [{"seed": seed, **{key: f"{values[key]:.1f}" for key in columns}}
            for seed, values in per_seed.items()]  # fmt: skip
    mean_row = {"seed": "mean ± std"}
    for key in columns:
        mean, std = mean_std([values[key] for values in per_seed.values()])
        mean_row[key] = f"{mean:.1f} ± {std or 0.0:.1f}"
    table = markdown_table([*rows, mean_row], ["seed", *columns], ["seed", *headers])
    gains = []
    for joint, alone in (("ser+cml", "ser"), ("crrl+cml", "crrl"), ("ser+cml", "crrl")):
        for probe in ("linear", "knn"):
            diffs = [v[f"{joint}_{probe}"] - v[f"{alone}_{probe}"] for v in per_seed.values()]
            mean, std = mean_std(diffs)
            higher = sum(d > 0 for d in diffs)
            label = "kNN" if probe == "knn" else probe
            gains.append(f"- {joint} − {alone}, {label}: {mean:+.1f} ± {std or 0.0:.1f} "
                         f"(higher on {higher} of {len(diffs)} seeds)")  # fmt: skip
    knn = [v["ser+cml_knn"] for v in per_seed.values()]
    return [f"## {name}", "",
            f"Step-2 runs `{entry['step2']}`, SER runs `{entry['ser']}`; kNN {entry['knn']}; "
            f"test split; load average {entry['load_average']}.", "", table, "",
            "Paired by seed:", "", *gains, "",
            f"ser+cml kNN {np.mean(knn):.1f} against the paper's CRRL kNN {PAPER_KNN}.", ""]  # fmt: skip


def main() -> None:
    header = ["# CRRL's two learners side by side: what an equal-weight fusion reaches", "",
              "Written by `benchmarks/crrl/diagnostics/concat.py` (its docstring defines every "
              "column). A diagnosis on the test view (NW-UCLA view 3): nothing is chosen on "
              "it. Commands in benchmarks/crrl/README.md.", ""]  # fmt: skip
    run_pair_study("crrl/diagnostics/concat.py", "concat", description=__doc__.split("\n")[0],
                   labels=("STEP2", "SER"), shared="knn",
                   measure=lambda step2, ser, seed: concat_scores(step2, ser),
                   set_table=set_table, header=header, out=OUT)  # fmt: skip


if __name__ == "__main__":
    main()
