"""The carry-over benchmark's NW-UCLA variants: class-stratified takes, one camera each."""

from __future__ import annotations

import numpy as np

from skelssl.data.types import SkeletonData


def _takes(count_per_class: int = 8, classes: int = 3) -> SkeletonData:
    """Takes of ``classes`` classes, each seen by two training cameras and one test camera."""
    rows = [(c, t, v) for c in range(classes) for t in range(count_per_class) for v in (1, 2, 3)]
    n = len(rows)
    labels = np.array([c for c, _, _ in rows])
    views = np.array([v for _, _, v in rows])
    return SkeletonData(
        joints=np.ones((n, 4, 1, 20, 3), dtype=np.float32),
        lengths=np.full(n, 4, dtype=np.int64),
        labels=labels,
        subjects=np.zeros(n, dtype=np.int64),
        views=views,
        setups=np.zeros(n, dtype=np.int64),
        performances=np.array([f"c{c}t{t}" for c, t, _ in rows]),
        names=np.array([f"c{c}t{t}v{v}" for c, t, v in rows]),
        class_names=[f"k{c}" for c in range(classes)],
        layout="kinect-v1-20",
        source="toy",
        splits={"xview": views < 3},
    )


def test_variants_keep_whole_takes_per_class_or_one_camera(import_benchmark):
    carryover = import_benchmark("carryover.table")
    data = _takes()
    train, test = carryover.variant_rows(data, 0.25, one_camera=False, seed=0)
    assert np.array_equal(test, np.flatnonzero(data.views == 3))
    assert np.bincount(data.labels[train]).tolist() == [4, 4, 4]  # 2 takes x 2 cameras
    takes = data.performances[train]
    assert all((takes == take).sum() == 2 for take in set(takes))
    one, _ = carryover.variant_rows(data, 0.25, one_camera=True, seed=0)
    assert len(one) == 6 and len(set(data.performances[one])) == 6
    assert set(data.performances[one]) == set(takes)  # the same takes, one camera each
    other, _ = carryover.variant_rows(data, 0.25, one_camera=False, seed=1)
    assert set(data.performances[other]) != set(takes)  # the draw follows the seed
    assert carryover.variant_name("f0.25-one", 2) == "nwucla_f0.25_one_s2"


def test_validation_splits_never_hold_the_test_view(import_benchmark):
    choices = import_benchmark("simclr.choices")
    data = _takes()
    data.subjects[:] = np.arange(len(data.labels)) % 4
    rows, train = choices.validation_rows(data, "view", [3])
    assert set(data.views[rows]) == {1, 2}
    assert set(data.views[rows[train]]) == {1} and set(data.views[rows[~train]]) == {2}
    rows, train = choices.validation_rows(data, "subject", [3])
    assert set(data.views[rows]) == {1, 2}
    assert set(data.subjects[rows[~train]]) == {3} and 3 not in set(data.subjects[rows[train]])


def test_recipe_set_members_run_as_configs_and_the_joint_stream_is_simclr(
    import_benchmark, tmp_path
):
    carryover = import_benchmark("carryover.table")
    members = carryover.set_members("recommended")
    assert members == {"joint": "simclr", "bone": "recommended.bone",
                       "motion": "recommended.motion"}  # fmt: skip
    assert carryover.set_members("simclr") is None
    written = carryover.config_file(tmp_path, "recommended.bone")
    assert written.parent == tmp_path / "configs"
    bone = carryover.load_config(None, written)
    assert bone == carryover.resolved("recommended.bone") and bone.data.stream == "bone"
    assert bone.method == "simclr" and bone.train == carryover.resolved("simclr").train
