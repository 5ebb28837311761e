"""Do the recipes carry over? Each shipped NW-UCLA config, unchanged, on smaller NW-UCLA
variants that look like a user's data, against the untrained encoder of the same config.

Variants of the training views (views 1+2), each tested on all of view 3 (464 clips):

- ``f0.25`` / ``f0.5``: a class-stratified 25 % / 50 % of the training *performances*
  (a take seen by up to two training cameras; every camera of a chosen take kept);
- ``f0.25-one`` / ``f0.5-one``: the same takes, one camera each (drawn at random): every
  clip its own take, as most users' datasets are.

A recipe set (``recommended``: streams fused at the score level) runs each member as a
config of its own, ``<set>.<member>`` (the set's base with the member's overrides; a member
equal to its base, the joint stream, is the base config's run), and its row is the members'
fusion with the set's weights: ``skelssl evaluate RUN RUN ... --ensemble --weights W``,
the untrained encoders fused the same way.

The draw of the subset uses the run's seed. Each variant is written as a ``.npz`` of *raw*
camera coordinates (native frame rate, no centring or view normalisation), the way a user
brings data; the config's own preprocessing then applies as for the original files. Per
(variant, config, seed): ``skelssl pretrain <method> --data VARIANT.npz --config
configs/nwucla/<config>.yaml seed=S``, its untrained encoder ``skelssl pretrain random
--config configs/nwucla/<config>.yaml seed=S`` (same encoder, same input, BN statistics on
the variant), then ``skelssl evaluate RUN --protocol linear|knn`` (kNN: k=1, cosine). The
pre-training's collapse check (``summary.json``) is kept beside the numbers.
Nothing is selected on view 3: final epochs.

    python benchmarks/carryover/table.py --work $WORK --variants f0.25 \\
        --configs simclr,byol,ms2l,crrl-ser --seeds 0,1,2
    python benchmarks/carryover/table.py --work $WORK --variants f0.25 --configs recommended
    python benchmarks/carryover/table.py --work $WORK --report   # tables from finished runs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import (  # noqa: E402
    NWUCLA_ROOT,
    REPO,
    encoder_label,
    machine,
    mean_std_text,
    merge_row,
    paired_differences,
    require_nwucla,
    results_dir,
    run_finished,
    skelssl_command,
    summary_row,
    write_json,
    write_markdown,
)
from skelssl.config import load_config, read_yaml, save_config  # noqa: E402
from skelssl.data.cache import load_dataset  # noqa: E402
from skelssl.data.readers.arrays import read_npz, write_npz  # noqa: E402
from skelssl.data.types import SkeletonData  # noqa: E402
from skelssl.evaluation.ensemble import weights_text  # noqa: E402
from skelssl.recipes import is_recipe_set, load_recipe_set  # noqa: E402

CONFIGS = ("simclr", "byol", "ms2l", "crrl-ser")
VARIANTS = ("f0.25", "f0.25-one", "f0.5", "f0.5-one")
NATIVE_FRAMES = 250  # longer than any NW-UCLA clip (201 frames)
RAW = "nwucla_raw.npz"


def raw_nwucla(root: str, work: Path) -> SkeletonData:
    """NW-UCLA at its native frame rate, no spatial step (``WORK/nwucla_raw.npz``)."""
    path = work / RAW
    if not path.exists():
        config = load_config("simclr", REPO / "configs/nwucla/simclr.yaml", [f"data.root={root}"])
        steps = dataclasses.replace(
            config.data.preprocess, frames=NATIVE_FRAMES, temporal="at-most",
            center=False, view_normalize=False, minmax=False,
        )  # fmt: skip
        data = load_dataset(dataclasses.replace(config.data, preprocess=steps), quiet=True)
        work.mkdir(parents=True, exist_ok=True)
        write_npz(data, path)
    return read_npz(path)


def variant_rows(data: SkeletonData, fraction: float, one_camera: bool, seed: int) -> tuple:
    """Row indices of the variant's training clips and of the test clips (view 3)."""
    train = np.asarray(data.splits["xview"], dtype=bool)
    performances = np.asarray(data.performances, dtype=str)
    labels = np.asarray(data.labels)
    rng = np.random.default_rng(seed)
    takes = sorted(set(performances[train]))
    label_of = {p: labels[np.flatnonzero((performances == p) & train)[0]] for p in takes}
    chosen = []
    for label in sorted(set(label_of.values())):
        members = [p for p in takes if label_of[p] == label]
        keep = max(1, int(np.floor(fraction * len(members) + 0.5)))
        chosen += list(rng.permutation(members)[:keep])
    rows = []
    for take in sorted(chosen):
        clips = np.flatnonzero((performances == take) & train)
        rows += [int(rng.choice(clips))] if one_camera else clips.tolist()
    return np.array(sorted(rows)), np.flatnonzero(~train)


