"""Checkpoint I/O: atomic save, ``weights_only`` load, the random state of training, and
the run's metrics log (a leaf: the trainer, run loading and methods that read another run's
weights use it).

``last.pt`` holds ``{"model", "optimizer", "scheduler", "scaler", "rng", "rng_per_rank",
"epoch", "step", "step_in_epoch", "progress", "config"}`` (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import random
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from skelssl.errors import SkelsslError, Terminated

CHECKPOINT = "last.pt"
METRICS = "metrics.jsonl"


def kept_checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint kept after ``epoch`` (``TrainConfig.keep_epochs``; 0 = initial)."""
    return f"epoch-{epoch:04d}.pt"


def capture_rng(generator: torch.Generator, device: torch.device) -> tuple:
    """The raw states of every random generator training touches (cheap, every step)."""
    cuda = [torch.cuda.get_rng_state(device)] if device.type == "cuda" else []
    numpy_state = np.random.get_state()  # noqa: NPY002 (checkpointing the global state)
    return (torch.get_rng_state(), cuda, numpy_state, random.getstate(), generator.get_state())


def rng_to_checkpoint(raw: tuple) -> dict:
    """:func:`capture_rng`'s states as tensors and plain values (``weights_only`` loadable)."""
    torch_state, cuda_states, numpy_state, python_state, generator_state = raw
    name, keys, position, has_gauss, cached_gaussian = numpy_state
    version, internal, gauss_next = python_state
    return {
        "torch": torch_state,
        "cuda": cuda_states,
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "generator": generator_state,
    }


def restore_rng(state: dict, generator: torch.Generator, device: torch.device) -> None:
    """Inverse of :func:`rng_to_checkpoint` + :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"]:
        torch.cuda.set_rng_state(state["cuda"][0], device)
    numpy_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002 (restoring the global state)
        (
            numpy_state["name"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python_state = state["python"]
    internal = tuple(int(value) for value in python_state["internal"].tolist())
    random.setstate((python_state["version"], internal, python_state["gauss_next"]))
    generator.set_state(state["generator"])


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C; what SLURM and docker stop send


def stop_exception(signum: int | None) -> KeyboardInterrupt:
    """The exception a stop by signal ``signum`` raises: :class:`Terminated` for SIGTERM."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


class SigintScope:
    """Inside the block, Ctrl-C (SIGINT) and SIGTERM call :meth:`on_sigint`; the previous
    handlers are restored when the block ends (outside the main thread this does nothing)."""

    def __init__(self):
        self._previous: dict[int, object] = {}

    def on_sigint(self, signum, frame) -> None:
        raise NotImplementedError

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self.on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            if previous is not None:
                signal.signal(signum, previous)


class DeferredSigint(SigintScope):
    """Hold Ctrl-C (SIGINT) and SIGTERM back while a checkpoint is written and renamed.

    A signal that arrives inside the block is delivered to the previous handler when the
    block ends (the default action of SIGTERM included), so the checkpoint on disk is
    always whole and matches the state it was taken from.
    """

    def __init__(self):
        super().__init__()
        self.received: int | None = None

    def on_sigint(self, signum, frame) -> None:
        self.received = signum

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        signum = self.received
        if signum is None or exc[0] is not None or signum not in self._previous:
            return
        previous = self._previous[signum]
        if callable(previous):
            previous(signum, None)  # Python's default SIGINT handler raises KeyboardInterrupt
        elif previous == signal.SIG_DFL:
            signal.raise_signal(signum)


