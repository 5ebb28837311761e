"""The one training loop: every method, one process or many (DDP), CPU or CUDA.

A *method* is a :class:`~skelssl.methods.base.Method`: ``loss(batch) -> dict[str, Tensor]``
(key ``"loss"`` is optimised, the others are logged) and the hooks the trainer calls,
``train_dataset(data, seed)``, ``param_groups()`` (see :mod:`skelssl.optim`) and
``after_step(progress)``, each with a default on the base class.

A batch is a dict of tensors on the training device (``joints (N,T,M,V,C)``,
``lengths``, ``labels``, ``index`` plus whatever a custom dataset adds) and
``"generator"``: a ``torch.Generator`` on that device, owned and checkpointed by the
trainer, for the method's augmentations. Under DDP, N is the per-rank batch.

The run directory gets ``metrics.jsonl`` (one line every ``log_every`` steps:
``{"step", "epoch", "lr", <losses>, "seq_per_s", "feature_rank", "feature_cosine"}``, where a
method adds its diagnostics because the trainer sets ``batch["diagnostics"]`` on exactly these
steps, and the trainer its collapse check of the encoder's features (step 0: the untrained
encoder's, the reference; :class:`~skelssl.diagnostics.CollapseMonitor`); one per epoch:
``{"epoch", <mean losses>, "seconds"}``) and ``last.pt``, written at the end of every
epoch (copied to ``epoch-NNNN.pt`` after the epochs in ``keep_epochs``, 0 = the initial
weights) and on interruption (Ctrl-C or SIGTERM), so that ``resume=True`` continues, mid-epoch
included, to the same weights, bit for bit, as an uninterrupted run.

Every piece of state a method changes outside its optimiser (momentum encoders, queues)
must live in its ``state_dict`` (parameters or buffers) to survive a resume. Custom
training datasets may define ``set_epoch(epoch)``; it is called before every epoch.
Under torchrun the process group stays up after :func:`train`; the caller ends it with
:func:`skelssl.dist.cleanup`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from skelssl import dist
from skelssl.checkpoint import (
    CHECKPOINT,
    METRICS,
    MetricsLog,
    Progress,
    SigintScope,
    capture_rng,
    keep_copy,
    kept_checkpoint_name,
    load_checkpoint,
    progress_from_checkpoint,
    rank_rng_state,
    restore_rng,
    restore_training,
    rng_to_checkpoint,
    save_checkpoint,
    stop_exception,
    training_checkpoint,
)
from skelssl.data.types import SkeletonData
from skelssl.diagnostics import CollapseMonitor, effective_rank, mean_pairwise_cosine
from skelssl.errors import SkelsslError
from skelssl.methods.base import Method
from skelssl.optim import build_optimizer, build_scheduler
from skelssl.train_config import TrainConfig

AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global state is what is seeded)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available else CPU; ``"cpu"``; ``"cuda"`` / ``"cuda:N"``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise SkelsslError("device 'cuda' requested but CUDA is not available", "train.device")
        return torch.device(name)
    raise SkelsslError(f"unknown device {name!r} (use auto, cpu or cuda)", "train.device")


class MethodLoss(nn.Module):
    """Wraps a method so that ``forward(batch)`` is ``method.loss(batch)``: what DDP wraps."""

    def __init__(self, method: Method):
        super().__init__()
        self.method = method

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        return self.method.loss(batch)


class EpochSampler(Sampler[int]):
    """This rank's share of a seeded per-epoch permutation (``DistributedSampler`` with
    ``set_epoch``; one replica in a single process), optionally starting mid-epoch."""

    def __init__(
        self, dataset: Dataset, *, num_replicas: int, rank: int, seed: int, drop_last: bool
    ):
        self.permutation = DistributedSampler(
            dataset,
            num_replicas=num_replicas,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=drop_last,
        )
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Shuffle for ``epoch`` and skip its first ``start`` indices."""
        self.permutation.set_epoch(epoch)
        self.start = start

    def __iter__(self):
        return iter(list(self.permutation)[self.start :])

    def __len__(self) -> int:
        return len(self.permutation) - self.start


