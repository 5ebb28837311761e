"""The ``skelssl`` command: info, demo, config, pretrain, evaluate, embed, predict,
export, report.

Every user error (bad file, bad config, bad argument) is one line on stderr and exit
code 2 — no traceback. Results go to stdout (``--json``: one JSON object), progress to
stderr (``--quiet`` hides it, never the result). Torch and the data stack are imported
inside the commands, so ``--help``, ``--version`` and errors found from the arguments
alone answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from skelssl import __version__
from skelssl.errors import SkelsslError, Terminated
from skelssl.progress import progress_stream

DATA_NAMES = (
    "nw-ucla | ntu60 | ntu120 | pku-mmd | pku-mmd2 | synthetic | a path: skelssl or CTR-GCN "
    ".npz, pyskl/mmaction2 .pkl, AimCLR/ST-GCN feeder folder"
)
# Shown in --help; evaluate_run checks the name (one line, exit 2, for an unknown one).
EVAL_PROTOCOL_HELP = (
    "linear | knn | finetune, or one paper's protocol: ms2l-rand-s, ms2l-pretrain, "
    "ms2l-finetune, ms2l-moving, ms2l-jointly, byol-linear, byol-semi"
)


def _data_overrides(args) -> list[str]:
    """``--data/--root/--split/--skip-bad`` as config overrides. A config's split belongs
    to the config's dataset: with ``--data`` and no ``--split`` the new data's own first
    split is used (so a recipe written for NW-UCLA runs unchanged on the user's file)."""
    overrides = []
    if getattr(args, "data", None):
        overrides.append(f"data.name={args.data}")
        if not getattr(args, "split", None):
            overrides.append("data.split=null")
    if getattr(args, "root", None):
        overrides.append(f"data.root={args.root}")
    if getattr(args, "split", None):
        overrides.append(f"data.split={args.split}")
    if getattr(args, "skip_bad", False):
        overrides.append("data.skip_bad=true")
    for key in ("layout", "score"):
        if getattr(args, key, None):
            overrides.append(f"data.{key}={getattr(args, key)}")
    return overrides


def _renamed_split(args) -> None:
    """``--protocol`` of info/pretrain is the old name of ``--split`` (one release)."""
    if getattr(args, "old_split", None) is not None:
        from skelssl.data.sources import deprecated

        deprecated(f"{args.command} --protocol", "--split (--protocol names evaluation recipes)")
        if args.split not in (None, args.old_split):
            raise SkelsslError(f"--protocol {args.old_split} and --split {args.split} disagree")
        args.split = args.old_split


def check_data_paths(args) -> None:
    """The paths among the data arguments exist: checked before torch is imported."""
    name = getattr(args, "data", None)
    if name and name.lower().endswith((".npz", ".pkl", ".pickle")):
        if not Path(name).expanduser().is_file():
            raise SkelsslError("data file not found", Path(name).expanduser().resolve())
    root = getattr(args, "root", None)
    if root and not Path(root).expanduser().is_dir():
        raise SkelsslError(f"raw data folder of {name or 'the dataset'} not found", root)


def cmd_info(args) -> int:
    check_data_paths(args)
    from skelssl.config import load_config
    from skelssl.data.cache import cached_raw_lengths, load_dataset
    from skelssl.data.sampling import describe

    _renamed_split(args)
    config = load_config("random", None, _data_overrides(args))
    data = load_dataset(config.data, quiet=args.quiet)
    info = describe(data, cached_raw_lengths(config.data))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(_format_info(_labelled_lengths(info)))
    return 0


def _labelled_lengths(info: dict) -> dict:
    """``info`` with its two kinds of lengths named for a reader."""
    shown = {}
    for key, value in info.items():
        if key == "raw_lengths":
            key = "lengths as recorded (frames)"
            value = value or (
                "not recorded (an .npz source, or a cache built by an older skelssl: "
                "remove it from the cache folder to rebuild it)"
            )
        elif key == "lengths":
            key = f"lengths after preprocessing (valid frames of T = {info['frames']})"
        shown[key] = value
    return shown


def _format_info(info: dict, indent: str = "") -> str:
    lines = []
    for key, value in info.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(_format_info(value, indent + "  "))
        elif isinstance(value, list) and len(value) > 12:
            lines.append(f"{indent}{key}: {value[:12]} ... ({len(value)} in all)")
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines)


