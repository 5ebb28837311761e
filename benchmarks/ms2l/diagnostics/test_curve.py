"""DIAGNOSTIC: how much a best-test-epoch reading would lift MS²L's rows on NW-UCLA.

The paper does not say which epoch of its linear classifier Table 1 reports; the
authors' code (github.com/LanglandsLin/MS2L, ``procedure.py``) scores the test split after
every epoch and prints it, so a number read off that log may be any epoch's. This script
re-trains the linear probes of the test split's finished rows (``benchmarks/ms2l/table.py --rows
ms2l,random``: ``WORK/test/ms2l/seedS/last.pt``, the untrained encoder rebuilt from its
seed) with the test top-1 recorded after every epoch
(``linear_probe_on_features(test_curve=True)``), for our probe and for the paper's probe
as stated (``paper_probe_config``), and reports the final epoch (the project's number,
checked equal to the row's record) beside the best test epoch. It reads the test split at
every epoch, so it chooses nothing: it measures how much of the gap to the paper such a
reading could account for.

With ``--strategies rand-s,jointly`` it does the same for the strategies with the
classifier C (Table 3): each is re-trained exactly as its test record (``benchmarks/ms2l/table.py
--rows rand-s,jointly``: 60 epochs of C, the default optimiser; ``pretrain``, ``finetune``
and ``moving`` from the seed's ms2l pre-training in the work folder) with the test top-1
recorded after every epoch of C, and each strategy is paired with the first one named. A
seed without a record in the work folder is reported by its final epoch alone. ``--self-lr``
(``--self-step-every``, ``--self-encoder``) give Moving and Jointly L_self's own Adam, as
``benchmarks/ms2l/table.py`` does (its runs are kept apart, named by those settings). One process
per (strategy, seed) may run beside the others: each run is kept in ``WORK/test-curve/``
and a later call gathers them.

    python benchmarks/ms2l/diagnostics/test_curve.py --seeds 0,1,2,3,4,5 --work /tmp/bench/ms2l-fc
    python benchmarks/ms2l/diagnostics/test_curve.py --strategies rand-s,jointly --seeds 0,1,2 \
        --work /tmp/bench/ms2l-v2

Found (seeds 0-5, ``results/nwucla_ms2l_test_curve.md``): the best test epoch adds
nothing; MS²L − random, paired by seed, is +6.2 ± 2.5 final and +6.1 ± 2.6 best with our
probe, +14.4 ± 1.9 final and +14.0 ± 1.8 best with the paper's probe as stated.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

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
from benchmarks.ms2l.table import (
    FROM_SCRATCH,
    PAPER_PROBE_EPOCHS,
    STRATEGY_DEFAULTS,
    Records,
    Splits,
    add_self_optimiser_arguments,
    load_splits,
    paper_probe_config,
    random_method,
    run_dir_of,
    strategy_key_overrides,
    strategy_settings,
)
from skelssl.checkpoint import load_weights
from skelssl.evaluation.features import extract_features
from skelssl.evaluation.generic import linear_probe_on_features
from skelssl.evaluation.ms2l import OPTIMISES_SELF, train_recognition
from skelssl.report import markdown_table, plot_curves

ROWS = ("ms2l", "random")
RECORD_KEYS = {"ours": "linear_top1", "paper": f"paper_probe_top1@{PAPER_PROBE_EPOCHS}"}
PROBE_TITLES = {"ours": "our probe", "paper": f"the paper's probe ({PAPER_PROBE_EPOCHS} epochs)"}
PRE_TRAINED = ("pretrain", "finetune", "moving")  # strategies from the ms2l pre-training
STRATEGY_EPOCHS = STRATEGY_DEFAULTS["strategy_epochs"]  # C's epochs in the test records
STRATEGY_TITLES = {"classifier": f"classifier C ({STRATEGY_EPOCHS} epochs)"}
LAST = 5  # the "last epochs" reading: the mean test top-1 over the curve's last LAST epochs


def recorded(records: Records, row: str, seed: int) -> dict:
    """The test record of ``row`` and ``seed`` (the last one)."""
    wanted = ("test", row, seed)
    found = [r for r in records.done.values() if (r["kind"], r["row"], r["seed"]) == wanted]
    if not found:
        raise SystemExit(f"{records.path}: no test record of row {row} seed {seed}")
    return found[-1]


def strategy_record(records: Records, args, strategy: str, seed: int) -> dict | None:
    """The test record the strategy curve re-trains (its key: default settings, 60 epochs),
    or ``None`` where the work folder has none (the final epoch is then reported alone)."""
    key = Records.key("test", strategy, strategy_key_overrides(args, strategy),
                      STRATEGY_EPOCHS, seed)  # fmt: skip
    return records.get(key)


def curve_reading(curve: list[float]) -> dict:
    """``{final, best, best_epoch, last, curve}`` of a test curve (top-1 % per epoch);
    ``last``: the mean over its last :data:`LAST` epochs."""
    best = int(np.argmax(curve))
    return {"final": round(curve[-1], 2), "best": round(curve[best], 2),
            "best_epoch": best + 1, "last": round(float(np.mean(curve[-LAST:])), 2),
            "curve": [round(v, 2) for v in curve]}  # fmt: skip


def strategy_source(args, splits: Splits, strategy: str, seed: int):
    """The method a strategy starts from: the seed's random one, or for :data:`PRE_TRAINED`
    the seed's ms2l test-row pre-training in the work folder (as ``benchmarks/ms2l/table.py`` uses)."""
    config, train_data, _, _ = splits
    method = random_method(config, train_data, seed)
    if strategy in FROM_SCRATCH:
        return method
    checkpoint = run_dir_of(args, "test", "ms2l", seed) / "last.pt"
    if not checkpoint.exists():
        raise SystemExit(f"{checkpoint}: no ms2l pre-training of seed {seed} (benchmarks/ms2l/table.py "
                         "--rows ms2l in this work folder first)")  # fmt: skip
    return load_weights(method, checkpoint)