class StopRequest(SigintScope):
    """Ctrl-C (SIGINT) or SIGTERM (SLURM, ``docker stop``) sets ``requested``; the loop
    stops at the next step boundary so the checkpoint is consistent, raising
    ``KeyboardInterrupt`` (:class:`~skelssl.errors.Terminated` for SIGTERM). A second
    signal raises at once."""

    def __init__(self):
        super().__init__()
        self.requested = False
        self.signum: int | None = None

    def on_sigint(self, signum, frame) -> None:
        if self.requested:
            raise stop_exception(signum)
        self.requested = True
        self.signum = signum

    def exception(self) -> KeyboardInterrupt:
        """What to raise for the stop request (SIGTERM: ``Terminated``)."""
        return stop_exception(self.signum)


def to_device(batch, device: torch.device):
    """Move every tensor of a (nested) batch dict to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def _grad_scaler(enabled: bool):
    """``torch.amp.GradScaler("cuda")`` (torch >= 2.3) or its older ``torch.cuda.amp`` name."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def _check_config(config: TrainConfig, world: int) -> None:
    if config.epochs < 0:
        raise SkelsslError(f"must be >= 0, got {config.epochs}", "train.epochs")
    if config.min_steps < 0:
        raise SkelsslError(f"must be >= 0, got {config.min_steps}", "train.min_steps")
    if config.batch_size < 1 or config.batch_size % world:
        raise SkelsslError(
            f"must be a positive multiple of the {world} processes, got {config.batch_size}",
            "train.batch_size",
        )
    if config.log_every < 1:
        raise SkelsslError(f"must be >= 1, got {config.log_every}", "train.log_every")
    if config.amp_dtype not in AMP_DTYPES:
        known = ", ".join(AMP_DTYPES)
        raise SkelsslError(f"must be one of {known}, got {config.amp_dtype!r}", "train.amp_dtype")
    if config.clip_grad < 0:
        raise SkelsslError(f"must be >= 0, got {config.clip_grad}", "train.clip_grad")
    if any(not isinstance(e, int) or e < 0 for e in config.keep_epochs):
        raise SkelsslError(f"must be epochs >= 0, got {config.keep_epochs}", "train.keep_epochs")


