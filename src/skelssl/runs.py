"""Run directories: create one for pre-training, load one back for evaluation.

A run directory holds ``config.yaml`` (the resolved :class:`~skelssl.config.RunConfig`),
``metrics.jsonl``, ``last.pt`` and ``summary.json`` (with the git commit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from skelssl import dist
from skelssl.checkpoint import apply_weights, load_checkpoint
from skelssl.config import RunConfig, build_config, config_yaml, read_yaml, to_dict
from skelssl.data.cache import load_dataset
from skelssl.data.sources import default_split
from skelssl.data.types import DataSpec, SkeletonData
from skelssl.errors import SkelsslError
from skelssl.methods import Method, build_method
from skelssl.paths import RunLock, output_directory, write_text_atomic
from skelssl.train import batch_within, epoch_steps, set_seed, stretch_to_min_steps, train


def git_commit() -> str | None:
    """The commit of the skelssl source tree, with ``-dirty`` when it has local changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def pretrain(
    config: RunConfig | None,
    run_dir: str | Path,
    *,
    resume: bool = False,
    quiet: bool = False,
    method: str | None = None,
) -> dict:
    """Pre-train ``config.method`` on the training split of ``config.data``; returns the summary.

    ``resume`` continues the run in ``run_dir`` with its saved config (``config`` unused;
    ``method``, when given, must be the run's). The main process holds ``run_dir``'s
    :class:`~skelssl.paths.RunLock` throughout, so a second writer is refused.
    """
    if not str(run_dir).strip():
        raise SkelsslError("--out is empty: give a run folder name (e.g. runs/simclr)")
    run_dir = Path(run_dir)
    if resume and not (run_dir / "last.pt").exists():
        raise SkelsslError("nothing to resume: no last.pt", run_dir)
    if dist.is_main():
        output_directory(run_dir)  # before the (possibly long) data preparation
    with RunLock(run_dir) if dist.is_main() else contextlib.nullcontext():
        return _pretrain(config, run_dir, resume=resume, quiet=quiet, method=method)


def _pretrain(
    config: RunConfig | None, run_dir: Path, *, resume: bool, quiet: bool, method: str | None
) -> dict:
    """:func:`pretrain` once the run folder is locked."""
    previous_summary = None
    if resume:
        config = build_config(read_yaml(run_dir / "config.yaml"))
        if method is not None and method != config.method:
            raise SkelsslError(
                f"holds a {config.method} run, not {method}: resume it with "
                f"`skelssl pretrain {config.method} --out {run_dir} --resume`",
                run_dir,
            )
        previous_summary = read_summary(run_dir)
    elif (run_dir / "last.pt").exists():
        raise SkelsslError(
            "run directory already holds a run (use --resume or another --out)", run_dir
        )
    if config.method == "random":
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=0))
    data = load_dataset(config.data, quiet=quiet or not dist.is_main())
    split = default_split(data, config.data.split)
    train_data, _ = data.split(split)
    set_seed(config.train.seed)  # the initial weights depend on the seed alone
    spec = DataSpec.of(data, stream=config.data.stream)  # the run's input view
    model = build_method(config.method, config.params, config.encoder, spec)
    if not resume:
        model.prepare(train_data)  # e.g. the random encoder's BN statistics
        config = _at_least_min_steps(config, model, train_data, quiet)
    if dist.is_main():
        write_text_atomic(run_dir / "config.yaml", config_yaml(config))
    started = time.time()
    summary = train(
        model,
        train_data,
        config.train,
        run_dir,
        resume=resume,
        quiet=quiet,
        config_dict=to_dict(config),
    )
    if previous_summary is not None and previous_summary.get("steps") == summary["steps"]:
        return previous_summary  # a finished run: nothing trained, its numbers stand
    summary.update(
        method=config.method,
        data=config.data.name,
        split=split,
        n_train=len(train_data),
        commit=git_commit(),
        wall_seconds=round(time.time() - started, 2),
    )
    if dist.is_main():
        write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def read_summary(run_dir: str | Path) -> dict | None:
    """The run's ``summary.json``, or None when it is missing or unreadable."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def _at_least_min_steps(config: RunConfig, method, train_data, quiet: bool) -> RunConfig:
    """``config`` fitted to this data (said on stderr): a batch no larger than the training
    items, and a schedule stretched to ``train.min_steps``."""
    items = len(method.train_dataset(train_data, config.train.seed))
    bounded = batch_within(config.train, items, dist.world_size())
    if bounded is not config.train and not quiet and dist.is_main():
        print(
            f"skelssl: {items} training items: train.batch_size {config.train.batch_size} "
            f"lowered to {bounded.batch_size}",
            file=sys.stderr,
        )
    steps = epoch_steps(items, bounded, dist.world_size())
    stretched = stretch_to_min_steps(bounded, steps)
    if stretched is config.train:
        return config
    if stretched is not bounded and not quiet and dist.is_main():
        print(
            f"skelssl: {items} training items make {steps} steps an epoch: "
            f"{config.train.epochs} epochs stretched to {stretched.epochs} "
            f"for train.min_steps={config.train.min_steps}",
            file=sys.stderr,
        )
    return dataclasses.replace(config, train=stretched)


@dataclass
class LoadedRun:
    """A pre-trained run: its config, the method (weights loaded) and the dataset."""

    config: RunConfig
    method: Method
    data: SkeletonData
    split: str  # the train/test split of ``data`` the run was pre-trained on
    epochs_done: int = 0  # completed epochs of the loaded checkpoint
    steps_into_epoch: int = 0  # steps of the next epoch already done (interrupted mid-epoch)

    @property
    def encoder(self) -> torch.nn.Module:
        return self.method.encoder

    @property
    def protocol(self) -> str:
        """Deprecated name of :attr:`split` (kept for one release)."""
        return self.split

    @property
    def epochs_planned(self) -> int:
        return self.config.train.epochs

    @property
    def finished(self) -> bool:
        """True when the checkpoint holds every planned epoch (``train.epochs``)."""
        return self.epochs_done >= self.epochs_planned

    def progress_note(self) -> str:
        """``"unfinished run: 0 of 100 epochs done (+3 steps)"``; empty when finished."""
        if self.finished:
            return ""
        steps = f" (+{self.steps_into_epoch} steps)" if self.steps_into_epoch else ""
        return f"unfinished run: {self.epochs_done} of {self.epochs_planned} epochs done{steps}"


def load_run(run_dir: str | Path, *, checkpoint: str = "last.pt", quiet: bool = False) -> LoadedRun:
    """Rebuild the method of a run directory and load ``checkpoint`` (``weights_only=True``):
    ``last.pt`` or one kept by ``train.keep_epochs`` (``epoch-NNNN.pt``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SkelsslError("run directory not found", run_dir)
    for needed in ("config.yaml", checkpoint):
        if not (run_dir / needed).exists():
            raise SkelsslError(f"not a finished run: {needed} missing", run_dir)
    config = build_config(read_yaml(run_dir / "config.yaml"))
    state = load_checkpoint(run_dir / checkpoint)
    data = load_dataset(config.data, quiet=quiet)
    spec = DataSpec.of(data, stream=config.data.stream)  # the run's input view
    method = build_method(config.method, config.params, config.encoder, spec)
    apply_weights(method, state, run_dir / checkpoint)
    return LoadedRun(
        config, method, data, default_split(data, config.data.split),
        epochs_done=int(state.get("epoch", 0)), steps_into_epoch=int(state.get("step_in_epoch", 0)),
    )  # fmt: skip
