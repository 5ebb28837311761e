"""Evaluate a run directory's encoder: the one entry point behind ``skelssl evaluate``.

On the run's own dataset, the protocol trains on the run's training split and reports on
its test split. With ``data`` (transfer: MS²L Table 6, CRRL Table VII, Skeleton BYOL
Table 6) the other dataset is prepared with the run's preprocessing, its joints are
mapped into the run's layout when they differ (``skeleton.LAYOUT_MAPS``: the 20 joints
``ntu-25`` and ``kinect-v1-20`` share) and its body count is adapted to the run's (extra
bodies dropped, missing ones zero); the protocol then runs on that dataset's split. The
test split is only ever used to report the final number. Every result is appended to the
run's ``evaluations.jsonl``.
"""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

from skelssl.data.cache import load_dataset
from skelssl.data.sources import DataConfig, default_split
from skelssl.data.transfer import adapt_data, transfer_data_config
from skelssl.errors import SkelsslError
from skelssl.evaluation import HEAD_PROTOCOLS, PROTOCOLS, Options
from skelssl.runs import load_run, read_summary


def evaluate_run(
    run_dir: str | Path,
    *,
    protocol: str = "linear",
    data: DataConfig | dict | None = None,
    label_fraction: float | None = None,
    seeds: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    checkpoint: str = "last.pt",
    quiet: bool = False,
    save_head: bool = False,
) -> dict:
    """Run ``protocol`` (a key of :data:`skelssl.evaluation.PROTOCOLS`) on the weights of
    ``checkpoint`` (``last.pt`` or a kept ``epoch-NNNN.pt``) and append the result to
    ``evaluations.jsonl``.

    ``data`` None evaluates on the run's dataset and split; otherwise it names another
    dataset (see :func:`skelssl.data.transfer.transfer_data_config`; its ``split`` key, default the dataset's
    first, gives the train/test split) and the result also has ``pretrained_on``,
    ``transfer``, ``layout_mapping`` and ``bodies`` (None where nothing was changed).
    ``overrides`` are ``key=value`` settings of the protocol's config (``knn_k=20``).
    ``save_head`` (linear, finetune; the run's own dataset) writes the trained classifier
    to ``RUN/heads/<protocol>.pt`` (:mod:`skelssl.saved_heads`); the result names it.
    """
    if protocol not in PROTOCOLS:
        raise SkelsslError(
            f"unknown evaluation protocol {protocol!r} (known: {', '.join(PROTOCOLS)})"
        )
    if save_head and (protocol not in HEAD_PROTOCOLS or data is not None):
        raise SkelsslError(
            f"--save-head keeps a {' or '.join(HEAD_PROTOCOLS)} classifier of the run's own "
            f"dataset, not {protocol}{' on another dataset' if data is not None else ''}"
        )
    run = load_run(run_dir, checkpoint=checkpoint, quiet=quiet)
    tags = {"method": run.config.method, "data": run.config.data.name, "split": run.split}
    if data is None:
        train_data, test_data = run.data.split(run.split)
    else:
        target_config = transfer_data_config(run.config.data, data)
        target = load_dataset(target_config, quiet=quiet)
        split = default_split(target, target_config.split)
        adapted, changes = adapt_data(target, run.data.layout, run.data.shape[2], run.data.coords)
        train_data, test_data = adapted.split(split)
        tags = {
            "method": run.config.method,
            "pretrained_on": run.config.data.name,
            "data": target_config.name,
            "split": split,
            "transfer": True,
            **changes,
        }
    options = Options(
        run.config.evaluation, tuple(overrides), label_fraction, seeds, quiet, keep_head=save_head
    )
    result = PROTOCOLS[protocol](run.method, train_data, test_data, options)
    if save_head:
        head = result.pop("head")
        try:
            tags["head_file"] = str(_save_head(run, run_dir, protocol, head, result, checkpoint))
        except SkelsslError as error:  # e.g. a full disk: the computed result is still shown
            error.result = {**result, **tags}
            raise
    tags.update(epoch=run.epochs_done, epochs_planned=run.epochs_planned, finished=run.finished)
    if not run.finished:
        print(f"skelssl: note: {run_dir}: {run.progress_note()}", file=sys.stderr)
    warning = collapse_warning(run_dir)
    if warning:
        tags["collapse_warning"] = warning
        print(f"skelssl: warning: {run_dir}: {warning}", file=sys.stderr)
    return append_evaluation(run_dir, {**result, **tags}, checkpoint)


def collapse_warning(run_dir: str | Path) -> str | None:
    """The collapse warning pre-training left in ``RUN/summary.json`` (None if none)."""
    collapse = (read_summary(run_dir) or {}).get("collapse")
    return collapse.get("warning") if isinstance(collapse, dict) else None


def _save_head(run, run_dir, protocol: str, head: dict, result: dict, checkpoint: str) -> Path:
    """Write the protocol's trained classifier as ``RUN/heads/<protocol>.pt``."""
    from skelssl.saved_heads import build_head, head_path, save_head

    built = build_head(
        run, protocol, head["weight"], head["bias"], feature_mean=head.get("feature_mean"),
        feature_std=head.get("feature_std"), encoder_state=head.get("encoder"),
        top1=result["top1"], checkpoint=checkpoint, run_dir=run_dir,
    )  # fmt: skip
    return save_head(head_path(run_dir, protocol), built)


def append_evaluation(run_dir, result: dict, checkpoint: str) -> dict:
    """Append ``result`` (without predictions; with ``checkpoint`` unless it is ``last.pt``)
    to the run's ``evaluations.jsonl``; returns it."""
    if checkpoint != "last.pt":
        result["checkpoint"] = checkpoint
    result.pop("predictions", None)
    path = Path(run_dir) / "evaluations.jsonl"
    try:
        with path.open("a") as handle:
            handle.write(json.dumps(result, default=float) + "\n")
    except OSError as error:  # e.g. a full disk: the computed result is still shown
        problem = "no space left on device" if error.errno == errno.ENOSPC else error.strerror
        failed = SkelsslError(f"{problem} while writing {path}; the result was not recorded")
        failed.result = result
        raise failed from None
    return result