def strategy_curve_of(args, splits: Splits, strategy: str, seed: int) -> dict[str, dict]:
    """``strategy`` from :func:`strategy_source`, C scored on the test split after every
    epoch: ``{"classifier": {final, best, ..., curve, minutes}}``. The curve and minutes are
    kept in ``WORK/test-curve/``; the readings are derived from the curve."""
    settings = "".join(f"-{o.lower().replace('=', '')}"
                       for o in strategy_key_overrides(args, strategy))  # fmt: skip
    kept = args.work / "test-curve" / f"{strategy}{settings}-seed{seed}.json"
    if not kept.exists():
        config, train_data, test_data, _ = splits
        result = train_recognition(
            strategy, strategy_source(args, splits, strategy, seed), train_data, test_data,
            strategy_settings(args, config, strategy), seed=seed, monitor=test_data,
        )  # fmt: skip
        run = {"curve": [round(v, 2) for v in result["monitor_curve"]],
               "minutes": round(result["seconds"] / 60, 2)}  # fmt: skip
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(json.dumps({"classifier": run}))
    run = json.loads(kept.read_text())["classifier"]
    return {"classifier": {**run, **curve_reading(run["curve"])}}


def curves_of(args, splits: Splits, row: str, seed: int) -> dict[str, dict]:
    """Both probes of one row and seed: ``{probe: {final, best, best_epoch, curve}}``."""
    config, train_data, test_data, _ = splits
    method = random_method(config, train_data, seed)
    if row != "random":
        load_weights(method, run_dir_of(args, "test", row, seed) / "last.pt")
    batch = config.evaluation.batch_size
    train_x, test_x = (extract_features(method.encoder, data, batch_size=batch)
                       for data in (train_data, test_data))  # fmt: skip
    settings = {
        "ours": config.evaluation,
        "paper": paper_probe_config(config.evaluation, PAPER_PROBE_EPOCHS),
    }
    out = {}
    for probe, evaluation in settings.items():
        result = linear_probe_on_features(
            train_x, np.asarray(train_data.labels), test_x, np.asarray(test_data.labels),
            train_data.num_classes, evaluation, seed=seed, test_curve=True,
        )  # fmt: skip
        out[probe] = curve_reading(result["test_curve"])
    return out


