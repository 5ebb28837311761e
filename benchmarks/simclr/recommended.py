"""The recommended recipe on NW-UCLA cross-view, unchanged: its streams and their ensemble.

Per seed: ``skelssl pretrain --config configs/nwucla/recommended.yaml --out WORK/rec_sN
seed=N`` (SimCLR on joint, bone and motion; train views 1+2), the untrained encoders of the
same set (``skelssl pretrain random --config ... --out WORK/random_sN``), then
``skelssl evaluate OUT --ensemble --protocol linear|knn --json``: each stream's linear probe
and kNN (k=1, cosine) on view 3 and their fusion with the set's weights (0.6/0.6/0.4;
linear: probabilities, kNN: similarity-weighted votes). Final epoch; view 3 is read once
per evaluation and chooses nothing. The joint stream is ``configs/nwucla/simclr.yaml``
unchanged: its rows are SimCLR's headline.

    python benchmarks/simclr/recommended.py --work $WORK --seeds 0,1,2
    python benchmarks/simclr/recommended.py --work $WORK --seeds 0,1,2 --report  # no training
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
    encoder_label,
    machine,
    mean_std_text,
    paired_differences,
    require_nwucla,
    results_dir,
    skelssl_command,
    summary_row,
    write_json,
    write_markdown,
)
from skelssl.recipes import finished_summary, load_recipe_set  # noqa: E402

RECIPE = REPO / "configs/nwucla/recommended.yaml"
ENSEMBLE = "ensemble"  # the row name of the fused streams
# Published NW-UCLA cross-view numbers to set the recipe against: (method, linear, kNN, where).
# The first four are in ../shared/papers (CRRL Tables V-VI); the last two are the field's
# best reported linear results, not in that folder and not checked here.
ANCHORS = (
    ("MS²L (Lin et al. 2020)", 76.8, None, "CRRL Table V"),
    ("P&C FW-AEC (Su et al. 2020)", None, 84.9, "CRRL Table VI"),
    ("CRRL (Wang et al. 2022)", 83.8, 86.4, "CRRL Tables V, VI"),
    ("VA-RNN-Aug, supervised", 90.7, None, "CRRL Table V"),
    ("GL-Transformer (Kim et al. 2022)", 90.4, None, "reported; not checked here"),
    ("Skeleton cloud colorization, journal version", 92.0, None, "reported; not checked here"),
)
PROTOCOLS = ("linear", "knn")


def pretrain_set(out: Path, seed: int, root: str, random: bool) -> None:
    """The recipe set (or its untrained encoders) into ``out``; finished members are kept."""
    recipe = load_recipe_set(RECIPE)
    if all(finished_summary(out / name) for name in recipe.members):
        return
    resume = ["--resume"] if (out / "recipe.yaml").exists() else []
    method = ["random"] if random else []
    skelssl_command(
        "pretrain", *method, "--config", str(RECIPE), "--out", str(out), "--root", root,
        "--quiet", *resume, f"seed={seed}",
    )  # fmt: skip


def evaluate_set(out: Path) -> dict:
    """{stream or ``ensemble``: {protocol: top-1 %}} of one trained set."""
    found: dict[str, dict] = {}
    for protocol in PROTOCOLS:
        result = json.loads(
            skelssl_command(
                "evaluate", str(out), "--ensemble", "--protocol", protocol, "--json", "--quiet"
            )  # fmt: skip
        )
        for run in result["runs"]:
            found.setdefault(run["stream"], {})[protocol] = float(run["top1"])
        found.setdefault(ENSEMBLE, {})[protocol] = float(result["top1"])
        found[ENSEMBLE]["weights"] = result["weights"]
    return found


def seed_rows(work: Path, seed: int, root: str, train: bool) -> dict:
    """Trained and untrained numbers of one seed, with the trained runs' summaries."""
    trained, untrained = work / f"rec_s{seed}", work / f"random_s{seed}"
    if train:
        pretrain_set(trained, seed, root, random=False)
        pretrain_set(untrained, seed, root, random=True)
    members = load_recipe_set(RECIPE).members
    summaries = {name: finished_summary(trained / name) or {} for name in members}
    return {
        "seed": seed,
        "trained": evaluate_set(trained),
        "untrained": evaluate_set(untrained),
        "steps": {name: s.get("steps") for name, s in summaries.items()},
        "minutes": {name: round(s.get("seconds", 0) / 60, 1) for name, s in summaries.items()},
        "collapse_warning": {name: (s.get("collapse") or {}).get("warning")
                             for name, s in summaries.items()},
    }  # fmt: skip


def streams_of(rows: list[dict]) -> list[str]:
    return [name for name in rows[0]["trained"] if name != ENSEMBLE] + [ENSEMBLE]