def variant_name(variant: str, seed: int) -> str:
    fraction, _, one = variant.partition("-")
    return f"nwucla_{fraction}_{'one' if one else 'all'}_s{seed}"


def write_variant(data: SkeletonData, variant: str, seed: int, work: Path) -> Path:
    """``WORK/<name>.npz``: the variant's training clips + view 3, split ``given``."""
    path = work / f"{variant_name(variant, seed)}.npz"
    if path.exists():
        return path
    fraction, _, one = variant.partition("-")
    train_rows, test_rows = variant_rows(data, float(fraction[1:]), bool(one), seed)
    keep = np.concatenate([train_rows, test_rows])
    subset = data.subset(keep)
    split = np.zeros(len(keep), dtype=bool)
    split[: len(train_rows)] = True
    write_npz(dataclasses.replace(subset, splits={"given": split}), path)
    return path


def shipped(config: str) -> Path:
    return REPO / f"configs/nwucla/{config}.yaml"


def resolved(config: str):
    """The :class:`~skelssl.config.RunConfig` of a shipped config, of a set's member
    ``<set>.<member>``, or of a set (its first member)."""
    name, _, member = config.partition(".")
    if not is_recipe_set(shipped(name)):
        return load_config(None, shipped(name))
    members = load_recipe_set(shipped(name)).members
    return members[member] if member else next(iter(members.values()))


def config_file(work: Path, config: str) -> Path:
    """``configs/nwucla/<config>.yaml``, or a set member's resolved config written to
    ``WORK/configs/<set>.<member>.yaml``."""
    if "." not in config:
        return shipped(config)
    path = work / "configs" / f"{config}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_config(resolved(config), path)
    return path


def set_members(config: str) -> dict[str, str] | None:
    """{member: the config its run uses} of a recipe set (None for a single config): the
    set's base config where the member equals it (the joint stream), else
    ``<set>.<member>``."""
    if not is_recipe_set(shipped(config)):
        return None
    base = read_yaml(shipped(config)).get("base")
    base = Path(base).stem if isinstance(base, str) else None
    same = load_config(None, shipped(base)) if base else None
    members = load_recipe_set(shipped(config)).members
    return {name: base if member == same else f"{config}.{name}"
            for name, member in members.items()}  # fmt: skip


def pretrain(data: Path, config: Path, seed: int, run: Path, random: bool, extra) -> None:
    """Train ``run`` with the config file ``config`` unless finished; an interrupted run
    continues from its ``last.pt``."""
    if run_finished(run):
        return
    if (run / "last.pt").exists():
        skelssl_command("pretrain", "--resume", "--out", str(run), "--quiet")
        return
    method = "random" if random else load_config(None, config).method
    skelssl_command(
        "pretrain", method, "--data", str(data), "--config", str(config), "--out", str(run),
        "--quiet", f"seed={seed}", *extra,
    )  # fmt: skip


def evaluate(run: Path, protocol: str) -> float:
    out = skelssl_command("evaluate", str(run), "--protocol", protocol, "--json", "--quiet")
    return float(json.loads(out)["top1"])


def run_dirs(work: Path, variant: str, config: str, seed: int) -> tuple[Path, Path]:
    """The trained and the untrained run of one (variant, config, seed)."""
    run = work / "runs" / f"{variant_name(variant, seed)}_{config}_s{seed}"
    return run, run.with_name(run.name + "_random")