def _method_or_override(args) -> None:
    """``pretrain --config SET key=value``: argparse took the first override for the
    optional method; give it back to the overrides."""
    if args.method is not None and "=" in args.method:
        args.overrides = [args.method, *args.overrides]
        args.method = None


def cmd_pretrain(args) -> int:
    from skelssl import dist
    from skelssl.config import load_config
    from skelssl.recipes import is_recipe_set
    from skelssl.runs import pretrain
    from skelssl.train import resolve_device

    _renamed_split(args)
    _method_or_override(args)
    if is_recipe_set(args.config) or (args.resume and is_recipe_set(args.out)):
        return cmd_pretrain_set(args)
    if args.method is None and not args.resume:
        from skelssl.config import read_yaml

        if not args.config or "method" not in read_yaml(args.config):
            raise SkelsslError("pretrain needs a method (simclr | ms2l | crrl | byol | "
                               "supervised | random) or a --config naming one")  # fmt: skip
    config = None
    if not args.resume:
        config = load_config(args.method, args.config, [*_data_overrides(args), *args.overrides])
    elif args.overrides or args.config:
        raise SkelsslError("--resume continues a run with its saved config; drop the overrides")
    device = config.train.device if config else "auto"
    dist.setup(resolve_device(device).type)
    is_main = dist.is_main()  # the process group is gone after cleanup
    try:
        summary = pretrain(config, args.out, resume=args.resume, quiet=args.quiet,
                           method=args.method if args.resume else None)  # fmt: skip
    except KeyboardInterrupt as stop:
        if is_main:
            print(resume_hint(args), file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        dist.cleanup()
    if is_main:
        print(json.dumps(summary, indent=2))
    return 0


def cmd_pretrain_set(args) -> int:
    """``pretrain --config SET --out OUT``: every member of the recipe set into ``OUT/<member>/``,
    one after another, and ``OUT/recipe.yaml`` (the set resolved); ``--resume`` continues
    each unfinished member (a finished one is left as it is)."""
    from skelssl import dist
    from skelssl.paths import output_directory
    from skelssl.recipes import RECIPE_FILE, finished_summary, load_recipe_set, write_recipe
    from skelssl.runs import pretrain
    from skelssl.train import resolve_device

    out, overrides = Path(args.out), [*_data_overrides(args), *args.overrides]
    saved = out / RECIPE_FILE
    given = load_recipe_set(args.config, overrides, method=args.method) if args.config else None
    if args.resume and saved.is_file():
        recipe = load_recipe_set(out, method=args.method)
        if given is None and overrides:
            raise SkelsslError("--resume continues a set with its saved recipe.yaml; "
                               "drop the overrides")  # fmt: skip
        if given is not None and given.to_yaml() != recipe.to_yaml():
            raise SkelsslError("--resume: --config and the overrides resolve to another set "
                               "than the saved one (drop them to continue it)", saved)  # fmt: skip
    else:
        if saved.exists() or (out / "last.pt").exists():
            raise SkelsslError("folder already holds a run or a recipe set "
                               "(use --resume or another --out)", out)  # fmt: skip
        recipe = given
    first = next(iter(recipe.members.values()))
    dist.setup(resolve_device(first.train.device).type)
    is_main = dist.is_main()
    summaries = {}
    try:
        if is_main and not saved.is_file():
            output_directory(out)
            write_recipe(recipe, out)
        for name, config in recipe.members.items():
            run_dir = out / name
            resume = args.resume and (run_dir / "last.pt").exists()
            if resume and finished_summary(run_dir) is not None:
                summaries[name] = finished_summary(run_dir)  # finished: left as it is
                continue
            if is_main and not args.quiet:
                print(f"skelssl: recipe set member {name} -> {run_dir}", file=sys.stderr)
            summaries[name] = pretrain(None if resume else config, run_dir, resume=resume,
                                       quiet=args.quiet)  # fmt: skip
    except KeyboardInterrupt as stop:
        if is_main:
            print("skelssl: interrupted; resume the set with:\n  "
                  + shlex.join(["skelssl", "pretrain", "--out", str(out), "--resume"]),
                  file=sys.stderr)  # fmt: skip
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        dist.cleanup()
    if is_main:
        print(json.dumps({"recipe": str(out / RECIPE_FILE), "members": summaries}, indent=2))
    return 0


def resume_hint(args) -> str:
    """What to say after Ctrl-C: where training stands and the exact command to resume."""
    checkpoint = Path(args.out) / "last.pt"
    if not checkpoint.is_file():
        return "skelssl: interrupted before the first checkpoint; nothing to resume"
    command = ["skelssl", "pretrain", *[args.method] * bool(args.method), "--out", args.out,
               "--resume"]  # fmt: skip
    launcher = ""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        launcher = f"torchrun --nproc_per_node {os.environ['WORLD_SIZE']} -m "
    return (
        f"skelssl: interrupted; {checkpoint} holds the state. Resume with:\n  "
        + launcher
        + shlex.join(command)
    )


def _runs_and_overrides(args) -> tuple[list[str], list[str]]:
    """``evaluate RUN RUN ... key=value``: the run directories and the overrides."""
    more = [item for item in args.overrides if "=" not in item]
    return [args.run_dir, *more], [item for item in args.overrides if "=" in item]


def _expand_recipe_set(args, runs: list[str]) -> tuple[list[str], object]:
    """A recipe-set folder given as the only RUN: its members, and the set (else None).
    ``--weights`` left out takes the set's weights; ``--protocol`` (evaluate) the set's."""
    from skelssl.recipes import expand_set, is_recipe_set

    sets = [run for run in runs if is_recipe_set(run)]
    if not sets:
        return runs, None
    if len(runs) > 1:
        raise SkelsslError("a recipe-set folder is given alone (it stands for its runs)", sets[0])
    runs, recipe = expand_set(runs[0])
    if args.weights is None and recipe.weights is not None:
        from skelssl.evaluation.ensemble import weights_text

        args.weights = weights_text(recipe.weights)
    if getattr(args, "protocol", "") is None:
        args.protocol = recipe.protocol
    return runs, recipe


def cmd_ensemble(args) -> int:
    """``evaluate RUN RUN ... --ensemble``: the runs' class scores fused."""
    from skelssl.evaluation.ensemble import evaluate_ensemble, parse_weights

    runs, overrides = _runs_and_overrides(args)
    runs, recipe = _expand_recipe_set(args, runs)
    args.protocol = args.protocol or "linear"
    if args.data or args.save_head or args.label_fraction is not None or args.seeds:
        raise SkelsslError("--ensemble takes --protocol linear|knn, --weights and overrides; "
                           "not --data, --save-head, --label-fraction or --seeds")  # fmt: skip
    result = evaluate_ensemble(runs, protocol=args.protocol, weights=parse_weights(args.weights),
                               overrides=overrides, checkpoint=args.checkpoint,
                               quiet=args.quiet)  # fmt: skip
    if recipe is not None:
        result.update(recipe=str(recipe.path), members=list(recipe.members))
    if args.json:
        print(json.dumps(result))
        return 0
    for run in result["runs"]:
        print(f"{run['run']} ({run['method']}, {run['stream']}): top-1 {run['top1']:.2f}%")
    weights = ", ".join(f"{w:g}" for w in result["weights"])
    print(f"{result['protocol']} ensemble (weights {weights}, {result['weights_from']}): "
          f"top-1 {result['top1']:.2f}%  (train {result['n_train']}, test {result['n_test']})")  # fmt: skip
    return 0


def cmd_evaluate(args) -> int:
    from skelssl.evaluation.run import evaluate_run

    if args.ensemble:
        return cmd_ensemble(args)
    if len(_runs_and_overrides(args)[0]) > 1:
        raise SkelsslError("several runs: add --ensemble to fuse their scores")
    from skelssl.recipes import is_recipe_set

    if is_recipe_set(args.run_dir):
        raise SkelsslError("a recipe set: add --ensemble to fuse its runs' scores (or evaluate "
                           "one of its runs, RUN/<member>)", args.run_dir)  # fmt: skip
    args.protocol = args.protocol or "linear"

    other = None
    if args.data:  # transfer: the run's encoder on another dataset
        check_data_paths(args)
        other = {
            "name": args.data,
            "root": args.root,
            "split": args.split,
            "splits": args.splits,
        }
        other = {key: value for key, value in other.items() if value is not None}
    try:
        result = evaluate_run(
            args.run_dir,
            protocol=args.protocol,
            data=other,
            label_fraction=args.label_fraction,
            seeds=args.seeds,
            overrides=args.overrides,
            checkpoint=args.checkpoint,
            quiet=args.quiet,
            save_head=args.save_head,
        )
    except SkelsslError as error:  # the head could not be written: print the result first
        if getattr(error, "result", None) is not None:
            result = summary_of(error.result)
            print(json.dumps(result) if args.json else _format_result(result))
        raise
    result = summary_of(result)
    print(json.dumps(result) if args.json else _format_result(result))
    return 0


def summary_of(result: dict) -> dict:
    """The printed result: without per-epoch loss curves (``evaluations.jsonl`` keeps them)."""
    summary = {key: value for key, value in result.items() if key != "loss_curve"}
    if isinstance(summary.get("runs"), list):
        summary["runs"] = [
            summary_of(run) if isinstance(run, dict) else run for run in summary["runs"]
        ]
    return summary


def _format_result(result: dict) -> str:
    text = f"{result['protocol']}: top-1 {result['top1']:.2f}%"
    if "top5" in result:
        text += f"  top-5 {result['top5']:.2f}%"
    if result.get("layout_mapping"):
        text = (
            f"[{result['pretrained_on']} -> {result['data']}, joints {result['layout_mapping']}] "
            + text
        )
    if "top1_std" in result:
        runs = result.get("runs") or next(iter(result.get("fractions", {}).values()), {})
        count = len(runs.get("runs", [])) if isinstance(runs, dict) else len(runs)
        text += f"  (± {result['top1_std']:.2f} over {count} runs)"
    if result.get("head_file"):
        text += f"  [head saved: {result['head_file']}]"
    if result.get("finished") is False:
        text += f"  [epoch {result['epoch']} of {result['epochs_planned']}: unfinished run]"
    return text + f"  (train {result['n_train']}, test {result['n_test']})"


def cmd_demo(args) -> int:
    from skelssl.paths import output_directory

    output_directory(args.out)
    from skelssl.demo import run_demo

    run_demo(Path(args.out), quiet=args.quiet)
    return 0


def cmd_config(args) -> int:
    """The resolved config of one run, or of every member of a recipe set."""
    import yaml

    from skelssl.config import load_config, read_yaml, to_dict
    from skelssl.recipes import is_recipe_set, load_recipe_set

    _method_or_override(args)
    if is_recipe_set(args.config):
        print(load_recipe_set(args.config, args.overrides, method=args.method).to_yaml(), end="")
        return 0
    if args.method is None and (not args.config or "method" not in read_yaml(args.config)):
        raise SkelsslError("config needs a method (simclr | ms2l | crrl | byol | supervised | "
                           "random) or a --config naming one")  # fmt: skip
    config = load_config(args.method, args.config, args.overrides)
    print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
    return 0


def _other_data(args) -> dict | None:
    """``--data/--root/--splits`` as a transfer data dict, None without ``--data``."""
    if not args.data:
        return None
    check_data_paths(args)
    other = {"name": args.data, "root": args.root, "splits": args.splits}
    return {key: value for key, value in other.items() if value is not None}


def cmd_embed(args) -> int:
    from skelssl.paths import output_file

    out = output_file(args.out)
    from skelssl.data.readers.arrays import save_arrays
    from skelssl.inference import embed

    arrays = embed(args.run_dir, data=_other_data(args), split=args.split, part=args.part,
                   checkpoint=args.checkpoint, quiet=args.quiet)  # fmt: skip
    save_arrays(arrays, out)
    summary = {"path": str(out), "samples": int(arrays["features"].shape[0]),
               "feature_dim": int(arrays["features"].shape[1]), "part": args.part,
               "split": str(arrays["split"]), "source": str(arrays["source"])}  # fmt: skip
    print(json.dumps(summary) if args.json else
          f"{summary['samples']} x {summary['feature_dim']} features -> {out}")  # fmt: skip
    return 0


def _leading_runs(args) -> tuple[list[str], list[str]]:
    """``RUN RUN ... FILE ...``: the run directories (holding config.yaml), then the inputs."""
    runs, rest = [args.run_dir], list(args.inputs)
    while rest and (Path(rest[0]) / "config.yaml").is_file():
        runs.append(rest.pop(0))
    return runs, rest


def cmd_predict_ensemble(args, runs: list[str]) -> int:
    """``predict RUN RUN ... FILE``: the runs' saved linear heads, probabilities fused."""
    from skelssl.ensemble_models import predict_ensemble
    from skelssl.evaluation.ensemble import parse_weights

    if args.window is not None or args.head is not None or args.weights == "validate":
        raise SkelsslError("predict with several runs uses each RUN/heads/linear.pt and "
                           "--weights w1,w2,...; not --window, --head or --weights validate")  # fmt: skip
    results = predict_ensemble(runs, args.inputs, weights=parse_weights(args.weights),
                               top_k=args.top_k, checkpoint=args.checkpoint,
                               quiet=args.quiet)  # fmt: skip
    for result in [] if args.json else results:
        best = ", ".join(f"{t['label']} {100 * t['probability']:.1f}%" for t in result["top"])
        print(f"{result['input']}: {best}")
    if args.json:
        print(json.dumps(results))
    return 0


def _set_weights_are_numbers(args, recipe) -> None:
    """predict/export of a set whose weights are ``validate``: numbers are needed."""
    if recipe is not None and args.weights == "validate":
        raise SkelsslError("the set's weights are 'validate': give --weights w1,w2,... (evaluate "
                           "SET --ensemble prints the validated ones)", recipe.path)  # fmt: skip


def cmd_predict(args) -> int:
    runs, args.inputs = _leading_runs(args)
    runs, recipe = _expand_recipe_set(args, runs)
    _set_weights_are_numbers(args, recipe)
    if not args.inputs:
        raise SkelsslError("no input file given (predict RUN [RUN ...] FILE ...)")
    if len(runs) > 1 or args.weights is not None:
        return cmd_predict_ensemble(args, runs)
    for name in args.inputs:
        if not Path(name).is_file():
            raise SkelsslError("input file not found", name)
    from skelssl.inference import predict_files

    results = predict_files(
        args.run_dir, args.inputs, head=args.head, top_k=args.top_k, window=args.window,
        stride=args.stride, min_score=args.min_score, checkpoint=args.checkpoint,
        quiet=args.quiet,
    )  # fmt: skip
    if args.json:
        print(json.dumps(results))
        return 0
    for result in results:
        if "segments" in result:
            print(f"{result['input']} ({result['frames']} frames, window {result['window']}, "
                  f"stride {result['stride']}):")  # fmt: skip
            for segment in result["segments"]:
                print(f"  {segment['start']:>6}-{segment['end']:<6} {segment['label']}  "
                      f"(score {segment['score']:.2f}, {segment['windows']} windows)")  # fmt: skip
        else:
            best = ", ".join(f"{t['label']} {100 * t['probability']:.1f}%" for t in result["top"])
            print(f"{result['input']}: {best}")
    return 0


def cmd_export_ensemble(args, out) -> int:
    """``export RUN RUN ... --out model.pt``: the runs' fused classifier as TorchScript."""
    from skelssl.ensemble_models import export_ensemble
    from skelssl.evaluation.ensemble import parse_weights

    if args.format != "torchscript" or args.head is not None or args.weights == "validate":
        raise SkelsslError("export of several runs writes TorchScript of each RUN/heads/linear.pt "
                           "with --weights w1,w2,...; not --format onnx, --head or validate")  # fmt: skip
    result = export_ensemble([args.run_dir, *args.more_runs], out,
                             weights=parse_weights(args.weights), checkpoint=args.checkpoint,
                             quiet=args.quiet)  # fmt: skip
    print(json.dumps(result) if args.json else
          f"torchscript -> {out}: {len(result['runs'])} runs, weights {result['weights']}, "
          f"input {result['input']['joints']} -> probabilities {result['output']}; "
          f"reloaded: max |difference| {result['max_abs_diff']:.2e}")  # fmt: skip
    return 0


def cmd_export(args) -> int:
    from skelssl.paths import output_file

    runs, recipe = _expand_recipe_set(args, [args.run_dir, *args.more_runs])
    _set_weights_are_numbers(args, recipe)
    args.run_dir, args.more_runs = runs[0], runs[1:]
    out = output_file(args.out)
    if args.more_runs:
        return cmd_export_ensemble(args, out)
    from skelssl.export import export_run

    result = export_run(args.run_dir, out, format=args.format, head=args.head,
                        checkpoint=args.checkpoint, quiet=args.quiet)  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        check = ("not checked (onnxruntime not installed)" if result["max_abs_diff"] is None
                 else f"max |difference| {result['max_abs_diff']:.2e} on a test sample")  # fmt: skip
        print(f"{args.format} -> {out}: input {result['input']['joints']} -> output "
              f"{result['output']}; reloaded: {check}")  # fmt: skip
    return 0


def cmd_convert(args) -> int:
    check_data_paths(args)
    from skelssl.config import load_config
    from skelssl.data.convert import convert

    config = load_config("random", None, _data_overrides(args))
    summary = convert(config.data, args.out)
    print(json.dumps(summary) if args.json else
          f"{summary['samples']} sequences ({summary['layout']}, {summary['coords']}, "
          f"splits: {', '.join(summary['splits']) or 'none'}) -> {summary['path']}")  # fmt: skip
    return 0


def cmd_report(args) -> int:
    from skelssl.paths import output_directory

    for run_dir in args.run_dirs:
        if not (Path(run_dir) / "config.yaml").is_file():
            raise SkelsslError("not a run directory (no config.yaml)", run_dir)
    out = output_directory(args.out)
    from skelssl.report import write_report

    index = write_report(args.run_dirs, out, quiet=args.quiet)
    print(f"report: {index}")
    return 0


EXAMPLES = {
    "embed": "skelssl embed runs/simclr --out feats.npz --part test\n"
    "  skelssl embed runs/simclr --data pku-mmd --root PKU --out pku.npz   # another dataset",
    "predict": "skelssl predict runs/simclr a01_s01_e00_v03.json --top-k 3\n"
    "  skelssl predict runs/pku 0310-M.txt --window 60 --stride 30   # untrimmed video",
    "export": "skelssl export runs/simclr --format torchscript --out model.pt "
    "--head runs/simclr/heads/linear.pt",
    "report": "skelssl report runs/simclr runs/random --out report/",
    "config": "skelssl config simclr --config configs/nwucla/simclr.yaml epochs=10",
    "convert": "skelssl convert ntu60_3danno.pkl ntu60.npz\n"
    "  skelssl convert runs_data.npz for_pyskl.pkl   # compare with pyskl",
}


def _with_example(command: str) -> dict:
    return {"epilog": f"example:\n  {EXAMPLES[command]}",
            "formatter_class": argparse.RawDescriptionHelpFormatter}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skelssl", description="Self-supervised learning on skeleton sequences."
    )
    parser.add_argument("--version", action="version", version=f"skelssl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="counts, classes, lengths and split sizes of a dataset")
    info.add_argument("data", help=DATA_NAMES)
    _add_data_options(info, with_name=False)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=cmd_info)

    demo = commands.add_parser("demo", help="pre-train and evaluate on the synthetic dataset")
    demo.add_argument("--out", default="runs/demo", help="directory for the demo's runs")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=cmd_demo)

    config = commands.add_parser(
        "config", help="print the resolved config of a method, every default included",
        **_with_example("config"),
    )  # fmt: skip
    config.add_argument("method", nargs="?",
                        help="simclr | ms2l | crrl | byol | supervised | random "
                             "(default: the --config's)")  # fmt: skip
    config.add_argument("--config", help="YAML config (holds what differs from the defaults), "
                                         "or a recipe set: every member resolved")  # fmt: skip
    config.add_argument("overrides", nargs="*", help="key=value overrides")
    config.set_defaults(run=cmd_config)

    pre = commands.add_parser(
        "pretrain", help="pre-train an encoder (labels unused except by supervised)"
    )
    pre.add_argument("method", nargs="?",
                     help="simclr | ms2l | crrl | byol | supervised | random (default: the "
                     "--config's)")  # fmt: skip
    pre.add_argument("--out", required=True, help="run directory (a recipe set: its folder)")
    pre.add_argument("--config", help="YAML config (holds what differs from the defaults), or a "
                     "recipe set (runs: ...): each member into OUT/<member>/")  # fmt: skip
    pre.add_argument("--resume", action="store_true",
                     help="continue the run (or each unfinished run of the set) in --out")  # fmt: skip
    _add_data_options(pre, with_name=True)
    pre.add_argument(
        "overrides", nargs="*", help="key=value overrides, e.g. epochs=10 train.lr=0.1"
    )
    pre.set_defaults(run=cmd_pretrain)

    ev = commands.add_parser("evaluate", help="evaluate a pre-trained run")
    ev.add_argument("run_dir")
    ev.add_argument("--protocol", default=None,
                    help=EVAL_PROTOCOL_HELP + " (default linear, or a recipe set's)")  # fmt: skip
    ev.add_argument(
        "--label-fraction", type=float, default=None, help="finetune: labelled fraction"
    )
    ev.add_argument("--seeds", type=int, default=None, help="finetune: label samplings to average")
    _add_checkpoint_option(ev)
    ev.add_argument(
        "--save-head",
        action="store_true",
        help="linear, finetune: keep the trained classifier as RUN/heads/<protocol>.pt",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--ensemble", action="store_true",
                    help="RUN RUN ...: fuse the runs' class scores (linear or knn)")  # fmt: skip
    ev.add_argument("--weights", help="--ensemble: w1,w2,... or 'validate' (default equal)")
    ev.add_argument("--quiet", action="store_true", help="no progress bars (results still printed)")
    ev.add_argument(
        "--data", help="transfer: evaluate on another dataset (joint layouts are mapped)"
    )
    ev.add_argument("--root", help="transfer: raw data directory of --data")
    ev.add_argument("--split", help="transfer: train/test split of --data (xsub, xview, ...)")
    ev.add_argument("--splits", help="transfer: folder of split files (PKU-MMD part II)")
    ev.add_argument("overrides", nargs="*", help="evaluation.* overrides, e.g. knn_k=20")
    ev.set_defaults(run=cmd_evaluate)

    emb = commands.add_parser(
        "embed", help="frozen-encoder features (N, D) with labels, subjects, views, names (.npz)",
        **_with_example("embed"),
    )  # fmt: skip
    emb.add_argument("run_dir")
    emb.add_argument("--out", required=True, help="output .npz (no pickles)")
    emb.add_argument("--part", choices=("train", "test", "all"), default="all",
                     help="the split's training or test samples, or all (default)")  # fmt: skip
    emb.add_argument("--split", help="train/test split (xview, xsub, given; default the run's)")
    emb.add_argument("--data", help="another dataset (joints mapped into the run's layout)")
    emb.add_argument("--root", help="raw data directory of --data")
    emb.add_argument("--splits", help="folder of split files of --data (PKU-MMD)")
    _add_output_options(emb)
    emb.set_defaults(run=cmd_embed)

    pred = commands.add_parser(
        "predict", help="class names and probabilities for new recordings",
        **_with_example("predict"),
    )  # fmt: skip
    pred.add_argument("run_dir")
    pred.add_argument(
        "inputs", nargs="+", help=".json (NW-UCLA), .skeleton (NTU), .txt (PKU-MMD), .npz"
    )
    pred.add_argument(
        "--head", help="saved head (default RUN/heads/linear.pt, from evaluate --save-head)"
    )
    pred.add_argument("--top-k", type=int, default=5, help="classes shown per input (default 5)")
    pred.add_argument("--weights", help="RUN RUN ... FILE: w1,w2,... (default equal)")
    pred.add_argument(
        "--window", type=int, help="frames per window: a timeline over a long recording"
    )
    pred.add_argument("--stride", type=int, help="frames between window starts (default --window)")
    pred.add_argument("--min-score", type=float, default=0.0,
                      help="timeline: leave out windows whose best probability is below this")  # fmt: skip
    _add_output_options(pred)
    pred.set_defaults(run=cmd_predict)

    exp = commands.add_parser(
        "export", help="the encoder (+ a saved head) as TorchScript or ONNX",
        **_with_example("export"),
    )  # fmt: skip
    exp.add_argument("run_dir")
    exp.add_argument("more_runs", nargs="*", metavar="RUN",
                     help="more runs: their fused classifier (saved linear heads)")  # fmt: skip
    exp.add_argument("--weights", help="RUN RUN ...: w1,w2,... (default equal)")
    exp.add_argument("--format", choices=("torchscript", "onnx"), default="torchscript")
    exp.add_argument("--out", required=True, help="model.pt (torchscript) or model.onnx")
    exp.add_argument("--head", help="saved head to include (RUN/heads/linear.pt): logits out")
    _add_output_options(exp)
    exp.set_defaults(run=cmd_export)

    rep = commands.add_parser(
        "report", help="index.html with training curves, evaluations, confusion matrix, t-SNE",
        **_with_example("report"),
    )  # fmt: skip
    rep.add_argument("run_dirs", nargs="+", metavar="RUN")
    rep.add_argument("--out", required=True, help="folder for index.html and the PNGs")
    rep.add_argument("--quiet", action="store_true", help="no progress bars")
    rep.set_defaults(run=cmd_report)

    conv = commands.add_parser(
        "convert", help="any readable input to skelssl's .npz, or to a pyskl .pkl (unprepared)",
        **_with_example("convert"),
    )  # fmt: skip
    conv.add_argument("data", help=DATA_NAMES)
    conv.add_argument("out", help="output: file.npz (skelssl) or file.pkl (pyskl)")
    _add_data_options(conv, with_name=False)
    conv.add_argument("--json", action="store_true", help="print one JSON object")
    conv.set_defaults(run=cmd_convert)
    return parser


