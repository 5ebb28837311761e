"""Typed run configuration: YAML files map onto dataclasses; ``a.b=value`` overrides.

A run is described by :class:`RunConfig`::

    method: simclr            # a key of skelssl.methods.METHODS
    params: {temperature: 0.1}  # the method's own Config dataclass
    encoder: {name: gru, hidden_size: 256}
    train: {epochs: 100, batch_size: 128, optimizer: lars}
    data: {name: nw-ucla, split: xview, preprocess: {frames: 50}}
    evaluation: {knn_k: 1}

A YAML file holds only what differs from the defaults. Unknown keys are errors, not
silent new fields. ``epochs=``, ``batch_size=``, ``lr=`` and ``seed=`` are shortcuts for
the ``train.`` keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skelssl import typed
from skelssl.data.sources import DataConfig, data_tree
from skelssl.data.streams import check_stream
from skelssl.errors import SkelsslError
from skelssl.evaluation.config import EvalConfig
from skelssl.methods import default_encoder_config, method_class
from skelssl.models import EncoderConfig
from skelssl.train_config import TrainConfig
from skelssl.typed import coerce_value, field_types, from_dict, read_yaml, to_dict

__all__ = [
    "RunConfig",
    "build_config",
    "from_dict",
    "load_config",
    "parse_override",
    "read_yaml",
    "save_config",
    "to_dict",
]

SHORTCUTS = {
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "seed": "train.seed",
}


@dataclass
class RunConfig:
    """Everything that defines a run; ``params`` is the method's own Config dataclass."""

    method: str = "simclr"
    params: Any = None
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=0.1"`` -> (["train", "lr"], 0.1), the value parsed as YAML; ``epochs=``,
    ``batch_size=``, ``lr=`` and ``seed=`` are shortcuts for the ``train.`` keys."""
    keys, value = typed.parse_override(text)
    key = ".".join(keys)
    return SHORTCUTS.get(key, key).split("."), value


def _set_path(tree: dict, path: list[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise SkelsslError(f"cannot set {'.'.join(path)}: {key} is not a mapping")
    node[path[-1]] = value


def _build_encoder_config(encoder_tree: dict, cls) -> EncoderConfig:
    """Preset (``encoder.preset`` or the method's ``default_encoder``) updated by the given keys."""
    encoder_tree = dict(encoder_tree)
    encoder = default_encoder_config(cls, encoder_tree.pop("preset", None))
    types_ = field_types(EncoderConfig)
    for key, value in encoder_tree.items():
        if key not in types_:
            raise SkelsslError(f"unknown key encoder.{key} (known: preset, {', '.join(types_)})")
        encoder = dataclasses.replace(
            encoder, **{key: coerce_value(value, types_[key], f"encoder.{key}")}
        )
    return encoder


def build_config(tree: dict) -> RunConfig:
    """Resolve a raw dict (file + overrides) into a :class:`RunConfig`."""
    tree = dict(tree)
    method = tree.get("method", "simclr")
    cls = method_class(method)
    params = from_dict(cls.Config, tree.pop("params", None), "params")
    encoder = _build_encoder_config(tree.pop("encoder", None) or {}, cls)
    sections = {"method", "train", "data", "evaluation"}
    unknown = sorted(set(tree) - sections)
    if unknown:
        known = "method, params, encoder, train, data, evaluation"
        raise SkelsslError(f"unknown key {unknown[0]} (known: {known})")
    if "data" in tree:
        tree["data"] = data_tree(tree["data"])
    config = from_dict(RunConfig, tree, "config")
    config.params = params
    config.encoder = encoder
    check_stream(config.data.stream)
    config.train.validate()
    config.evaluation.validate()
    return config


def load_config(
    method: str | None = None,
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    base: dict | None = None,
) -> RunConfig:
    """Defaults <- ``base`` <- YAML file <- ``key=value`` overrides <- ``method``.

    An override ``method=M`` naming another method than the file's drops the file's
    ``params`` (they belong to the file's method), so ``method=random`` reads any config's
    encoder and data; ``params.*`` overrides still apply. ``method="random"`` does the same
    with any method's file: the untrained encoder of that recipe (same encoder, same input),
    the baseline every method is compared with."""
    tree: dict = _deep_merge({}, base or {})
    parsed = [parse_override(text) for text in overrides]
    if method == "random":
        parsed.append((["method"], "random"))
    if path is not None:
        file_tree = read_yaml(path)
        methods = [value for keys, value in parsed if keys == ["method"]]
        if methods and file_tree.get("method") not in (None, methods[-1]):
            file_tree = without_method_params(file_tree)
        tree = _deep_merge(tree, file_tree)
    for keys, value in parsed:
        _set_path(tree, keys, value)
    if method is not None:
        file_method = tree.get("method")
        if path is not None and file_method not in (None, method):
            raise SkelsslError(f"config is for method {file_method!r}, not {method!r}", path)
        tree["method"] = method
    return build_config(tree)


def without_method_params(file_tree: dict) -> dict:
    """A config file read for another method: its ``params`` dropped (they belong to its
    method), its encoder kept, the file method's default preset included where the file
    names none (the untrained encoder of an MS²L recipe is MS²L's 1x30 GRU)."""
    tree = {key: value for key, value in file_tree.items() if key != "params"}
    encoder = dict(tree.get("encoder") or {})
    if "preset" not in encoder and file_tree.get("method") is not None:
        preset = getattr(method_class(file_tree["method"]), "default_encoder", None)
        if preset is not None:
            tree["encoder"] = {"preset": preset, **encoder}
    return tree


def _deep_merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_yaml(config: RunConfig) -> str:
    """The resolved config as YAML text (safe_dump, no Python tags)."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (safe_dump, no Python tags), atomically."""
    from skelssl.paths import write_text_atomic

    write_text_atomic(path, config_yaml(config))