def run_one(work: Path, variant: str, config: str, seed: int, extra) -> dict:
    """Both runs of one (variant, config, seed) and their four numbers."""
    data = work / f"{variant_name(variant, seed)}.npz"
    run, untrained = run_dirs(work, variant, config, seed)
    pretrain(data, config_file(work, config), seed, run, False, extra)
    pretrain(data, config_file(work, config), seed, untrained, True, extra)
    summary = json.loads((run / "summary.json").read_text())
    return {
        "variant": variant, "config": config, "seed": seed,
        "n_train": summary.get("n_train"), "steps": summary.get("steps"),
        "epochs": summary.get("epochs"), "minutes": round(summary.get("seconds", 0) / 60, 2),
        "linear": evaluate(run, "linear"), "knn": evaluate(run, "knn"),
        "random_linear": evaluate(untrained, "linear"), "random_knn": evaluate(untrained, "knn"),
        "collapse": summary.get("collapse"),
    }  # fmt: skip


def fused(runs: list[Path], weights, protocol: str) -> float:
    """Top-1 % of ``runs``' scores fused with ``weights`` (a list, ``validate`` or None:
    equal), as ``skelssl evaluate RUN ... --ensemble`` does."""
    given = [] if weights is None else ["--weights", weights_text(weights)]
    out = skelssl_command("evaluate", *map(str, runs), "--ensemble", *given,
                          "--protocol", protocol, "--json", "--quiet")  # fmt: skip
    return float(json.loads(out)["top1"])


def run_set(work: Path, variant: str, config: str, seed: int, extra) -> list[dict]:
    """A recipe set's member rows (members that are another config's run are not
    repeated) and its own row: the members' scores fused with the set's weights."""
    members = set_members(config)
    rows = [run_one(work, variant, member, seed, extra) for member in members.values()]
    weights = load_recipe_set(shipped(config)).weights
    trained, untrained = zip(*(run_dirs(work, variant, m, seed) for m in members.values()))
    row = {
        "variant": variant, "config": config, "seed": seed, "n_train": rows[0]["n_train"],
        "steps": rows[0]["steps"], "epochs": rows[0]["epochs"],
        "minutes": round(sum(r["minutes"] for r in rows), 2), "members": members,
        "weights": weights, "linear": fused(list(trained), weights, "linear"),
        "knn": fused(list(trained), weights, "knn"),
        "random_linear": fused(list(untrained), weights, "linear"),
        "random_knn": fused(list(untrained), weights, "knn"),
        "collapse": {"warning": "; ".join(filter(None, ((r.get("collapse") or {}).get("warning")
                                                         for r in rows)))},
    }  # fmt: skip
    return [r for r in rows if "." in r["config"]] + [row]