def summary(runs: dict, titles: dict[str, str]) -> list[dict]:
    """One table row per (row, probe): final and best-test epoch, mean ± std over seeds,
    best − final paired by seed, the mean of the last :data:`LAST` epochs (where the runs
    have it: how far one epoch's reading moves from its neighbours'), and how many final
    epochs reproduce the records."""
    table = []
    for row, by_seed in runs.items():
        for probe, title in titles.items():
            final = {s: r[probe]["final"] for s, r in by_seed.items()}
            best = {s: r[probe]["best"] for s, r in by_seed.items()}
            last = [r[probe]["last"] for r in by_seed.values() if "last" in r[probe]]
            same = sum(r[probe]["reproduces"] is True for r in by_seed.values())
            unrecorded = sum(r[probe]["reproduces"] is None for r in by_seed.values())
            reproduces = "yes" if same == len(by_seed) else f"{same} of {len(by_seed)}"
            if unrecorded:
                reproduces += f" ({unrecorded} without a record)"
            table.append({
                "row": row,
                "probe": title,
                "final": mean_std_text(list(final.values())),
                "best": mean_std_text(list(best.values())),
                "lift": mean_std_text(paired_differences(best, final), signed=True),
                "last": mean_std_text(last) if len(last) == len(by_seed) else "–",
                "best_epochs": ", ".join(str(r[probe]["best_epoch"]) for r in by_seed.values()),
                "reproduces": reproduces,
            })  # fmt: skip
    return table


def lift_over(runs: dict, rows: tuple[str, str], probe: str, reading: str) -> str:
    """``rows[0]`` − ``rows[1]`` under ``reading`` ("final", "best", "last"), paired by seed."""
    mine, theirs = ({s: r[probe][reading] for s, r in runs[row].items()} for row in rows)
    return mean_std_text(paired_differences(mine, theirs), signed=True)


def mean_curve(by_seed: dict, probe: str) -> tuple[list[int], list[float]]:
    curves = np.asarray([r[probe]["curve"] for r in by_seed.values()])
    return list(range(1, curves.shape[1] + 1)), curves.mean(axis=0).tolist()


def labelled(args, row: str) -> str:
    """``row``, marked where it trained with L_self's own Adam (``--self-lr``)."""
    own = args.strategies and args.self_lr > 0 and row in OPTIMISES_SELF
    return f"{row} (L_self's own Adam)" if own else row


def write(args, runs: dict, titles: dict[str, str], command: str) -> None:
    """``{stem}.json``, ``.md`` and ``.png``: the table, the paired differences under each
    reading (MS²L − random; each strategy − the first one named), and the mean test curves."""
    table = [{**row, "row": labelled(args, row["row"])} for row in summary(runs, titles)]
    rows = list(runs)
    pairs = [(row, rows[0]) for row in rows[1:]] if args.strategies else [tuple(ROWS)]
    readings = {"final": "final", "best": "best", "last": f"last {LAST} epochs"}
    gains = {
        f"{labelled(args, mine)} − {theirs}, {title}, {name}": lift_over(
            runs, (mine, theirs), probe, reading
        )
        for mine, theirs in pairs
        for probe, title in titles.items()
        for reading, name in readings.items()
        if all(reading in r[probe] for rs in runs.values() for r in rs.values())
    }
    payload = {"machine": machine("cpu"), "command": command, "table": table,
               "differences": gains, "runs": runs}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{args.stem}.json", payload)
    figure = args.out / f"{args.stem}.png"
    unit = "epoch of C" if args.strategies else "probe epoch"
    plot_curves(
        {f"{labelled(args, row)}, {title}": mean_curve(by_seed, probe)
         for row, by_seed in runs.items() for probe, title in titles.items()},
        figure, title=f"Test top-1 after each {unit} (mean over seeds {args.seeds})",
        ylabel="test top-1 %",
    )  # fmt: skip
    columns = ["row", "probe", "final", "best", "lift", "last", "best_epochs", "reproduces"]
    headers = ["row", "classifier" if args.strategies else "probe", "final epoch",
               "best test epoch", "best − final (paired)",
               f"mean of the last {LAST} epochs", "best epoch per seed",
               "final = the record"]  # fmt: skip
    if args.strategies:
        heading = "the strategies with the classifier C"
        source = (f"The strategies {', '.join(runs)} are re-trained exactly as their test "
                  f"records in the work folder `{args.work}` (from each seed's random encoder, "
                  "or from its ms2l test row's pre-training for "
                  f"{', '.join(PRE_TRAINED)}; views 1+2 -> view 3, C's default optimiser; "
                  "each final epoch checked against the record), with the test top-1 % "
                  "recorded after every epoch of C.")  # fmt: skip
        if args.self_lr > 0:
            holds = "its heads and the encoder" if args.self_encoder else "its heads"
            source += (f" Moving and Jointly: L_self in an Adam of its own over {holds} (lr "
                       f"{args.self_lr:g}, x0.1 every {args.self_step_every} iterations; 0: "
                       "constant), so their runs have no record.")  # fmt: skip
    else:
        heading = "the linear probe"
        source = ("The encoders are the ms2l and random test rows of the work folder "
                  f"`{args.work}` (views 1+2 -> view 3); each probe is trained exactly as "
                  "there (its final epoch is checked equal to the row's record), with the test "
                  "top-1 % recorded per epoch.")  # fmt: skip
    write_markdown(
        args.out / f"{args.stem}.md",
        [
            f"# MS²L on NW-UCLA: what a best-test-epoch reading of {heading} adds",
            "",
            "DIAGNOSTIC: the test split (view 3) is read after every epoch, so nothing "
            f"here chooses anything. {source} Mean ± std over seeds {args.seeds}.",
            f"Machine: {payload['machine']}.",
            f"Command: `{command}`",
            "",
            markdown_table(table, columns, headers),
            "",
            "Paired by seed: "
            + "; ".join(f"{name} {value}" for name, value in gains.items())
            + ".",
            "",
            f"![mean test curves]({figure.name})",
        ],
    )
    print((args.out / f"{args.stem}.md").read_text())