def per_seed(rows: list[dict], which: str, stream: str, protocol: str) -> dict:
    return {r["seed"]: r[which][stream][protocol] for r in rows}


def summary_rows(rows: list[dict]) -> list[dict]:
    """Results-contract rows: per stream and for the ensemble, trained and untrained, with
    ``stream`` and ``config`` (the joint stream is ``simclr.yaml`` unchanged)."""
    recipe = load_recipe_set(RECIPE)
    first = next(iter(recipe.members.values()))
    result = []
    for stream in streams_of(rows):
        fused = stream == ENSEMBLE
        label = "+".join(recipe.members) if fused else stream
        config = "recommended" if fused else ("simclr" if stream == "joint" else None)
        steps = rows[0]["steps"].get(stream) or rows[0]["steps"].get("joint")
        minutes = sum(rows[0]["minutes"].values()) if fused else rows[0]["minutes"].get(stream)
        common = dict(
            encoder=encoder_label(first.encoder), frames=first.data.preprocess.frames,
            seeds=[r["seed"] for r in rows], device="cpu",
            source="simclr/results/nwucla_recommended.json", stream=label,
            **({"config": config} if config else {}),
        )  # fmt: skip
        for which, method, epochs in (("trained", "simclr", steps), ("untrained", "random", 0)):
            result.append(summary_row(
                method=method, epochs=first.train.epochs if epochs else 0,
                minutes=minutes if epochs else 0.0,
                linear=list(per_seed(rows, which, stream, "linear").values()),
                knn=list(per_seed(rows, which, stream, "knn").values()), **common,
            ))  # fmt: skip
    return result


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| stream | seeds | linear | kNN | untrained linear | untrained kNN | Δ linear | Δ kNN |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stream in streams_of(rows):
        cells = [stream, str(len(rows))]
        for which in ("trained", "untrained"):
            cells += [mean_std_text(per_seed(rows, which, stream, p).values()) for p in PROTOCOLS]
        for protocol in PROTOCOLS:
            delta = paired_differences(per_seed(rows, "trained", stream, protocol),
                                       per_seed(rows, "untrained", stream, protocol))  # fmt: skip
            cells.append(mean_std_text(delta, signed=True))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def anchors(rows: list[dict]) -> list[str]:
    """The ensemble's and the best stream's mean set against :data:`ANCHORS`."""
    fused = {p: float(sum(per_seed(rows, "trained", ENSEMBLE, p).values()) / len(rows))
             for p in PROTOCOLS}  # fmt: skip
    lines = ["| published | linear | kNN | ensemble − it, linear | ensemble − it, kNN | source |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, linear, knn, where in ANCHORS:
        cells = [name, "–" if linear is None else f"{linear:.1f}", "–" if knn is None else f"{knn:.1f}",
                 "–" if linear is None else f"{fused['linear'] - linear:+.1f}",
                 "–" if knn is None else f"{fused['knn'] - knn:+.1f}", where]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(NWUCLA_ROOT), help="NW-UCLA all_sqe folder")
    parser.add_argument("--work", required=True, help="the sets' folders (kept between calls)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--report", action="store_true", help="evaluate finished sets only")
    parser.add_argument("--out", default=str(results_dir("simclr") / "nwucla_recommended"))
    args = parser.parse_args(argv)
    require_nwucla(args.root)
    work, out = Path(args.work).resolve(), Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    started = machine()
    rows = [seed_rows(work, seed, args.root, train=not args.report) for seed in seeds]
    payload = {"rows": rows, "summary_rows": summary_rows(rows), "machine": started,
               "recipe": str(RECIPE.relative_to(REPO))}  # fmt: skip
    write_json(out.with_suffix(".json"), payload, configs=[str(RECIPE.relative_to(REPO))],
               seeds=seeds)  # fmt: skip
    weights = rows[0]["trained"][ENSEMBLE]["weights"]
    lines = ["# The recommended recipe on NW-UCLA cross-view (views 1+2 -> view 3)", "",
             "Generated by `benchmarks/simclr/recommended.py` (module docstring: the protocol). "
             f"Top-1 % on view 3, mean ± std over seeds {seeds}; final epoch; kNN k=1 cosine; "
             f"ensemble weights {weights} (the set's); Δ = trained − untrained encoder of the "
             "same stream, paired by seed. Machine at the start: "
             f"{started['cpu']}, load average {started.get('load_average_1min')}.", "",
             *table(rows), "", "## Against published NW-UCLA results", "",
             *anchors(rows)]  # fmt: skip
    write_markdown(out.with_suffix(".md"), lines)
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
