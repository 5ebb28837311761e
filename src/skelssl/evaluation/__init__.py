"""Evaluation of pre-trained encoders: one table of protocols, one signature.

Every protocol is called as ``PROTOCOLS[name](method, train, test, options) -> dict``:
``method`` is the pre-trained method (its ``encoder`` is what is evaluated; MS²L's
strategies also use its heads for L_self), ``train`` / ``test`` the labelled splits and
``options`` an :class:`Options`. A protocol that cannot honour ``label_fraction`` or
``seeds`` refuses them (:class:`SkelsslError`, CLI exit 2). Each returns a JSON-able dict
with at least ``protocol``, ``top1``, ``top5``, ``n_train`` and ``n_test``. The protocols in
:data:`HEAD_PROTOCOLS` honour ``options.keep_head`` and then return the trained classifier
under ``head`` (``evaluate --save-head``).

Modules: :mod:`~skelssl.evaluation.features` (toolbox), :mod:`~skelssl.evaluation.metrics`,
:mod:`~skelssl.evaluation.generic` (linear, kNN, finetune, supervised baseline),
:mod:`~skelssl.evaluation.ms2l` and :mod:`~skelssl.evaluation.byol` (each paper's own
protocols), :mod:`~skelssl.evaluation.run` (a run directory, same dataset or transfer).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from torch import nn

from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluation import byol, generic, ms2l
from skelssl.evaluation.config import EvalConfig
from skelssl.typed import apply_overrides


@dataclass(frozen=True)
class Options:
    """What every protocol is given.

    ``evaluation``: the run's :class:`EvalConfig` (the generic protocols' settings);
    ``overrides``: ``key=value`` settings of the protocol's own config (``EvalConfig``,
    MS²L's ``StrategyConfig`` or Skeleton BYOL's ``ProtocolConfig``); ``label_fraction`` /
    ``seeds``: None unless asked for; ``keep_head``: return the trained classifier
    (:data:`HEAD_PROTOCOLS` only).
    """

    evaluation: EvalConfig = field(default_factory=EvalConfig)
    overrides: tuple[str, ...] = ()
    label_fraction: float | None = None
    seeds: int | None = None
    quiet: bool = False
    keep_head: bool = False

    def refuse(self, protocol: str, *, label_fraction: bool = True, seeds: bool = True) -> None:
        """Raise :class:`SkelsslError` when ``protocol`` is given an option it cannot honour."""
        given = [
            flag
            for flag, value, refused in (
                ("--label-fraction", self.label_fraction, label_fraction),
                ("--seeds", self.seeds, seeds),
            )
            if refused and value is not None
        ]
        if given:
            raise SkelsslError(f"protocol {protocol} does not take {' or '.join(given)}")

    def configure(self, config):
        """``config`` (a protocol's config dataclass) updated by the overrides."""
        return apply_overrides(config, self.overrides)


def _linear(method: nn.Module, train: SkeletonData, test: SkeletonData, options: Options) -> dict:
    """Linear probe on frozen, standardised features (:func:`generic.linear_probe`)."""
    options.refuse("linear")
    config = options.configure(options.evaluation)
    return generic.linear_probe(
        method.encoder, train, test, config, quiet=options.quiet, keep_head=options.keep_head
    )


def _knn(method: nn.Module, train: SkeletonData, test: SkeletonData, options: Options) -> dict:
    """kNN on frozen features (:func:`generic.knn`; k and metric in the result)."""
    options.refuse("knn")
    config = options.configure(options.evaluation)
    return generic.knn(method.encoder, train, test, config, quiet=options.quiet)


def _finetune(method: nn.Module, train: SkeletonData, test: SkeletonData, options: Options) -> dict:
    """Encoder + linear head end to end on a label fraction, over seeds (:func:`generic.finetune`)."""
    return generic.finetune(
        method.encoder, train, test, options.configure(options.evaluation),
        label_fraction=options.label_fraction, seeds=options.seeds, quiet=options.quiet,
        keep_head=options.keep_head,
    )  # fmt: skip


def _ms2l_strategy(strategy: str):
    """MS²L Sec. 3.3 (Rand-S, Pretrain, finetune, Moving Eq. (4), Jointly Eq. (5))."""

    def protocol(method: nn.Module, train: SkeletonData, test: SkeletonData, options: Options):
        options.refuse(f"ms2l-{strategy}", label_fraction=False)
        config = options.configure(ms2l.StrategyConfig())
        if options.label_fraction is not None:
            config = dataclasses.replace(config, label_fraction=options.label_fraction)
        return ms2l.train_recognition(strategy, method, train, test, config, quiet=options.quiet)

    protocol.__doc__ = f"MS²L's {strategy} strategy (:func:`ms2l.train_recognition`)."
    return protocol


def _byol_linear(method: nn.Module, train: SkeletonData, test: SkeletonData, options: Options):
    """Skeleton BYOL's linear evaluation (SGD lr 30, conservative augmentation)."""
    options.refuse("byol-linear")
    config = options.configure(byol.ProtocolConfig())
    result = byol.linear_evaluation(method.encoder, train, test, config)
    return {"protocol": "byol-linear", **result, "n_train": len(train), "n_test": len(test)}


def _byol_semi(method: nn.Module, train: SkeletonData, test: SkeletonData, options: Options):
    """Skeleton BYOL's semi-supervised protocol: label fractions x label samplings; the
    result's numbers are the first fraction's (``--label-fraction`` makes it the only one)."""
    config = options.configure(byol.ProtocolConfig())
    if options.label_fraction is not None:
        config = dataclasses.replace(config, fractions=[options.label_fraction])
    if options.seeds is not None:
        config = dataclasses.replace(config, samplings=options.seeds)
    by_fraction = byol.semi_supervised(method.encoder, train, test, config)
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


PROTOCOLS = {
    "linear": _linear,
    "knn": _knn,
    "finetune": _finetune,
    **{f"ms2l-{name}": _ms2l_strategy(name) for name in ms2l.STRATEGIES},
    "byol-linear": _byol_linear,
    "byol-semi": _byol_semi,
}

HEAD_PROTOCOLS = ("linear", "finetune")  # honour Options.keep_head (evaluate --save-head)

__all__ = ["HEAD_PROTOCOLS", "PROTOCOLS", "EvalConfig", "Options"]
