"""load_dataset and its cache, label fractions, performance groups, describe."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from skelssl.data import sources, synthetic
from skelssl.data.cache import cache_directory, load_dataset
from skelssl.data.preprocess import PreprocessConfig
from skelssl.data.sampling import (
    TorchSkeletonDataset,
    describe,
    label_fraction_indices,
    performance_groups,
)
from skelssl.data.sources import DATASET_NAMES, DataConfig, default_split
from skelssl.data.types import RawDataset, Sequence
from skelssl.errors import SkelsslError


def hand_raw(skipped=()) -> RawDataset:
    """Six tiny sequences of 2 classes; performances p0, p0, p1, p1, p1, p2."""
    rng = np.random.default_rng(0)
    sequences = [
        Sequence(
            joints=(rng.normal(size=(5 + i, 1, 20, 3)) + 2).astype(np.float32),
            label=i % 2,
            name=f"s{i}",
            subject=i,
            view=1 + i % 3,
            performance=["p0", "p0", "p1", "p1", "p1", "p2"][i],
        )
        for i in range(6)
    ]
    return RawDataset(
        sequences=sequences,
        class_names=["wave", "kick"],
        layout="kinect-v1-20",
        source="synthetic",
        splits={"xview": lambda s: s.view != 3, "xsub": lambda s: s.subject < 3},
        skipped=list(skipped),
    )


@pytest.fixture
def fake_reader(monkeypatch):
    """Replace the reader with one returning :func:`hand_raw` and counting its calls."""
    calls = []

    def read(config, *, quiet=False):
        calls.append(config.name)
        return hand_raw()

    monkeypatch.setattr(sources, "read_raw", read)
    return calls


def small_config(tmp_path, **preprocess) -> DataConfig:
    return DataConfig(
        name="synthetic",
        cache_dir=str(tmp_path),
        preprocess=PreprocessConfig(frames=6, **preprocess),
    )


# ---------------------------------------------------------------- load and cache


def test_cache_round_trip_is_memory_mapped(tmp_path, fake_reader):
    config = small_config(tmp_path)
    first = load_dataset(config, quiet=True)
    second = load_dataset(config, quiet=True)
    assert fake_reader == ["synthetic"]
    assert isinstance(second.joints, np.memmap) and not second.joints.flags.writeable
    assert second.joints.shape == (6, 6, 1, 20, 3)
    np.testing.assert_array_equal(np.asarray(second.joints), np.asarray(first.joints))
    np.testing.assert_array_equal(second.names, [f"s{i}" for i in range(6)])
    np.testing.assert_array_equal(second.performances, first.performances)
    assert list(second.splits) == ["xview", "xsub"]
    np.testing.assert_array_equal(second.splits["xsub"], [1, 1, 1, 0, 0, 0])
    assert second.class_names == ["wave", "kick"] and second.layout == "kinect-v1-20"
    directories = [p.name for p in tmp_path.iterdir()]
    assert len(directories) == 1 and directories[0].startswith("synthetic-")  # no temp left


def test_second_call_does_not_parse_raw_files(tmp_path, fake_reader, monkeypatch):
    config = small_config(tmp_path)
    load_dataset(config, quiet=True)

    def fail(config, *, quiet=False):
        raise AssertionError("raw files parsed again")

    monkeypatch.setattr(sources, "read_raw", fail)
    assert len(load_dataset(config, quiet=True)) == 6


def test_cache_key_changes_with_config(tmp_path, fake_reader):
    base = small_config(tmp_path)
    keys = {
        cache_directory(base),
        cache_directory(small_config(tmp_path, minmax=True)),
        cache_directory(replace(base, preprocess=PreprocessConfig(frames=7))),
        cache_directory(
            replace(base, synthetic=replace(base.synthetic, seed=base.synthetic.seed + 1))
        ),
        cache_directory(replace(base, skip_bad=True)),
    }
    assert len(keys) == 5
    assert cache_directory(small_config(tmp_path)) == cache_directory(base)
    load_dataset(base, quiet=True)
    load_dataset(small_config(tmp_path, minmax=True), quiet=True)
    assert fake_reader == ["synthetic", "synthetic"]


def test_cache_key_changes_with_raw_files(tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    (root / "a.json").write_text("{}")
    config = DataConfig(name="nw-ucla", root=str(root), cache_dir=str(tmp_path / "cache"))
    before = cache_directory(config)
    (root / "b.json").write_text("{}")
    assert cache_directory(config) != before


def test_skipped_files_are_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sources, "read_raw", lambda config, quiet=False: hand_raw(["x.json: bad"]))
    config = small_config(tmp_path)
    load_dataset(config)
    assert "skipped 1 bad files: x.json: bad" in capsys.readouterr().err
    load_dataset(config, quiet=True)
    assert capsys.readouterr().err == ""


def test_user_errors(tmp_path, fake_reader):
    with pytest.raises(SkelsslError, match="--root"):
        load_dataset(DataConfig(name="ntu60", cache_dir=str(tmp_path)), quiet=True)
    with pytest.raises(SkelsslError, match="known: nw-ucla"):
        load_dataset(DataConfig(name="kinetics", cache_dir=str(tmp_path)), quiet=True)
    with pytest.raises(SkelsslError, match="not found"):
        load_dataset(DataConfig(name="nw-ucla", root=str(tmp_path / "nope")), quiet=True)
    with pytest.raises(SkelsslError, match="xset"):
        load_dataset(replace(small_config(tmp_path), split="xset"), quiet=True)
    assert DATASET_NAMES == ("nw-ucla", "ntu60", "ntu120", "pku-mmd", "pku-mmd2", "synthetic")


def test_default_split_is_first(tmp_path, fake_reader):
    data = load_dataset(small_config(tmp_path), quiet=True)
    assert default_split(data) == "xview"
    assert default_split(data, "xsub") == "xsub"


def test_npz_source_is_recast(tmp_path, fake_reader):
    arrays = pytest.importorskip("skelssl.data.readers.arrays")
    data = load_dataset(small_config(tmp_path), quiet=True)
    path = tmp_path / "mine.npz"
    arrays.write_npz(data, path, prepared=True)
    config = DataConfig(
        name=str(path), cache_dir=str(tmp_path / "cache"), preprocess=PreprocessConfig(frames=6)
    )
    loaded = load_dataset(config, quiet=True)
    np.testing.assert_array_equal(np.asarray(loaded.joints), np.asarray(data.joints))
    longer = load_dataset(replace(config, preprocess=PreprocessConfig(frames=9)), quiet=True)
    assert longer.joints.shape[1] == 9


def test_synthetic_generator_through_load_dataset(tmp_path):
    small = synthetic.SyntheticConfig(classes=2, subjects=2, takes=1, cameras=2, max_frames=60)
    config = DataConfig(
        name="synthetic",
        cache_dir=str(tmp_path),
        preprocess=PreprocessConfig(frames=8),
        synthetic=small,
    )
    data = load_dataset(config, quiet=True)
    assert data.joints.shape[:2] == (8, 8) and data.num_classes == 2
    assert all(group.size == 2 for group in performance_groups(data))  # one take, two cameras
    data.validate()


# ---------------------------------------------------------------- label fractions


def test_label_fractions_class_balanced_and_deterministic():
    labels = np.repeat([0, 1, 2], [10, 20, 3])
    picked = label_fraction_indices(labels, 0.1, seed=4)
    np.testing.assert_array_equal(np.bincount(labels[picked]), [1, 2, 1])  # at least 1 per class
    assert np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(picked, label_fraction_indices(labels, 0.1, seed=4))
    assert not np.array_equal(
        label_fraction_indices(labels, 0.5, seed=4), label_fraction_indices(labels, 0.5, seed=5)
    )
    half = label_fraction_indices(labels, 0.5, seed=4)
    np.testing.assert_array_equal(np.bincount(labels[half]), [5, 10, 2])
    assert set(picked) <= set(half)  # nested across fractions for one seed
    np.testing.assert_array_equal(label_fraction_indices(labels, 1.0, seed=0), np.arange(33))
    with pytest.raises(SkelsslError):
        label_fraction_indices(labels, 0.0, seed=0)


# ---------------------------------------------------------------- groups and description


def test_performance_groups_in_order_of_first_occurrence(tmp_path, fake_reader):
    data = load_dataset(small_config(tmp_path), quiet=True)
    data.performances = np.array(["p1", "p0", "p1", "", "p0", ""])
    groups = performance_groups(data)
    assert [g.tolist() for g in groups] == [[0, 2], [1, 4], [3], [5]]


def test_describe_counts(tmp_path, fake_reader):
    data = load_dataset(small_config(tmp_path, temporal="crop"), quiet=True)
    info = describe(data)
    assert info["samples"] == 6 and info["shape"] == [6, 6, 1, 20, 3]
    assert info["classes"] == {"wave": 3, "kick": 3}
    assert info["lengths"] == {"min": 5, "median": 6.0, "max": 6}
    assert info["splits"]["xview"] == {"train": 4, "test": 2}
    assert info["bodies"]["samples_by_count"] == {1: 6}
    assert info["performances"] == 3 and info["subjects"] == 6


def test_torch_dataset_items_collate_to_a_batch(tmp_path, fake_reader):
    data = load_dataset(small_config(tmp_path), quiet=True)
    batch = next(iter(torch.utils.data.DataLoader(TorchSkeletonDataset(data), batch_size=4)))
    assert batch["joints"].shape == (4, 6, 1, 20, 3) and batch["joints"].dtype == torch.float32
    assert batch["index"].tolist() == [0, 1, 2, 3]
    assert batch["labels"].tolist() == [0, 1, 0, 1]


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_nwucla_through_load_dataset(nwucla_root, tmp_path):
    pytest.importorskip("skelssl.data.readers.nwucla")
    config = DataConfig(name="nw-ucla", root=str(nwucla_root), cache_dir=str(tmp_path))
    data = load_dataset(config, quiet=True)
    assert data.joints.shape == (1484, 50, 1, 20, 3)
    assert data.splits["xview"].sum() == 1020
    assert len(performance_groups(data)) == 433 + 70 + 45
    np.testing.assert_allclose(data.joints[:, 0, 0, 1], 0.0, atol=1e-5)  # centred on spine


def test_raw_npz_is_prepared_like_the_original_files(tmp_path, fake_reader):
    """A user's .npz of raw camera coordinates gets the config's centring and view
    normalisation, exactly as the same clips read by their reader (no silent skip)."""
    arrays = pytest.importorskip("skelssl.data.readers.arrays")
    named = small_config(tmp_path)
    raw_steps = replace(named.preprocess, center=False, view_normalize=False, minmax=False)
    raw = load_dataset(replace(named, preprocess=raw_steps), quiet=True)
    path = tmp_path / "raw.npz"
    arrays.write_npz(raw, path)
    assert not arrays.npz_prepared(path)
    for steps in (named.preprocess, replace(named.preprocess, minmax=True)):
        direct = load_dataset(replace(named, preprocess=steps), quiet=True)
        config = DataConfig(name=str(path), cache_dir=str(tmp_path / "c"), preprocess=steps)
        from_npz = load_dataset(config, quiet=True)
        np.testing.assert_allclose(
            np.asarray(from_npz.joints), np.asarray(direct.joints), rtol=1e-5, atol=1e-6
        )
        assert np.abs(np.asarray(from_npz.joints) - np.asarray(raw.joints)).max() > 1e-3
