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
from skelssl.evaluate import EvalConfig, finetune, knn, linear_probe
from skelssl.runs import load_run

PROTOCOLS = {"linear": linear_probe, "knn": knn, "finetune": finetune}


def apply_eval_overrides(config: EvalConfig, overrides: list[str] | tuple[str, ...]) -> EvalConfig:
    """``knn_k=20`` or ``evaluation.knn_k=20`` -> updated :class:`EvalConfig`."""
    types_ = field_types(EvalConfig)
    for text in overrides:
        keys, value = parse_override(text)
        if keys[0] == "evaluation":
            keys = keys[1:]
        if len(keys) != 1 or keys[0] not in types_:
            raise SkelsslError(f"unknown evaluation key {text.split('=')[0]!r} (known: {', '.join(types_)})")
        config = dataclasses.replace(config, **{keys[0]: coerce_value(value, types_[keys[0]], keys[0])})
    return config


def evaluate_run(
    run_dir: str | Path,
    *,
    protocol: str = "linear",
    label_fraction: float | None = None,
    seeds: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    quiet: bool = False,
) -> dict:
    """Run ``protocol`` (linear | knn | finetune) and append the result to evaluations.jsonl."""
    if protocol not in PROTOCOLS:
        raise SkelsslError(f"unknown evaluation protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    run = load_run(run_dir, quiet=quiet)
    config = apply_eval_overrides(run.config.evaluation, overrides)
    train_data, test_data = run.data.split(run.protocol)
    if protocol == "finetune":
        result = finetune(
            run.encoder, train_data, test_data, config,
            label_fraction=label_fraction, seeds=seeds, quiet=quiet,
        )  # fmt: skip
    else:
        if label_fraction is not None or seeds is not None:
            raise SkelsslError("--label-fraction and --seeds apply to --protocol finetune only")
        result = PROTOCOLS[protocol](run.encoder, train_data, test_data, config, quiet=quiet)
    result.update(method=run.config.method, data=run.config.data.name, split=run.protocol)
    result.pop("predictions", None)
    with (Path(run_dir) / "evaluations.jsonl").open("a") as handle:
        handle.write(json.dumps(result) + "\n")
    return result
