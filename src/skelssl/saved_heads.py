"""Trained classifier heads saved next to a run: ``RUN/heads/<protocol>.pt``.

``skelssl evaluate RUN --save-head`` writes the linear probe (or the finetuned encoder
and its head) so that ``skelssl predict`` and ``skelssl export`` can use it. A head file
is a plain dict of tensors, numbers and strings, loadable with
``torch.load(path, weights_only=True)``:

=====================  =========================================================
key                    value
=====================  =========================================================
``format``             ``"skelssl-head/1"``
``protocol``           ``"linear"`` | ``"finetune"``
``class_names``        list of K str
``weight``, ``bias``   (K, D), (K,) float32: the linear layer
``feature_mean/std``   (D,) float32: standardisation applied before it (linear
                       probe: train-split statistics; finetune: zeros / ones)
``encoder``            the finetuned encoder's state dict, or None (the run's own)
``preprocess``         the run's ``data.preprocess`` settings (dict)
``layout``, ``bodies``, ``frames``, ``channels``  the input it expects
``run``, ``checkpoint``, ``top1``  where it came from and its test accuracy
``fitted_on``          ``{"epoch", "steps_into_epoch", "encoder_sha256"}``: the
                       run's weights it was fitted on (:func:`stale_head`)
=====================  =========================================================
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from skelssl.errors import SkelsslError

HEAD_FORMAT = "skelssl-head/1"
HEADS_DIR = "heads"
REQUIRED = ("format", "class_names", "weight", "bias", "feature_mean", "feature_std")


def head_path(run_dir: str | os.PathLike, protocol: str) -> Path:
    """``RUN/heads/<protocol>.pt``."""
    return Path(run_dir) / HEADS_DIR / f"{protocol}.pt"


def build_head(
    run,
    protocol: str,
    weight: Tensor,
    bias: Tensor,
    *,
    feature_mean: Tensor | None = None,
    feature_std: Tensor | None = None,
    encoder_state: dict | None = None,
    top1: float | None = None,
    checkpoint: str = "last.pt",
    run_dir: str | os.PathLike = "",
) -> dict:
    """The head dict of a :class:`~skelssl.runs.LoadedRun`'s classifier: linear layer
    ``weight`` (K, D), ``bias`` (K,), optional standardisation and finetuned encoder."""
    from skelssl.config import to_dict
    from skelssl.data.types import DataSpec

    spec = DataSpec.of(run.data)
    dim = weight.shape[1]
    return {
        "format": HEAD_FORMAT,
        "protocol": protocol,
        "class_names": [str(name) for name in run.data.class_names],
        "weight": weight.detach().float().cpu().clone(),
        "bias": bias.detach().float().cpu().clone(),
        "feature_mean": torch.zeros(dim)
        if feature_mean is None
        else feature_mean.detach().float().cpu().reshape(dim).clone(),
        "feature_std": torch.ones(dim)
        if feature_std is None
        else feature_std.detach().float().cpu().reshape(dim).clone(),
        "encoder": None
        if encoder_state is None
        else {k: v.detach().cpu().clone() for k, v in encoder_state.items()},
        "preprocess": to_dict(run.config.data.preprocess),
        "layout": spec.layout,
        "bodies": spec.bodies,
        "frames": spec.frames,
        "channels": spec.channels,
        "run": str(run_dir),
        "checkpoint": checkpoint,
        "top1": None if top1 is None else float(top1),
        "fitted_on": {
            "epoch": int(run.epochs_done),
            "steps_into_epoch": int(run.steps_into_epoch),
            "encoder_sha256": state_hash(run.encoder.state_dict()),
        },
    }


def state_hash(state: dict) -> str:
    """SHA-256 of a state dict's names and tensor bytes: equal exactly for equal weights."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous().reshape(-1)
        digest.update(key.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def stale_head(head: dict, encoder: nn.Module) -> str | None:
    """Why ``head`` does not fit ``encoder``'s current weights (training went on after
    it was fitted), or None when it fits (or carries its own finetuned encoder, or
    predates ``fitted_on``)."""
    fitted = head.get("fitted_on")
    if head.get("encoder") is not None or not isinstance(fitted, dict):
        return None
    if fitted.get("encoder_sha256") == state_hash(encoder.state_dict()):
        return None
    return (
        f"was fitted on the encoder of {head.get('checkpoint', 'last.pt')} at epoch "
        f"{fitted.get('epoch')}, and the run's weights have changed since (training went "
        "on?): fit it again with `skelssl evaluate RUN --save-head`, or pass the checkpoint "
        "it was fitted on with --checkpoint"
    )


def save_head(path: str | os.PathLike, head: dict) -> Path:
    """Write ``head`` (the keys of the module docstring) atomically; returns the path."""
    from skelssl.checkpoint import save_checkpoint

    missing = [key for key in REQUIRED if key not in head]
    if missing:
        raise SkelsslError(f"head is missing {', '.join(missing)}", path)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SkelsslError(f"cannot create the folder: {error.strerror}", path.parent) from None
    save_checkpoint(dict(head), path, what="head")
    return path


def load_head(path: str | os.PathLike) -> dict:
    """Read a head file (``weights_only=True``); :class:`SkelsslError` naming it when it
    is missing, unreadable or not a skelssl head."""
    path = Path(path)
    if not path.is_file():
        raise SkelsslError("head file not found", path)
    try:
        head = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        raise SkelsslError(f"unreadable head file ({first_line})", path) from None
    if not isinstance(head, dict) or head.get("format") != HEAD_FORMAT:
        raise SkelsslError(f"not a skelssl head file (no format {HEAD_FORMAT!r})", path)
    missing = [key for key in REQUIRED if key not in head]
    if missing:
        raise SkelsslError(f"head file is missing {', '.join(missing)}", path)
    if head["weight"].shape[0] != len(head["class_names"]):
        raise SkelsslError(
            f"{head['weight'].shape[0]} outputs but {len(head['class_names'])} class names", path
        )
    return head


class HeadClassifier(nn.Module):
    """Encoder + saved head: ``(N,T,M,V,C), lengths (N,) -> logits (N, K)``.

    ``logits = W ((f - mean) / std) + b`` with ``f`` the encoder's features (N, D).
    """

    def __init__(self, encoder: nn.Module, head: dict):
        super().__init__()
        if head.get("encoder") is not None:
            encoder.load_state_dict(head["encoder"])
        self.encoder = encoder
        weight = torch.as_tensor(head["weight"], dtype=torch.float32)
        if weight.shape[1] != getattr(encoder, "out_dim", weight.shape[1]):
            raise SkelsslError(
                f"head expects {weight.shape[1]} features, the encoder gives {encoder.out_dim}"
            )
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(torch.as_tensor(head["bias"], dtype=torch.float32))
        self.register_buffer("mean", torch.as_tensor(head["feature_mean"], dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(head["feature_std"], dtype=torch.float32))
        self.class_names = list(head["class_names"])

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        features = self.encoder(x, lengths)
        return self.linear((features - self.mean) / self.std)