def table(rows: list[dict]) -> list[str]:
    """Mean ± std over seeds per (variant, config), trained − untrained paired by seed."""
    lines = [
        "| variant | config | seeds | train clips | steps | linear | kNN | untrained linear "
        "| untrained kNN | Δ linear | Δ kNN | wins (lin/kNN) | collapse warning |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["variant"], row["config"]), []).append(row)
    for (variant, config), group in sorted(groups.items()):
        by_seed = {key: {r["seed"]: r[key] for r in group} for key in group[0] if key != "seed"}
        dl = paired_differences(by_seed["linear"], by_seed["random_linear"])
        dk = paired_differences(by_seed["knn"], by_seed["random_knn"])
        warned = sum(bool((r.get("collapse") or {}).get("warning")) for r in group)
        lines.append(
            f"| {variant} | {config} | {len(group)} | {group[0]['n_train']} | "
            f"{group[0]['steps']} | {mean_std_text(by_seed['linear'].values())} | "
            f"{mean_std_text(by_seed['knn'].values())} | "
            f"{mean_std_text(by_seed['random_linear'].values())} | "
            f"{mean_std_text(by_seed['random_knn'].values())} | "
            f"{mean_std_text(dl, signed=True)} | {mean_std_text(dk, signed=True)} | "
            f"{sum(d > 0 for d in dl)}/{sum(d > 0 for d in dk)} of {len(group)} | "
            f"{warned} of {len(group)} |"
        )
    return lines


def input_label(variant: str) -> str:
    fraction, _, one = variant.partition("-")
    share = f"{float(fraction[1:]) * 100:g} % of the training takes"
    return share + (", one camera each" if one else "")


def summary_rows(rows: list[dict]) -> list[dict]:
    """Results-contract rows (``benchmarks/summary.py``): per (variant, config) the trained
    and the untrained encoder, with ``train_fraction``, ``one_camera`` and ``input``."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["variant"], row["config"]), []).append(row)
    result = []
    for (variant, config), group in sorted(groups.items()):
        recipe = resolved(config)
        members = set_members(config)  # None for a single config or a set's member
        fraction, _, one = variant.partition("-")
        common = dict(
            encoder=encoder_label(recipe.encoder), frames=recipe.data.preprocess.frames,
            seeds=[r["seed"] for r in group], device="cpu",
            source="carryover/results/nwucla_carryover.json", input=input_label(variant),
            train_fraction=float(fraction[1:]), one_camera=bool(one), config=config,
            **({"stream": "+".join(members)} if members else {"stream": recipe.data.stream}),
        )  # fmt: skip
        result.append(summary_row(
            method=recipe.method, epochs=group[0]["epochs"],
            minutes=round(float(np.mean([r["minutes"] for r in group])), 2),
            linear=[r["linear"] for r in group], knn=[r["knn"] for r in group], **common,
        ))  # fmt: skip
        result.append(summary_row(
            method="random", epochs=0, minutes=0.0, linear=[r["random_linear"] for r in group],
            knn=[r["random_knn"] for r in group], **common,
        ))  # fmt: skip
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(NWUCLA_ROOT), help="NW-UCLA all_sqe folder")
    parser.add_argument("--work", required=True, help="variants and runs (kept between calls)")
    parser.add_argument("--variants", default="f0.25", help=f"comma list of {VARIANTS}")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="configs/nwucla/<name>")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--set", nargs="*", default=[], help="key=value for every run")
    parser.add_argument("--report", action="store_true", help="tables from the saved rows")
    parser.add_argument("--out", default=str(results_dir("carryover") / "nwucla_carryover"))
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    work = Path(args.work).resolve()
    out = Path(args.out)
    saved = out.with_suffix(".json")
    rows = json.loads(saved.read_text())["rows"] if saved.exists() else []
    if not args.report:
        require_nwucla(args.root)
        data = raw_nwucla(args.root, work)
        for variant in args.variants.split(","):
            if variant not in VARIANTS:
                raise SystemExit(f"unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
            for seed in [int(s) for s in args.seeds.split(",")]:
                write_variant(data, variant, seed, work)
                for config in args.configs.split(","):
                    if set_members(config):
                        new = run_set(work, variant, config, seed, args.set)
                    else:
                        new = [run_one(work, variant, config, seed, args.set)]
                    for row in new:  # merge_row re-reads the file: write each row
                        rows = merge_row(saved, row, ("variant", "config", "seed"))
                        payload = {"rows": rows, "summary_rows": summary_rows(rows),
                                   "machine": machine(), "set": args.set}  # fmt: skip
                        write_json(saved, payload, seeds=sorted({r["seed"] for r in rows}))
                        print(json.dumps({k: row[k] for k in row if k != "collapse"}), flush=True)
    if args.report and saved.exists():
        payload = json.loads(saved.read_text())
        write_json(saved, {**payload, "summary_rows": summary_rows(rows)})
    lines = ["# Recipes on NW-UCLA variants that look like a user's data", "",
             "Generated by `benchmarks/carryover/table.py` (module docstring: the protocol).",
             "Linear probe and kNN (k=1, cosine) top-1 % on view 3; Δ = trained − untrained "
             "encoder of the same config, paired by seed.", "", *table(rows)]  # fmt: skip
    write_markdown(out.with_suffix(".md"), lines)
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