def _no_space(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def write_bytes_atomic(data: bytes, path: Path, *, what: str = "file") -> None:
    """Write ``data`` to ``<path>.tmp`` then rename it to ``path``: ``path`` is never half
    written. A failed write (a full disk) removes the temporary file and is a
    :class:`SkelsslError` saying that the previous ``what`` at ``path`` is intact."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        kept = f"; the previous {what} is intact" if path.is_file() else ""
        problem = "no space left on device" if _no_space(error) else (error.strerror or str(error))
        raise SkelsslError(f"{problem} while writing {path}{kept}") from None


def save_checkpoint(payload: dict, path: Path, *, what: str = "checkpoint") -> None:
    """``torch.save`` into memory, then the bytes to ``<path>.tmp`` and a rename, so
    ``path`` is never half written and a full disk is one :class:`SkelsslError` (the
    previous checkpoint intact, no temporary file left); Ctrl-C and SIGTERM wait until
    the rename is done."""
    path = Path(path)
    with DeferredSigint():
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_bytes_atomic(buffer.getbuffer(), path, what=what)


def _is_torch_file(path: Path) -> bool:
    """A zip archive (``torch.save`` since 1.6) or a pickle stream (the legacy format)."""
    with open(path, "rb") as handle:
        start = handle.read(2)
    return start == b"PK" or start[:1] == b"\x80"


def keep_copy(path: Path, kept: Path) -> None:
    """Copy checkpoint ``path`` to ``kept`` through a temporary file, so ``kept`` is never
    half written."""
    write_bytes_atomic(Path(path).read_bytes(), Path(kept), what="checkpoint")


def load_checkpoint(path: Path, *, missing: str = "no checkpoint to resume from") -> dict:
    """Load a checkpoint on the CPU with ``weights_only=True``.

    Raises :class:`SkelsslError` naming ``path`` and the problem: missing (``missing``
    says what that means), empty, not a PyTorch file, unreadable (truncated, foreign
    objects), or not a skelssl checkpoint (a dict holding ``"model"``).
    """
    path = Path(path)
    if not path.is_file():
        raise SkelsslError(missing, path)
    if path.stat().st_size == 0:
        raise SkelsslError("empty file (0 bytes): the save was cut short", path)
    if not _is_torch_file(path):
        raise SkelsslError("not a PyTorch checkpoint (neither a zip archive nor a pickle)", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or foreign file: a user error, named
        lines = [line for line in str(error).splitlines() if line.strip()]
        reason = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        raise SkelsslError(f"unreadable checkpoint ({reason})", path) from None
    if not isinstance(state, dict) or "model" not in state:
        held = "a dict without 'model'" if isinstance(state, dict) else type(state).__name__
        raise SkelsslError(f"holds {held}, not a skelssl checkpoint", path)
    return state


def load_weights(module: nn.Module, path: Path, *, prefix: str = "", what: str = "checkpoint"):
    """Load the ``model`` weights of checkpoint ``path`` whose keys start with ``prefix``
    (prefix removed) into ``module``; returns ``module``. A mismatch is a
    :class:`SkelsslError` naming ``what`` and the file."""
    return apply_weights(module, load_checkpoint(path, missing=f"{what} not found"), path,
                         prefix=prefix, what=what)  # fmt: skip


def apply_weights(module: nn.Module, state: dict, path: Path, *, prefix: str = "",
                  what: str = "checkpoint"):  # fmt: skip
    """Load the ``model`` weights of a loaded checkpoint ``state`` (read from ``path``)
    into ``module``, as :func:`load_weights` does; returns ``module``."""
    try:
        weights = state["model"]
        if prefix:
            weights = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        module.load_state_dict(weights)
    except (RuntimeError, KeyError) as error:
        problem = str(error).splitlines()[0]
        raise SkelsslError(f"cannot load the {what}: {problem}", path) from None
    return module


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed optimiser steps
    step_in_epoch: int = 0  # completed steps of the current epoch
    seconds: float = 0.0  # training time of earlier calls (resumed runs)
    final_loss: float | None = None  # mean loss of the last completed epoch
    epoch_loss_sums: dict[str, float] = field(default_factory=dict)  # current epoch so far
    epoch_loss_counts: dict[str, int] = field(default_factory=dict)  # steps that had each key
    epoch_seconds: float = 0.0  # current epoch so far, earlier calls


def training_checkpoint(
    method: nn.Module,
    optimizer,
    scheduler,
    scaler,
    *,
    rng: dict,
    rng_per_rank: list | None,
    progress: Progress,
    seconds: float,
    epoch_seconds: float,
    config: dict | None,
) -> dict:
    """The ``last.pt`` payload: weights, optimiser / scheduler / AMP scaler states (``{}``
    where there is none), random state(s), ``progress`` and the resolved config.
    ``seconds`` / ``epoch_seconds``: time of this call so far, added to ``progress``'s."""
    return {
        "model": method.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer else {},
        "scheduler": scheduler.state_dict() if scheduler else {},
        "scaler": scaler.state_dict(),
        "rng": rng,
        "rng_per_rank": rng_per_rank or [],
        "epoch": progress.epoch,
        "step": progress.step,
        "step_in_epoch": progress.step_in_epoch,
        "progress": {
            "seconds": progress.seconds + seconds,
            "final_loss": progress.final_loss,
            "epoch_loss_sums": progress.epoch_loss_sums,
            "epoch_loss_counts": progress.epoch_loss_counts,
            "epoch_seconds": progress.epoch_seconds + epoch_seconds,
        },
        "config": config,
    }


def restore_training(state: dict, method: nn.Module, optimizer, scheduler, scaler) -> None:
    """Load a :func:`training_checkpoint` into ``method`` and, where they exist and were
    saved, the optimiser, scheduler and scaler (None: not restored)."""
    method.load_state_dict(state["model"])
    for part, key in ((optimizer, "optimizer"), (scheduler, "scheduler"), (scaler, "scaler")):
        if part is not None and state[key]:
            part.load_state_dict(state[key])


def rank_rng_state(state: dict, rank: int, world: int) -> dict | None:
    """The random state rank ``rank`` of ``world`` resumes with: its own when every rank's
    was gathered, the main rank's for rank 0, else None (reseed)."""
    per_rank = state.get("rng_per_rank") or []
    if len(per_rank) == world:
        return per_rank[rank]
    return state["rng"] if rank == 0 else None


def progress_from_checkpoint(state: dict) -> Progress:
    """The :class:`Progress` a :func:`training_checkpoint` was written at."""
    extra = state.get("progress", {})
    return Progress(
        epoch=state["epoch"],
        step=state["step"],
        step_in_epoch=state["step_in_epoch"],
        seconds=extra.get("seconds", 0.0),
        final_loss=extra.get("final_loss"),
        epoch_loss_sums=dict(extra.get("epoch_loss_sums", {})),
        epoch_loss_counts=dict(extra.get("epoch_loss_counts", {})),
        epoch_seconds=extra.get("epoch_seconds", 0.0),
    )


TENSORBOARD_DIR = "tensorboard"


def tensorboard_writer(run_dir: Path):
    """A ``SummaryWriter`` on ``run_dir/tensorboard`` when the optional ``tensorboard``
    package is installed, else None (never required)."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR))


class MetricsLog:
    """``metrics.jsonl`` on rank 0: one JSON object per line, flushed at once; the same
    numbers as TensorBoard scalars (``step/<key>`` per logged step, ``epoch/<key>`` per
    epoch) when ``tensorboard`` is installed."""

    def __init__(self, path: Path, *, resume_at: Progress | None = None, enabled: bool):
        self.file = None
        self.tensorboard = None
        if not enabled:
            return
        kept = self._lines_before(path, resume_at) if resume_at is not None else []
        self.file = open(path, "w", encoding="utf-8")
        for line in kept:
            self.write_line(line)
        self.tensorboard = tensorboard_writer(path.parent)

    @staticmethod
    def _lines_before(path: Path, progress: Progress) -> list[str]:
        """Lines a resumed run keeps: those written up to the checkpoint."""
        if not path.is_file():
            return []
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            is_step_line = "lr" in record
            if (is_step_line and record["step"] <= progress.step) or (
                not is_step_line and record.get("epoch", math.inf) <= progress.epoch
            ):
                kept.append(line + "\n")
        return kept

    def write_line(self, line: str) -> None:
        """Append one line and flush it; a full disk is a :class:`SkelsslError`."""
        try:
            self.file.write(line)
            self.file.flush()
        except OSError as error:
            problem = "no space left on device" if _no_space(error) else error.strerror
            raise SkelsslError(f"{problem} while writing {self.file.name}") from None

    def write(self, record: dict) -> None:
        if self.file is not None:
            self.write_line(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            is_step_line = "lr" in record
            prefix, x = ("step", record["step"]) if is_step_line else ("epoch", record["epoch"])
            for key, value in record.items():
                if key not in ("step", "epoch") and isinstance(value, int | float):
                    self.tensorboard.add_scalar(f"{prefix}/{key}", value, int(x))

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