def epoch_steps(items: int, config: TrainConfig, world: int) -> int:
    """Optimiser steps in one epoch of ``items`` training items (as the loader batches them)."""
    local_batch = max(config.batch_size // world, 1)
    per_rank = items // world if config.drop_last else math.ceil(items / world)
    return per_rank // local_batch if config.drop_last else math.ceil(per_rank / local_batch)


def batch_within(config: TrainConfig, items: int, world: int) -> TrainConfig:
    """``config`` with ``batch_size`` lowered to the training items (a multiple of the
    ranks) when a full batch would not fit: a recipe's batch of 128 still trains on a
    dataset of 100 clips (``lr_scaling=linear`` then scales the lr with it)."""
    if not config.drop_last or items >= config.batch_size or items < world:
        return config
    return dataclasses.replace(config, batch_size=items - items % world)


def stretch_to_min_steps(config: TrainConfig, steps_per_epoch: int) -> TrainConfig:
    """``config`` with at least ``config.min_steps`` optimiser steps.

    A recipe written in epochs gives a dataset 4x smaller 4x fewer steps. Where
    ``epochs * steps_per_epoch < min_steps``, the epochs become ``ceil(min_steps /
    steps_per_epoch)`` and the warm-up and the step milestones are scaled by the same
    factor, so the learning-rate schedule keeps its shape in steps. Unchanged otherwise.
    """
    planned = config.epochs * steps_per_epoch
    if config.min_steps <= 0 or config.epochs <= 0 or steps_per_epoch <= 0:
        return config
    if planned >= config.min_steps:
        return config
    epochs = math.ceil(config.min_steps / steps_per_epoch)
    factor = epochs / config.epochs
    return dataclasses.replace(
        config,
        epochs=epochs,
        warmup_epochs=config.warmup_epochs * factor,
        milestones=[milestone * factor for milestone in config.milestones],
    )


def build_loader(
    dataset: Dataset, config: TrainConfig, local_batch: int, rank: int, world: int, device
) -> tuple[EpochSampler, torch.Generator, DataLoader]:
    """This rank's shuffled loader of ``local_batch`` items: its :class:`EpochSampler`, the
    loader's own generator (reseeded every epoch) and the ``DataLoader``."""
    sampler = EpochSampler(
        dataset, num_replicas=world, rank=rank, seed=config.seed, drop_last=config.drop_last
    )
    generator = torch.Generator()
    loader = DataLoader(
        dataset,
        batch_size=local_batch,
        sampler=sampler,
        drop_last=config.drop_last,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        generator=generator,  # keeps the global RNG untouched by the loader
    )
    return sampler, generator, loader


class Trainer:
    """The state of one :func:`train` call. Use :func:`train`."""

    def __init__(self, method: Method, data: SkeletonData, config: TrainConfig, device, quiet):
        self.config, self.device, self.quiet = config, device, quiet
        self.rank, self.world = dist.rank(), dist.world_size()
        _check_config(config, self.world)
        set_seed(config.seed + self.rank)
        self.method = self._prepare_method(method)
        self.dataset = self._training_dataset(data)
        self.local_batch = config.batch_size // self.world
        self.sampler, self.loader_generator, self.loader = build_loader(
            self.dataset, config, self.local_batch, self.rank, self.world, device
        )
        self.steps_per_epoch = len(self.loader)
        if self.steps_per_epoch == 0 and config.epochs > 0:
            raise SkelsslError(
                f"{len(self.dataset)} training samples make no full batch of {config.batch_size} "
                "(lower batch_size or set drop_last to false)",
                "train.batch_size",
            )
        self.total_steps = config.epochs * self.steps_per_epoch
        self.trainable = [p for p in self.method.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.method, config) if self.trainable else None
        self.scheduler = (
            build_scheduler(self.optimizer, config, self.steps_per_epoch)
            if self.optimizer
            else None
        )
        self.use_amp = config.amp and device.type == "cuda"
        self.amp_dtype = AMP_DTYPES[config.amp_dtype]
        self.scaler = _grad_scaler(enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.model = self._wrap(self.method)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(config.seed + self.rank)
        self.progress = Progress()
        self.rng_at_step_start = capture_rng(self.generator, device)
        self.loss_sums: dict[str, torch.Tensor] = {}
        self.loss_counts: dict[str, int] = {}  # diagnostics come only on logged steps
        self.collapse = CollapseMonitor()

    # ----------------------------------------------------------------- setup

    def _prepare_method(self, method: Method) -> Method:
        method = method.to(self.device)
        if self.config.sync_bn and self.world > 1:
            if self.device.type == "cuda":
                method = nn.SyncBatchNorm.convert_sync_batchnorm(method)
            elif not self.quiet:
                dist.print0("sync_bn: SyncBatchNorm needs CUDA; keeping per-process BatchNorm")
        return method

    def _training_dataset(self, data: SkeletonData) -> Dataset:
        return self.method.train_dataset(data, self.config.seed)

    def _wrap(self, method: nn.Module) -> nn.Module:
        model = MethodLoss(method)
        if self.world > 1 and self.trainable:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=device_ids)
        return model

    # ------------------------------------------------------------ checkpoint

    def checkpoint(self, raw_rng: tuple, *, synchronized: bool) -> None:
        """Write ``last.pt`` (rank 0) with the random state ``raw_rng`` (:func:`capture_rng`).

        ``synchronized``: all ranks call this together, so every rank's random state is
        gathered for a bit-exact DDP resume.
        """
        # a Ctrl-C right after this save (one held back during it) saves this same state
        self.rng_at_step_start = raw_rng
        rng = rng_to_checkpoint(raw_rng)
        rng_per_rank = dist.all_gather_object(rng) if synchronized and self.world > 1 else None
        if not dist.is_main():
            return
        self.progress.epoch_loss_sums = {k: float(v) for k, v in self.loss_sums.items()}
        self.progress.epoch_loss_counts = dict(self.loss_counts)
        payload = training_checkpoint(
            self.method, self.optimizer, self.scheduler, self.scaler,
            rng=rng, rng_per_rank=rng_per_rank, progress=self.progress,
            seconds=self.elapsed(), epoch_seconds=self.epoch_elapsed(), config=self.config_dict,
        )  # fmt: skip
        save_checkpoint(payload, self.run_dir / CHECKPOINT)

    def load(self, path: Path) -> None:
        state = load_checkpoint(path)
        scaler = self.scaler if self.use_amp else None
        restore_training(state, self.method, self.optimizer, self.scheduler, scaler)
        rng = rank_rng_state(state, self.rank, self.world)
        if rng is not None:
            restore_rng(rng, self.generator, self.device)
        else:  # interrupted out of step: other ranks get a fresh, still deterministic, stream
            set_seed(self.config.seed + self.rank + 7919 * state["step"])
            self.generator.manual_seed(self.config.seed + self.rank + 7919 * state["step"])
        self.progress = progress_from_checkpoint(state)
        self.loss_sums = {
            k: torch.tensor(v, device=self.device) for k, v in self.progress.epoch_loss_sums.items()
        }
        self.loss_counts = {
            k: self.progress.epoch_loss_counts.get(k, self.progress.step_in_epoch)
            for k in self.loss_sums
        }

    # ------------------------------------------------------------------ loop

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def epoch_elapsed(self) -> float:
        return time.perf_counter() - self.epoch_started

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """Forward, backward, clip, optimiser and scheduler step. Returns detached losses."""
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            with torch.set_grad_enabled(self.optimizer is not None):
                losses = self.model(batch)
        if "loss" not in losses:
            raise SkelsslError(
                f"{type(self.method).__name__}.loss() must return a dict with key 'loss', "
                f"got keys {sorted(losses)}"
            )
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(losses["loss"]).backward()
            if self.config.clip_grad > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.trainable, self.config.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
        return {key: torch.as_tensor(value).detach().float() for key, value in losses.items()}

    def run_epoch(self, stop: StopRequest, bar: tqdm, metrics: MetricsLog) -> None:
        """Train the rest of the current epoch; raises KeyboardInterrupt on a stop request."""
        epoch, start = self.progress.epoch, self.progress.step_in_epoch
        self.model.train()  # whatever ran before (a resume, a probe): each method's train()
        self.sampler.set_epoch(epoch, start * self.local_batch)
        self.loader_generator.manual_seed((self.config.seed * 1_000_003 + epoch) * 4096 + self.rank)
        if callable(getattr(self.dataset, "set_epoch", None)):
            self.dataset.set_epoch(epoch)
        self.epoch_started = window_started = time.perf_counter()
        window_sequences = 0
        for batch in self.loader:
            self.rng_at_step_start = capture_rng(self.generator, self.device)
            batch = to_device(batch, self.device)
            batch["generator"] = self.generator
            # methods add their (costlier) diagnostics only on the steps that are logged
            batch["diagnostics"] = (self.progress.step + 1) % self.config.log_every == 0
            if self.progress.step == 0 and self.method.monitors_collapse:
                self.log_untrained_features(batch, metrics)
            losses = self.train_step(batch)
            self.progress.step += 1
            self.progress.step_in_epoch += 1
            self.method.after_step(self.progress.step / max(self.total_steps, 1))
            for key, value in losses.items():
                self.loss_sums[key] = self.loss_sums.get(key, 0.0) + value
                self.loss_counts[key] = self.loss_counts.get(key, 0) + 1
            window_sequences += len(batch["joints"]) * self.world
            self.sequences += len(batch["joints"]) * self.world
            bar.update(1)
            if self.progress.step % self.config.log_every == 0:
                now = time.perf_counter()
                self.log_step(
                    losses,
                    window_sequences / max(now - window_started, 1e-9),
                    bar,
                    metrics,
                    features=self.feature_check(batch) if self.method.monitors_collapse else {},
                )
                window_started, window_sequences = time.perf_counter(), 0
            # under DDP ranks agree (a collective) only at logging steps, to stay asynchronous
            if not dist.is_distributed() or self.progress.step % self.config.log_every == 0:
                self.stop_if_requested(stop)  # before the loader fetches the next batch
        self.finish_epoch(metrics)

    def stop_if_requested(self, stop: StopRequest) -> None:
        """At a step boundary: raise KeyboardInterrupt on all ranks if any saw Ctrl-C."""
        if dist.any_rank(stop.requested, self.device):
            self.rng_at_step_start = capture_rng(self.generator, self.device)
            raise stop.exception()

    @torch.no_grad()
    def feature_check(self, batch: dict) -> dict[str, float]:
        """Effective rank and mean pairwise cosine of the encoder's features (N, D) of this
        batch, in eval mode (no BatchNorm statistics updated, no random draws): the
        collapse check every method gets (:class:`~skelssl.diagnostics.CollapseMonitor`)."""
        encoder = self.method.encoder
        was_training = encoder.training
        encoder.eval()
        try:
            features = encoder(batch["joints"]).float()  # the encoder contract: forward(x)
        finally:
            encoder.train(was_training)
        if not bool(torch.isfinite(features).all()):
            return {}  # a diverged run: the loss check names the cause
        return {
            "feature_rank": effective_rank(features),
            "feature_cosine": float(mean_pairwise_cosine(features)),
        }

    def log_untrained_features(self, batch: dict, metrics: MetricsLog) -> None:
        """The untrained encoder's feature check, the monitor's reference (a step-0 line)."""
        values = self.feature_check(batch)
        if not values:
            return
        self.collapse.start(values["feature_rank"], values["feature_cosine"])
        lr = self.scheduler.get_last_lr()[0] if self.scheduler else 0.0
        metrics.write({"step": 0, "epoch": 0.0, "lr": lr, **values})

    def restore_collapse_reference(self) -> None:
        """On resume: the untrained encoder's feature check from ``metrics.jsonl``."""
        path = self.run_dir / METRICS
        if not path.is_file():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("step") == 0 and "feature_rank" in record:
                self.collapse.start(record["feature_rank"], record["feature_cosine"])
                return

    def log_step(
        self, losses: dict, seq_per_s: float, bar: tqdm, metrics: MetricsLog, features: dict
    ) -> None:
        values = self.mean_over_ranks(losses)
        self.check_finite(values["loss"])
        lr = self.scheduler.get_last_lr()[0] if self.scheduler else 0.0
        record = {
            "step": self.progress.step,
            "epoch": round(self.progress.step / self.steps_per_epoch, 4),
            "lr": lr,
            **values,
            "seq_per_s": round(seq_per_s, 2),
            **features,
        }
        metrics.write(record)
        if features:
            self.watch_collapse(features)
        bar.set_postfix(loss=f"{values['loss']:.4f}", seq_s=f"{seq_per_s:.0f}")

    def watch_collapse(self, features: dict[str, float]) -> None:
        """Feed one feature check to the collapse monitor; its warning on stderr, once."""
        progress = self.progress.step / max(self.total_steps, 1)
        warning = self.collapse.observe(
            progress, features["feature_rank"], features["feature_cosine"]
        )
        if warning and dist.is_main():
            tqdm.write(f"skelssl: warning: {warning}", file=sys.stderr)

    def finish_epoch(self, metrics: MetricsLog) -> None:
        steps = self.progress.step_in_epoch
        means = self.mean_over_ranks(
            {k: v / max(self.loss_counts.get(k, steps), 1) for k, v in self.loss_sums.items()}
        )
        if steps:
            self.check_finite(means["loss"])
        seconds = self.progress.epoch_seconds + self.epoch_elapsed()
        self.progress.epoch += 1
        self.progress.step_in_epoch = 0
        self.progress.final_loss = means.get("loss", self.progress.final_loss)
        self.progress.epoch_seconds = 0.0
        self.loss_sums, self.loss_counts = {}, {}
        metrics.write({"epoch": self.progress.epoch, **means, "seconds": round(seconds, 3)})
        self.epoch_started = time.perf_counter()

    def mean_over_ranks(self, values: dict[str, torch.Tensor]) -> dict[str, float]:
        """Scalars averaged over ranks, as Python floats (one collective for all keys)."""
        if not values:
            return {}
        keys = sorted(values)
        stacked = torch.stack(
            [torch.as_tensor(values[k], device=self.device).float() for k in keys]
        )
        return dict(zip(keys, dist.all_reduce_mean(stacked).tolist()))

    def check_finite(self, loss: float) -> None:
        if not math.isfinite(loss):
            raise SkelsslError(
                f"the loss became {loss} at step {self.progress.step}; lower lr or set clip_grad",
                "train.lr",
            )

    def run(self, run_dir: Path, *, resume: bool, config_dict: dict | None) -> dict:
        self.run_dir, self.config_dict = run_dir, config_dict
        if resume:
            self.load(run_dir / CHECKPOINT)
            self.restore_collapse_reference()
        self.started = self.epoch_started = time.perf_counter()
        self.sequences = 0
        metrics = MetricsLog(
            run_dir / METRICS, resume_at=self.progress if resume else None, enabled=dist.is_main()
        )
        bar = tqdm(
            total=self.total_steps,
            initial=self.progress.step,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=self.quiet or not dist.is_main(),
        )
        try:
            with StopRequest() as stop:
                self.loop(stop, bar, metrics)
        except KeyboardInterrupt:  # state as it was when the unfinished step began
            self.checkpoint(self.rng_at_step_start, synchronized=stop.requested)
            raise
        finally:
            bar.close()
            metrics.close()
        dist.barrier()  # last.pt is complete before any rank goes on to read it
        return self.summary()

    def loop(self, stop: StopRequest, bar: tqdm, metrics: MetricsLog) -> None:
        finished = self.progress.epoch >= self.config.epochs
        if finished or (self.progress.step == 0 and 0 in self.config.keep_epochs):
            self.checkpoint(capture_rng(self.generator, self.device), synchronized=True)
            self.keep_checkpoint()  # epoch 0: the initial weights
        if finished:
            return
        while self.progress.epoch < self.config.epochs:
            self.run_epoch(stop, bar, metrics)
            self.checkpoint(capture_rng(self.generator, self.device), synchronized=True)
            self.keep_checkpoint()
            self.stop_if_requested(stop)
            over_budget = 0 < self.config.time_budget < self.progress.seconds + self.elapsed()
            if self.progress.epoch < self.config.epochs and dist.any_rank(over_budget, self.device):
                if not self.quiet:
                    dist.print0(f"time budget of {self.config.time_budget} s used: stopping")
                break

    def keep_checkpoint(self) -> None:
        """Copy ``last.pt`` to ``epoch-NNNN.pt`` when this epoch is in ``keep_epochs``
        (called right after an epoch-boundary checkpoint)."""
        epoch = self.progress.epoch
        if epoch in self.config.keep_epochs and dist.is_main():
            keep_copy(self.run_dir / CHECKPOINT, self.run_dir / kept_checkpoint_name(epoch))

    def summary(self) -> dict:
        seconds = self.elapsed()
        return {
            "epochs": self.progress.epoch,
            "steps": self.progress.step,
            "final_loss": self.progress.final_loss,
            "seconds": round(self.progress.seconds + seconds, 3),
            "seq_per_s": round(self.sequences / max(seconds, 1e-9), 2),
            "device": str(self.device),
            "world_size": self.world,
            "collapse": self.collapse.summary(),
        }


def train(
    method: Method,
    data: SkeletonData,
    config: TrainConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    quiet: bool = False,
    config_dict: dict | None = None,
) -> dict:
    """Train ``method`` on ``data``; write ``metrics.jsonl`` and ``last.pt`` to ``run_dir``.

    Args:
        method: the method module (moved to the training device in place).
        data: training data; the method's ``train_dataset(data, seed)`` may wrap it.
        config: training settings.
        run_dir: output directory (created).
        resume: continue from ``run_dir/last.pt`` (mid-epoch too).
        quiet: no progress bar or messages.
        config_dict: the resolved run configuration, stored in the checkpoint.

    Returns:
        ``{"epochs", "steps", "final_loss", "seconds", "seq_per_s", "device", "world_size"}``.

    On Ctrl-C or SIGTERM the loop finishes the current step, saves ``last.pt`` and raises
    ``KeyboardInterrupt`` (:class:`~skelssl.errors.Terminated` for SIGTERM).
    ``epochs=0`` saves the initial weights and returns.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _, _, device = dist.setup(resolve_device(config.device).type)
    trainer = Trainer(method, data, config, device, quiet)
    return trainer.run(run_dir, resume=resume, config_dict=config_dict)
