"""Typed run configuration: YAML files map onto dataclasses; ``a.b=value`` overrides.

A run is described by :class:`RunConfig`::

    method: simclr            # a key of skelssl.methods.METHODS
    params: {temperature: 0.1}  # the method's own Config dataclass
    encoder: {name: gru, hidden_size: 256}
    train: {epochs: 100, batch_size: 128, optimizer: lars}
    data: {name: nw-ucla, protocol: xview, preprocess: {frames: 50}}
    evaluation: {knn_k: 1}

A YAML file holds only what differs from the defaults. Unknown keys are errors, not
silent new fields. ``epochs=``, ``batch_size=``, ``lr=`` and ``seed=`` are shortcuts for
the ``train.`` keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skelssl.data.dataset import DataConfig
from skelssl.errors import SkelsslError
from skelssl.evaluate import EvalConfig
from skelssl.models import ENCODER_PRESETS, EncoderConfig
from skelssl.train import TrainConfig

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


def _method_class(name: str):
    from skelssl.methods import METHODS

    if name not in METHODS:
        known = ", ".join(sorted(METHODS))
        raise SkelsslError(f"unknown method {name!r} (known: {known})")
    return METHODS[name]


def field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def coerce_value(value: Any, annotation: Any, where: str) -> Any:
    """Check/convert a YAML value against a dataclass field annotation."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce_value(value, option, where)
            except SkelsslError as error:
                errors.append(error)
        raise errors[0]
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise SkelsslError(f"{where} must be a list, got {value!r}")
        args = typing.get_args(annotation)
        item_type = args[0] if args else Any
        items = [coerce_value(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise SkelsslError(f"{where} must be true or false, got {value!r}")
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-6" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is str and isinstance(value, str):
        return value
    if annotation in (int, float, str):
        raise SkelsslError(f"{where} must be {annotation.__name__}, got {value!r}")
    return value


def from_dict(cls, data: dict | None, where: str = "config"):
    """Build dataclass ``cls`` from a dict; unknown keys and wrong types are errors."""
    if data is None:
        return cls()
    if dataclasses.is_dataclass(data):
        return data
    if not isinstance(data, dict):
        raise SkelsslError(f"{where} must be a mapping, got {data!r}")
    types_ = field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise SkelsslError(f"unknown key {where}.{unknown[0]} (known: {', '.join(sorted(types_))})")
    values = {
        key: coerce_value(value, types_[key], f"{where}.{key}") for key, value in data.items()
    }
    return cls(**values)


def to_dict(config) -> dict:
    """Plain-dict form of a (nested) dataclass, for YAML and checkpoints."""
    return dataclasses.asdict(config)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=0.1"`` -> (["train", "lr"], 0.1), the value parsed as YAML."""
    if "=" not in text:
        raise SkelsslError(f"override {text!r} must look like key=value (e.g. epochs=10)")
    key, raw = text.split("=", 1)
    key = SHORTCUTS.get(key.strip(), key.strip())
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _set_path(tree: dict, path: list[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise SkelsslError(f"cannot set {'.'.join(path)}: {key} is not a mapping")
    node[path[-1]] = value


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with path.open() as handle:
            tree = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        raise SkelsslError("config file not found", path) from None
    except yaml.YAMLError as error:
        raise SkelsslError(f"invalid YAML: {str(error).splitlines()[0]}", path) from None
    if not isinstance(tree, dict):
        raise SkelsslError("config must be a YAML mapping", path)
    return tree


def _build_encoder_config(encoder_tree: dict, method_class) -> EncoderConfig:
    """Preset (``encoder.preset`` or the method's ``default_encoder``) updated by the given keys."""
    encoder_tree = dict(encoder_tree)
    preset = encoder_tree.pop("preset", None) or getattr(method_class, "default_encoder", None)
    encoder = EncoderConfig()
    if preset is not None:
        if preset not in ENCODER_PRESETS:
            known = ", ".join(ENCODER_PRESETS)
            raise SkelsslError(f"unknown encoder preset {preset!r} (known: {known})")
        encoder = dataclasses.replace(ENCODER_PRESETS[preset])
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
    method_class = _method_class(method)
    params = from_dict(method_class.Config, tree.pop("params", None), "params")
    encoder = _build_encoder_config(tree.pop("encoder", None) or {}, method_class)
    sections = {"method", "train", "data", "evaluation"}
    unknown = sorted(set(tree) - sections)
    if unknown:
        known = "method, params, encoder, train, data, evaluation"
        raise SkelsslError(f"unknown key {unknown[0]} (known: {known})")
    config = from_dict(RunConfig, tree, "config")
    config.params = params
    config.encoder = encoder
    return config


def load_config(
    method: str | None = None,
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    base: dict | None = None,
) -> RunConfig:
    """Defaults <- ``base`` <- YAML file <- ``key=value`` overrides <- ``method``."""
    tree: dict = _deep_merge({}, base or {})
    if path is not None:
        tree = _deep_merge(tree, read_yaml(path))
    for text in overrides:
        keys, value = parse_override(text)
        _set_path(tree, keys, value)
    if method is not None:
        file_method = tree.get("method")
        if path is not None and file_method not in (None, method):
            raise SkelsslError(f"config is for method {file_method!r}, not {method!r}", path)
        tree["method"] = method
    return build_config(tree)


def _deep_merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (safe_dump, no Python tags)."""
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
