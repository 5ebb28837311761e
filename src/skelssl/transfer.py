"""Transfer evaluation: a run's pre-trained encoder evaluated on another dataset.

The protocol of MS²L (Table 6), CRRL (Table VII) and Skeleton BYOL (Table 6): pre-train
on one dataset (e.g. NW-UCLA), then probe or finetune on another (e.g. PKU-MMD). The
other dataset is prepared with the run's preprocessing, its joints are mapped into the
run's layout when they differ (``skeleton.LAYOUT_MAPS``: the 20 joints ``ntu-25`` and
``kinect-v1-20`` share) and its body count is adapted to the run's (extra bodies dropped,
missing ones zero); then ``linear``, ``knn`` or ``finetune`` runs on the other dataset's
protocol split. The result says which mapping was applied.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from skelssl.config import from_dict, to_dict
from skelssl.data.dataset import DataConfig, default_protocol, load_dataset
from skelssl.data.preprocess import select_bodies
from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluate_run import PROTOCOLS, append_evaluation, apply_overrides
from skelssl.runs import load_run
from skelssl.skeleton import get_layout, map_layout

ADAPT_CHUNK = 1024  # samples mapped at a time


def transfer_data_config(run_data: DataConfig, data: DataConfig | dict) -> DataConfig:
    """The other dataset's :class:`DataConfig`.

    A dict (``{"name": "pku-mmd", "root": PATH, "protocol": "xsub"}``, any ``DataConfig``
    key) is applied over the run's preprocessing, cache folder and worker count; a
    :class:`DataConfig` is used as given.
    """
    if isinstance(data, DataConfig):
        return data
    base = DataConfig(
        preprocess=run_data.preprocess, cache_dir=run_data.cache_dir, workers=run_data.workers
    )
    tree = to_dict(base)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            tree[key] = {**tree[key], **value}
        else:
            tree[key] = value
    return from_dict(DataConfig, tree, "data")


def adapt_data(data: SkeletonData, layout: str, bodies: int) -> tuple[SkeletonData, dict]:
    """``data`` with joints in ``layout`` and exactly ``bodies`` bodies.

    Joints (N, T, M, V, C) -> (N, T, bodies, V_layout, C), built in chunks of
    ``ADAPT_CHUNK`` samples. Returns the data and what was changed:
    ``{"layout_mapping": "kinect-v1-20 -> ntu-25" | None, "bodies": "1 -> 2" | None}``.
    """
    _, frames, have_bodies, _, channels = data.shape
    changes = {
        "layout_mapping": None if data.layout == layout else f"{data.layout} -> {layout}",
        "bodies": None if have_bodies == bodies else f"{have_bodies} -> {bodies}",
    }
    if not any(changes.values()):
        return data, changes
    shape = (len(data), frames, bodies, get_layout(layout).num_joints, channels)
    joints = np.zeros(shape, np.float32)
    for start in range(0, len(data), ADAPT_CHUNK):
        block = np.asarray(data.joints[start : start + ADAPT_CHUNK], dtype=np.float32)
        joints[start : start + ADAPT_CHUNK] = select_bodies(
            map_layout(block, data.layout, layout), bodies
        )
    return replace(data, joints=joints, layout=layout), changes


def evaluate_transfer(
    run_dir: str | Path,
    data: DataConfig | dict,
    protocol: str = "linear",
    *,
    label_fraction: float | None = None,
    seeds: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    checkpoint: str = "last.pt",
    quiet: bool = False,
) -> dict:
    """Evaluate the encoder of ``run_dir`` (weights of ``checkpoint``) on another dataset;
    result appended to evaluations.jsonl.

    ``data`` names the other dataset (see :func:`transfer_data_config`); its ``protocol``
    (default: the dataset's first) gives the train/test split. ``protocol`` is ``linear``,
    ``knn`` or ``finetune``; ``overrides`` are evaluation keys (``knn_k=20``). The result
    has the protocol's numbers plus ``pretrained_on``, ``data``, ``split``,
    ``layout_mapping`` and ``bodies`` (None where nothing was changed).
    """
    if protocol not in PROTOCOLS:
        raise SkelsslError(
            f"unknown evaluation protocol {protocol!r} (known: {', '.join(PROTOCOLS)})"
        )
    if protocol != "finetune" and (label_fraction is not None or seeds is not None):
        raise SkelsslError("--label-fraction and --seeds apply to --protocol finetune only")
    run = load_run(run_dir, checkpoint=checkpoint, quiet=quiet)
    config = apply_overrides(run.config.evaluation, overrides)
    target_config = transfer_data_config(run.config.data, data)
    target = load_dataset(target_config, quiet=quiet)
    split = default_protocol(target, target_config.protocol)
    adapted, changes = adapt_data(target, run.data.layout, run.data.shape[2])
    train_data, test_data = adapted.split(split)
    if protocol == "finetune":
        result = PROTOCOLS[protocol](
            run.encoder, train_data, test_data, config,
            label_fraction=label_fraction, seeds=seeds, quiet=quiet,
        )  # fmt: skip
    else:
        result = PROTOCOLS[protocol](run.encoder, train_data, test_data, config, quiet=quiet)
    result.update(
        method=run.config.method,
        pretrained_on=run.config.data.name,
        data=target_config.name,
        split=split,
        transfer=True,
        **changes,
    )
    return append_evaluation(run_dir, result, checkpoint)
