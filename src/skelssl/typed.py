"""Strict dict/YAML -> dataclass conversion and ``key=value`` overrides (a leaf module).

Unknown keys and wrong types are :class:`~skelssl.errors.SkelsslError`, not silent new
fields. Used by :mod:`skelssl.config` (the run config), the evaluation protocols' own
config dataclasses and methods that read another run's ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from skelssl.errors import SkelsslError


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
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with path.open() as handle:
            tree = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        raise SkelsslError("config file not found", path) from None
    except IsADirectoryError:
        raise SkelsslError("is a folder, not a YAML config file", path) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise SkelsslError(f"cannot read the config file: {reason}", path) from None
    except yaml.YAMLError as error:
        raise SkelsslError(f"invalid YAML: {str(error).splitlines()[0]}", path) from None
    if not isinstance(tree, dict):
        raise SkelsslError("config must be a YAML mapping", path)
    return tree


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
