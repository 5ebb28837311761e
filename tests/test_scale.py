"""Streaming cache preparation: equal to in-memory preprocessing, resumable, parallel,
and a cache memmap whose iteration keeps resident memory bounded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelssl.data import cache, sources
from skelssl.data.cache import cache_directory, load_dataset, open_joints
from skelssl.data.preprocess import PreprocessConfig, preprocess
from skelssl.data.readers import ntu as ntu_module
from skelssl.data.sources import DataConfig, read_raw
from skelssl.data.synthetic import SyntheticConfig


def synthetic_config(tmp_path) -> DataConfig:
    """18 two-body sequences, streamed lazily in chunks of 5 (see the autouse fixture)."""
    return DataConfig(
        name="synthetic",
        cache_dir=str(tmp_path / "cache"),
        synthetic=SyntheticConfig(classes=3, subjects=2, takes=1, cameras=3, bodies=2,
                                  min_frames=6, max_frames=10),
        preprocess=PreprocessConfig(frames=8, minmax=True),
    )  # fmt: skip


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(sources, "SYNTHETIC_STREAM_MIN", 0)
    monkeypatch.setattr(cache, "SEQUENCES_PER_CHUNK", 5)


def assert_same_data(streamed, reference) -> None:
    np.testing.assert_array_equal(np.asarray(streamed.joints), reference.joints)
    for name in ("lengths", "labels", "subjects", "views", "setups", "performances", "names"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(reference, name))
    assert list(streamed.splits) == list(reference.splits)
    for name, mask in reference.splits.items():
        np.testing.assert_array_equal(streamed.splits[name], mask)


def test_streamed_synthetic_equals_in_memory_preprocessing(tmp_path):
    config = synthetic_config(tmp_path)
    streamed = load_dataset(config, quiet=True)
    assert isinstance(streamed.joints, np.memmap) and streamed.shape == (18, 8, 2, 25, 3)
    assert_same_data(streamed, preprocess(read_raw(config), config.preprocess, quiet=True))
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [cache_directory(config).name]


def test_interrupted_preparation_resumes_from_written_chunks(tmp_path, monkeypatch):
    config = synthetic_config(tmp_path)
    real_write_chunk = cache.write_chunk
    written = []

    def interrupted(path, *args):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(path.name)
        return real_write_chunk(path, *args)

    monkeypatch.setattr(cache, "write_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_dataset(config, quiet=True)
    partial = tmp_path / "cache" / f".{cache_directory(config).name}.partial"
    assert (
        sorted(p.name for p in partial.glob("chunk-*.npz"))
        == written
        == ["chunk-000000.npz", "chunk-000001.npz"]
    )

    resumed = []
    monkeypatch.setattr(
        cache,
        "write_chunk",
        lambda path, *a: resumed.append(path.name) or real_write_chunk(path, *a),
    )
    data = load_dataset(config, quiet=True)
    assert resumed == ["chunk-000002.npz", "chunk-000003.npz"]  # 18 sequences = 4 chunks of 5
    assert not partial.exists()
    assert_same_data(data, preprocess(read_raw(config), config.preprocess, quiet=True))


def test_ntu_shards_parsed_in_worker_processes_equal_serial(ntu_root, tmp_path, monkeypatch):
    monkeypatch.setattr(ntu_module, "FILES_PER_CHUNK", 3)  # 12 files -> 4 shards
    base = DataConfig(
        name="ntu120", root=str(ntu_root), cache_dir=str(tmp_path / "serial"), workers=1
    )
    serial = load_dataset(base, quiet=True)
    parallel_config = DataConfig(
        name="ntu120", root=str(ntu_root), cache_dir=str(tmp_path / "par"), workers=2
    )
    parallel = load_dataset(parallel_config, quiet=True)
    assert len(serial) == 12
    assert_same_data(parallel, preprocess(read_raw(base), base.preprocess, quiet=True))
    assert_same_data(serial, preprocess(read_raw(base), base.preprocess, quiet=True))


def _resident_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def _rss_growth_mib(path: Path) -> tuple[float, list[float]]:
    """RSS growth while reading every row of the memmap at ``path``, and each row's first value."""
    joints = open_joints(path)
    before = _resident_kib()
    firsts = [float(np.array(joints[i])[0, 0, 0, 0]) for i in range(len(joints))]
    grown = (_resident_kib() - before) / 1024
    del joints
    return grown, firsts


def test_iterating_the_cache_memmap_keeps_rss_bounded(tmp_path, monkeypatch):
    path = Path(tmp_path / "joints.npy")
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(256, 128, 2, 25, 16))
    rows[:, 0, 0, 0, 0] = np.arange(256)  # 100 MiB file, one value per row to check
    rows.flush()
    del rows
    assert open_joints(path).flags.writeable is False
    monkeypatch.setattr(cache, "RELEASE_BYTES", 2**40)  # never release: a plain memmap
    grown_plain, _ = _rss_growth_mib(path)
    monkeypatch.setattr(cache, "RELEASE_BYTES", 2**20)
    grown, firsts = _rss_growth_mib(path)
    assert firsts == list(range(256))
    assert grown_plain > 60, f"a plain memmap should map what is read, grew {grown_plain:.0f} MiB"
    assert grown < 40, f"RSS grew by {grown:.0f} MiB reading a 100 MiB memmap"