def _add_checkpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default="last.pt",
        help="weights to use: last.pt or one kept by train.keep_epochs (epoch-0010.pt)",
    )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    _add_checkpoint_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_data_options(parser: argparse.ArgumentParser, *, with_name: bool) -> None:
    if with_name:
        parser.add_argument("--data", help=DATA_NAMES)
    parser.add_argument("--root", help="raw data directory of a real dataset")
    parser.add_argument("--split", help="train/test split (xview, xsub, xset, given)")
    parser.add_argument("--protocol", dest="old_split", help=argparse.SUPPRESS)  # deprecated
    parser.add_argument("--skip-bad", action="store_true", help="skip bad files and report them")
    parser.add_argument("--layout", help="joint layout: coco-17, openpose-18, mediapipe-33, "
                        "ntu-25, kinect-v1-20 or my_layout.yaml (default: from V)")  # fmt: skip
    parser.add_argument("--score", choices=("channel", "mask"),
                        help="2D pose score: an input channel (default) or a mask")  # fmt: skip
    if not any(action.dest == "quiet" for action in parser._actions):
        parser.add_argument(
            "--quiet", action="store_true", help="no progress bars (results still printed)"
        )


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (SLURM, ``docker stop``) raises ``Terminated`` like Ctrl-C raises
    ``KeyboardInterrupt``: cleanup runs, training saves its state, exit code 143."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come before or after options: argparse leaves the later ones over.
    unknown = [item for item in extra if item.startswith("-") or "=" not in item]
    if unknown or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    with progress_stream(), _sigterm_interrupts():
        try:
            return args.run(args)
        except SkelsslError as error:
            print(f"skelssl: error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as stop:
            terminated = isinstance(stop, Terminated)
            print(f"skelssl: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
            return 143 if terminated else 130
        except OSError as error:  # a write no command caught: one line, not a traceback
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f" while writing {error.filename}" if error.filename else ""
            print(f"skelssl: error: no space left on device{where}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # stdout closed early (``| head``): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1


if __name__ == "__main__":
    raise SystemExit(main())
