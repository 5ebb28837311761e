"""Evaluate a run directory's encoder with one protocol on its dataset's test split.

Training data for the probe/finetune is the protocol's training split; the test split is
only ever used to report the final number.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from skelssl.config import coerce_value, field_types, parse_override
from skelssl.errors import SkelsslError
from skelssl.evaluate import finetune, knn, linear_probe
from skelssl.runs import load_run

PROTOCOLS = {"linear": linear_probe, "knn": knn, "finetune": finetune}


def _ms2l_strategy(strategy: str):
    """MS²L section 3.3 (Rand-S, Pretrain, finetune, Moving Eq. 4, Jointly Eq. 5)."""

    def run(loaded, train, test, overrides, label_fraction, seeds, quiet):
        from skelssl.ms2l_training import StrategyConfig, train_recognition

        config = apply_overrides(StrategyConfig(), overrides)
        if label_fraction is not None:
            config = dataclasses.replace(config, label_fraction=label_fraction)
        return train_recognition(strategy, loaded.method, train, test, config, quiet=quiet)

    return run


def _byol_linear(loaded, train, test, overrides, label_fraction, seeds, quiet):
    """Skeleton BYOL's linear evaluation (SGD lr 30, conservative augmentation)."""
    from skelssl.byol_protocols import ProtocolConfig, linear_evaluation

    return linear_evaluation(
        loaded.encoder, train, test, apply_overrides(ProtocolConfig(), overrides)
    )


def _byol_semi(loaded, train, test, overrides, label_fraction, seeds, quiet):
    """Skeleton BYOL's semi-supervised protocol: label fractions x label samplings."""
    from skelssl.byol_protocols import ProtocolConfig, semi_supervised

    config = apply_overrides(ProtocolConfig(), overrides)
    if label_fraction is not None:
        config = dataclasses.replace(config, fractions=[label_fraction])
    if seeds is not None:
        config = dataclasses.replace(config, samplings=seeds)
    by_fraction = semi_supervised(loaded.encoder, train, test, config)
    first = next(iter(by_fraction.values()))
    return {
        "protocol": "byol-semi",
        "top1": first["top1"],
        "top1_std": first["top1_std"],
        "top5": first.get("top5", first["top1"]),
        "n_train": first["n_labelled"],
        "n_test": len(test),
        "fractions": {str(k): v for k, v in by_fraction.items()},
    }


# Protocols of one paper, configured by key=value overrides of their own config dataclass.
METHOD_PROTOCOLS = {
    **{
        f"ms2l-{name}": _ms2l_strategy(name)
        for name in ("rand-s", "pretrain", "finetune", "moving", "jointly")
    },
    "byol-linear": _byol_linear,
    "byol-semi": _byol_semi,
}
ALL_PROTOCOLS = (*PROTOCOLS, *METHOD_PROTOCOLS)


def apply_overrides(config, overrides: list[str] | tuple[str, ...], section: str = "evaluation"):
    """``knn_k=20`` or ``evaluation.knn_k=20`` -> an updated copy of the dataclass ``config``."""
    types_ = field_types(type(config))
    for text in overrides:
        keys, value = parse_override(text)
        if keys[0] == section:
            keys = keys[1:]
        if len(keys) != 1 or keys[0] not in types_:
            raise SkelsslError(
                f"unknown {type(config).__name__} key {text.split('=')[0]!r} (known: {', '.join(types_)})"
            )
        config = dataclasses.replace(
            config, **{keys[0]: coerce_value(value, types_[keys[0]], keys[0])}
        )
    return config


def evaluate_run(
    run_dir: str | Path,
    *,
    protocol: str = "linear",
    label_fraction: float | None = None,
    seeds: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    checkpoint: str = "last.pt",
    quiet: bool = False,
) -> dict:
    """Run ``protocol`` (linear | knn | finetune) on the weights of ``checkpoint`` (``last.pt``
    or a kept ``epoch-NNNN.pt``) and append the result to evaluations.jsonl."""
    if protocol not in ALL_PROTOCOLS:
        raise SkelsslError(
            f"unknown evaluation protocol {protocol!r} (known: {', '.join(ALL_PROTOCOLS)})"
        )
    run = load_run(run_dir, checkpoint=checkpoint, quiet=quiet)
    train_data, test_data = run.data.split(run.protocol)
    if protocol in METHOD_PROTOCOLS:
        result = METHOD_PROTOCOLS[protocol](
            run, train_data, test_data, overrides, label_fraction, seeds, quiet
        )
        return _record(run_dir, run, result, checkpoint)
    config = apply_overrides(run.config.evaluation, overrides)
    if protocol == "finetune":
        result = finetune(
            run.encoder, train_data, test_data, config,
            label_fraction=label_fraction, seeds=seeds, quiet=quiet,
        )  # fmt: skip
    else:
        if label_fraction is not None or seeds is not None:
            raise SkelsslError("--label-fraction and --seeds apply to --protocol finetune only")
        result = PROTOCOLS[protocol](run.encoder, train_data, test_data, config, quiet=quiet)
    return _record(run_dir, run, result, checkpoint)


def _record(run_dir, run, result: dict, checkpoint: str) -> dict:
    """Tag the result with the run and append it to ``evaluations.jsonl``."""
    result = dict(result)
    result.setdefault("protocol", "unknown")
    result.update(method=run.config.method, data=run.config.data.name, split=run.protocol)
    return append_evaluation(run_dir, result, checkpoint)


def append_evaluation(run_dir, result: dict, checkpoint: str) -> dict:
    """Append ``result`` (without predictions; with ``checkpoint`` unless it is ``last.pt``)
    to the run's ``evaluations.jsonl``; returns it."""
    if checkpoint != "last.pt":
        result["checkpoint"] = checkpoint
    result.pop("predictions", None)
    with (Path(run_dir) / "evaluations.jsonl").open("a") as handle:
        handle.write(json.dumps(result, default=float) + "\n")
    return result