def probe_runs(args, records: Records, splits: Splits, seeds: list[int]) -> dict:
    """The probes of the ms2l and random rows, per row and seed."""
    runs: dict[str, dict] = {row: {} for row in ROWS}
    for seed in seeds:
        for row in ROWS:
            record = recorded(records, row, seed)
            result = curves_of(args, splits, row, seed)
            for probe, key in RECORD_KEYS.items():
                result[probe]["reproduces"] = result[probe]["final"] == record.get(key)
            runs[row][seed] = result
            print(seed, row, {p: {k: v for k, v in r.items() if k != "curve"}
                              for p, r in result.items()}, flush=True)  # fmt: skip
    return runs


def strategy_runs(args, records: Records, splits: Splits, seeds: list[int]) -> dict:
    """The strategies' curves of C, per strategy and seed."""
    runs: dict[str, dict] = {strategy: {} for strategy in args.strategies}
    for seed in seeds:
        for strategy in args.strategies:
            record = strategy_record(records, args, strategy, seed)
            result = strategy_curve_of(args, splits, strategy, seed)
            reading = result["classifier"]
            reading["record"] = record["classifier_top1"] if record else None
            reading["reproduces"] = reading["final"] == reading["record"] if record else None
            runs[strategy][seed] = result
            print(seed, strategy, {k: v for k, v in reading.items() if k != "curve"}, flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(NWUCLA_ROOT))
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench/ms2l-fc"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--strategies", default="",
        help="comma-separated strategies (rand-s, jointly, pretrain, finetune, moving): their "
        "classifier C instead of the probes; differences paired with the first one",
    )  # fmt: skip
    add_self_optimiser_arguments(parser)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "ms2l" / "results")
    parser.add_argument("--stem", default="", help="default nwucla_ms2l_{,strategy_}test_curve")
    args = parser.parse_args()
    require_nwucla(args.root)
    args.strategies = [s for s in args.strategies.split(",") if s]
    if not set(args.strategies) <= {*FROM_SCRATCH, *PRE_TRAINED}:
        raise SystemExit(f"--strategies: only {', '.join((*FROM_SCRATCH, *PRE_TRAINED))}")
    args.stem = args.stem or ("nwucla_ms2l_strategy_test_curve" if args.strategies
                              else "nwucla_ms2l_test_curve")  # fmt: skip
    # what nwucla_ms2l's helpers read: its defaults (the strategies' test records')
    args.base, args.quick = [], False
    own = {k: getattr(args, k) for k in ("self_lr", "self_step_every", "self_encoder")}
    vars(args).update({**STRATEGY_DEFAULTS, **own})
    seeds = [int(s) for s in args.seeds.split(",")]
    records = Records(args.work / "records.jsonl", reuse=True)
    splits = load_splits(args, [], validate=False)
    if args.strategies:
        runs, titles = strategy_runs(args, records, splits, seeds), STRATEGY_TITLES
    else:
        runs, titles = probe_runs(args, records, splits, seeds), PROBE_TITLES
    command = "python benchmarks/ms2l/diagnostics/test_curve.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:]
    )
    if len(runs) >= 2:  # one process per strategy and seed only keeps its run
        write(args, runs, titles, command)


if __name__ == "__main__":
    main()
