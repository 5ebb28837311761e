"""Adapting another dataset to a pre-trained run (transfer: MS²L Table 6, CRRL Table VII,
Skeleton BYOL Table 6): its :class:`DataConfig` built over the run's preprocessing, its
joints mapped into the run's layout (``skeleton.LAYOUT_MAPS``: the joints ``ntu-25``,
``kinect-v1-20`` and ``coco-17`` share), its channel meaning checked and its body count made the run's (extra bodies dropped, missing
ones zero)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from skelssl.data.preprocess import select_bodies
from skelssl.data.sources import DataConfig, data_tree
from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.skeleton import get_layout, map_layout
from skelssl.typed import from_dict, to_dict

ADAPT_CHUNK = 1024  # samples mapped at a time


def transfer_data_config(run_data: DataConfig, data: DataConfig | dict) -> DataConfig:
    """The other dataset's :class:`DataConfig`.

    A dict (``{"name": "pku-mmd", "root": PATH, "split": "xsub"}``, any ``DataConfig``
    key) is applied over the run's preprocessing, cache folder and worker count; a
    :class:`DataConfig` is used as given.
    """
    if isinstance(data, DataConfig):
        return data
    base = DataConfig(
        preprocess=run_data.preprocess, cache_dir=run_data.cache_dir, workers=run_data.workers
    )
    tree = to_dict(base)
    for key, value in data_tree(data).items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            tree[key] = {**tree[key], **value}
        else:
            tree[key] = value
    return from_dict(DataConfig, tree, "data")


def adapt_data(
    data: SkeletonData, layout: str, bodies: int, coords: str | None = None
) -> tuple[SkeletonData, dict]:
    """``data`` with joints in ``layout`` and exactly ``bodies`` bodies.

    Joints (N, T, M, V, C) -> (N, T, bodies, V_layout, C), built in chunks of
    ``ADAPT_CHUNK`` samples (joints without a counterpart in ``layout`` are zero). Returns
    the data and what was changed:
    ``{"layout_mapping": "kinect-v1-20 -> ntu-25" | None, "bodies": "1 -> 2" | None}``.
    ``coords`` (the run's channel meaning; None: not checked) must be the data's: 2D data
    cannot feed a 3D encoder nor the reverse (:class:`SkelsslError`).
    """
    if coords is not None and coords != data.coords:
        raise SkelsslError(
            f"{data.source} is {data.coords} but the run was trained on {coords}: "
            "2D and 3D inputs do not mix (convert or pre-train on matching data)"
        )
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
