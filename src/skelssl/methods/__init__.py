"""Training methods, one paper per file, and the one dict that names them.

A method is a :class:`~skelssl.methods.base.Method`: an ``nn.Module`` with a class
attribute ``Config`` (dataclass of the paper's defaults), ``default_encoder`` (a key of
:data:`skelssl.models.ENCODER_PRESETS`), an ``encoder`` attribute, ``loss(batch) ->
dict[str, Tensor]`` (key ``"loss"`` is optimised) and the hooks the trainer calls
(``prepare``, ``train_dataset``, ``param_groups``, ``after_step``; no-ops by default).
"""

from __future__ import annotations

import dataclasses

from skelssl.data.types import DataSpec
from skelssl.errors import SkelsslError
from skelssl.methods.base import Method
from skelssl.methods.byol import BYOL, BYOLConfig
from skelssl.methods.crrl import CRRL, CRRLConfig
from skelssl.methods.ms2l import MS2L, MS2LConfig
from skelssl.methods.simclr import SimCLR, SimCLRConfig
from skelssl.methods.supervised import RandomInit, Supervised, SupervisedConfig
from skelssl.models import EncoderConfig, encoder_preset

METHODS: dict[str, type[Method]] = {
    "simclr": SimCLR,
    "byol": BYOL,
    "ms2l": MS2L,
    "crrl": CRRL,
    "supervised": Supervised,
    "random": RandomInit,
}


def method_class(name: str) -> type[Method]:
    """The class registered as ``name``; a :class:`SkelsslError` listing the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        known = ", ".join(sorted(METHODS))
        raise SkelsslError(f"unknown method {name!r} (known: {known})") from None


def _params_of(cls: type[Method], params):
    """``params`` as ``cls.Config``: an instance, a dict of its fields, or None (defaults)."""
    if params is None:
        return cls.Config()
    if isinstance(params, cls.Config):
        return params
    if not isinstance(params, dict):
        raise SkelsslError(
            f"params must be a {cls.Config.__name__} or a mapping, got {type(params).__name__}"
        )
    known = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise SkelsslError(
            f"unknown key params.{unknown[0]} (known: {', '.join(sorted(known)) or 'none'})"
        )
    return cls.Config(**params)


def build_method(name: str, params, encoder_config: EncoderConfig | None, spec: DataSpec) -> Method:
    """Instantiate method ``name`` for data described by ``spec``.

    Args:
        name: a key of :data:`METHODS`.
        params: the method's ``Config``, a dict of its fields, or None for its defaults.
        encoder_config: None for the method's ``default_encoder`` preset.
        spec: the data's :class:`DataSpec` (layout, classes, frames, bodies, channels).
    """
    cls = method_class(name)
    if encoder_config is None:
        encoder_config = default_encoder_config(cls)
    return cls(_params_of(cls, params), encoder_config, spec)


def default_encoder_config(cls: type[Method], preset: str | None = None) -> EncoderConfig:
    """The encoder preset ``preset``, else the method's ``default_encoder`` preset, else
    ``EncoderConfig()``: the one place the default encoder is decided."""
    preset = preset or getattr(cls, "default_encoder", None)
    return EncoderConfig() if preset is None else encoder_preset(preset)


__all__ = [
    "BYOL",
    "CRRL",
    "METHODS",
    "MS2L",
    "BYOLConfig",
    "CRRLConfig",
    "MS2LConfig",
    "Method",
    "RandomInit",
    "SimCLR",
    "SimCLRConfig",
    "Supervised",
    "SupervisedConfig",
    "build_method",
    "default_encoder_config",
    "method_class",
]
