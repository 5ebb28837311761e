"""The ``skelssl`` command: info, demo, pretrain, evaluate.

Every user error (bad file, bad config, bad argument) is one line on stderr and exit
code 2 — no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from skelssl.errors import SkelsslError
from skelssl.evaluation import PROTOCOLS as EVAL_PROTOCOLS


def _data_overrides(args) -> list[str]:
    overrides = []
    if getattr(args, "data", None):
        overrides.append(f"data.name={args.data}")
    if getattr(args, "root", None):
        overrides.append(f"data.root={args.root}")
    if getattr(args, "split", None):
        overrides.append(f"data.split={args.split}")
    if getattr(args, "skip_bad", False):
        overrides.append("data.skip_bad=true")
    return overrides


def _renamed_split(args) -> None:
    """``--protocol`` of info/pretrain is the old name of ``--split`` (one release)."""
    if getattr(args, "old_split", None) is not None:
        from skelssl.data.sources import deprecated

        deprecated(f"{args.command} --protocol", "--split (--protocol names evaluation recipes)")
        if args.split not in (None, args.old_split):
            raise SkelsslError(f"--protocol {args.old_split} and --split {args.split} disagree")
        args.split = args.old_split


def cmd_info(args) -> int:
    from skelssl.config import load_config
    from skelssl.data.cache import load_dataset
    from skelssl.data.sampling import describe

    _renamed_split(args)
    config = load_config("random", None, _data_overrides(args))
    data = load_dataset(config.data, quiet=args.quiet or args.json)
    info = describe(data)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(_format_info(info))
    return 0


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


def cmd_pretrain(args) -> int:
    from skelssl import dist
    from skelssl.config import load_config
    from skelssl.runs import pretrain
    from skelssl.train import resolve_device

    _renamed_split(args)
    config = None
    if not args.resume:
        config = load_config(args.method, args.config, [*_data_overrides(args), *args.overrides])
    elif args.overrides or args.config:
        raise SkelsslError("--resume continues a run with its saved config; drop the overrides")
    device = config.train.device if config else "auto"
    dist.setup(resolve_device(device).type)
    try:
        summary = pretrain(config, args.out, resume=args.resume, quiet=args.quiet)
    finally:
        dist.cleanup()
    if dist.is_main() and not args.quiet:
        print(json.dumps(summary, indent=2))
    return 0


def cmd_evaluate(args) -> int:
    from skelssl.evaluation.run import evaluate_run

    other = None
    if args.data:  # transfer: the run's encoder on another dataset
        other = {
            "name": args.data,
            "root": args.root,
            "split": args.split,
            "splits": args.splits,
        }
        other = {key: value for key, value in other.items() if value is not None}
    result = evaluate_run(
        args.run_dir,
        protocol=args.protocol,
        data=other,
        label_fraction=args.label_fraction,
        seeds=args.seeds,
        overrides=args.overrides,
        checkpoint=args.checkpoint,
        quiet=args.quiet or args.json,
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(_format_result(result))
    return 0


def _format_result(result: dict) -> str:
    text = f"{result['protocol']}: top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%"
    if result.get("layout_mapping"):
        text = (
            f"[{result['pretrained_on']} -> {result['data']}, joints {result['layout_mapping']}] "
            + text
        )
    if "top1_std" in result:
        text += f"  (± {result['top1_std']:.2f} over {len(result.get('runs', []))} runs)"
    return text + f"  (train {result['n_train']}, test {result['n_test']})"


def cmd_demo(args) -> int:
    from skelssl.demo import run_demo

    run_demo(Path(args.out), quiet=args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skelssl", description="Self-supervised learning on skeleton sequences."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="counts, classes, lengths and split sizes of a dataset")
    info.add_argument("data", help="nw-ucla | ntu60 | ntu120 | synthetic | path/to/file.npz")
    _add_data_options(info, with_name=False)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=cmd_info)

    demo = commands.add_parser("demo", help="pre-train and evaluate on the synthetic dataset")
    demo.add_argument("--out", default="runs/demo", help="directory for the demo's runs")
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(run=cmd_demo)

    pre = commands.add_parser(
        "pretrain", help="pre-train an encoder (labels unused except by supervised)"
    )
    pre.add_argument("method", help="simclr | ms2l | crrl | byol | supervised | random")
    pre.add_argument("--out", required=True, help="run directory")
    pre.add_argument("--config", help="YAML config (holds what differs from the defaults)")
    pre.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_data_options(pre, with_name=True)
    pre.add_argument(
        "overrides", nargs="*", help="key=value overrides, e.g. epochs=10 train.lr=0.1"
    )
    pre.set_defaults(run=cmd_pretrain)

    ev = commands.add_parser("evaluate", help="evaluate a pre-trained run")
    ev.add_argument("run_dir")
    ev.add_argument(
        "--protocol",
        choices=EVAL_PROTOCOLS,
        default="linear",
        help="linear | knn | finetune, or one paper's protocol (ms2l-moving, byol-semi, ...)",
    )
    ev.add_argument(
        "--label-fraction", type=float, default=None, help="finetune: labelled fraction"
    )
    ev.add_argument("--seeds", type=int, default=None, help="finetune: label samplings to average")
    ev.add_argument(
        "--checkpoint",
        default="last.pt",
        help="weights to evaluate: last.pt or one kept by train.keep_epochs (epoch-0010.pt)",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--quiet", action="store_true")
    ev.add_argument(
        "--data", help="transfer: evaluate on another dataset (joint layouts are mapped)"
    )
    ev.add_argument("--root", help="transfer: raw data directory of --data")
    ev.add_argument("--split", help="transfer: train/test split of --data (xsub, xview, ...)")
    ev.add_argument("--splits", help="transfer: folder of split files (PKU-MMD part II)")
    ev.add_argument("overrides", nargs="*", help="evaluation.* overrides, e.g. knn_k=20")
    ev.set_defaults(run=cmd_evaluate)
    return parser


def _add_data_options(parser: argparse.ArgumentParser, *, with_name: bool) -> None:
    if with_name:
        parser.add_argument(
            "--data", help="nw-ucla | ntu60 | ntu120 | synthetic | path/to/file.npz"
        )
    parser.add_argument("--root", help="raw data directory of a real dataset")
    parser.add_argument("--split", help="train/test split (xview, xsub, xset, given)")
    parser.add_argument("--protocol", dest="old_split", help=argparse.SUPPRESS)  # deprecated
    parser.add_argument("--skip-bad", action="store_true", help="skip bad files and report them")
    if not any(action.dest == "quiet" for action in parser._actions):
        parser.add_argument("--quiet", action="store_true", help="no progress bars")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come before or after options: argparse leaves the later ones over.
    unknown = [item for item in extra if item.startswith("-") or "=" not in item]
    if unknown or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        return args.run(args)
    except SkelsslError as error:
        print(f"skelssl: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skelssl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
