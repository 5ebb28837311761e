"""SkeletonData.subset keeps memory-mapped joints on disk (RowSubset)."""

import numpy as np

from skelssl.data.types import RowSubset, SkeletonData


def _data(joints):
    n = joints.shape[0]
    ints = np.arange(n, dtype=np.int64)
    return SkeletonData(
        joints=joints, lengths=np.full(n, joints.shape[1]), labels=ints % 2, subjects=ints,
        views=ints, setups=ints, performances=ints.astype(str), names=ints.astype(str),
        class_names=["a", "b"], layout="ntu-25", source="test",
        splits={"given": ints % 3 != 0},
    )  # fmt: skip


def test_subset_of_a_memmap_is_lazy_and_reads_the_right_rows(tmp_path):
    values = np.random.default_rng(0).normal(size=(10, 4, 1, 25, 3)).astype(np.float32)
    np.save(tmp_path / "j.npy", values)
    data = _data(np.load(tmp_path / "j.npy", mmap_mode="r"))
    train, test = data.split("given")
    assert isinstance(train.joints, RowSubset) and train.joints.shape == (6, 4, 1, 25, 3)
    np.testing.assert_array_equal(np.asarray(train.joints), values[data.splits["given"]])
    np.testing.assert_array_equal(
        train.joints[[3, 0]], values[np.flatnonzero(data.splits["given"])[[3, 0]]]
    )
    np.testing.assert_array_equal(train.joints[2], values[np.flatnonzero(data.splits["given"])[2]])
    nested = train.subset(np.array([5, 1]))
    np.testing.assert_array_equal(
        np.asarray(nested.joints), values[np.flatnonzero(data.splits["given"])[[5, 1]]]
    )
    assert list(nested.labels) == list(data.labels[np.flatnonzero(data.splits["given"])[[5, 1]]])


def test_subset_of_an_in_memory_array_is_a_plain_array():
    data = _data(np.zeros((4, 2, 1, 25, 3), np.float32))
    assert isinstance(data.subset(np.array([0, 2])).joints, np.ndarray)
