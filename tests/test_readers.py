"""Readers for real formats: NW-UCLA JSON, NTU .skeleton, the array .npz format."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from skelssl.data.readers import (
    NTU60_CLASS_NAMES,
    NTU120_CLASS_NAMES,
    parse_skeleton_bodies,
    parse_skeleton_file,
    read_npz,
    read_ntu,
    read_nwucla,
    write_npz,
)
from skelssl.data.readers import ntu as ntu_module
from skelssl.data.types import SkeletonData


@lru_cache(maxsize=1)
def _nwucla(root: Path):
    return read_nwucla(root, quiet=True)


# --------------------------------------------------------------------------- NW-UCLA


@pytest.mark.realdata
def test_nwucla_reads_all_files_with_ten_classes(nwucla_root):
    data = _nwucla(nwucla_root)
    assert len(data.sequences) == 1484
    assert data.skipped == []
    assert data.layout == "kinect-v1-20" and data.source == "nw-ucla"
    assert data.class_names[0] == "pick up with one hand" and data.class_names[-1] == "carry"
    assert sorted({s.label for s in data.sequences}) == list(range(10))
    for sequence in data.sequences[:50]:
        assert sequence.joints.dtype == np.float32
        assert sequence.joints.shape[1:] == (1, 20, 3)


@pytest.mark.realdata
def test_nwucla_metadata_comes_from_file_names(nwucla_root):
    data = _nwucla(nwucla_root)
    by_name = {s.name: s for s in data.sequences}
    carry = next(s for name, s in by_name.items() if name.startswith("a12_"))
    assert carry.label == 9  # action 12 is the tenth class, "carry"
    donning = next(s for name, s in by_name.items() if name.startswith("a08_"))
    assert donning.label == 6
    sample = by_name["a01_s01_e00_v01"]
    assert (sample.subject, sample.view, sample.setup) == (1, 1, -1)
    assert sample.performance == "a01_s01_e00"


@pytest.mark.realdata
def test_nwucla_xview_split_sizes(nwucla_root):
    data = _nwucla(nwucla_root)
    is_train = data.splits["xview"]
    train = [s for s in data.sequences if is_train(s)]
    assert len(train) == 1020
    assert len(data.sequences) - len(train) == 464
    assert {s.view for s in train} == {1, 2}


@pytest.mark.realdata
def test_nwucla_performance_grouping(nwucla_root):
    data = _nwucla(nwucla_root)
    views_per_performance = Counter(Counter(s.performance for s in data.sequences).values())
    assert views_per_performance == {3: 433, 2: 70, 1: 45}


@pytest.mark.realdata
def test_nwucla_frames_match_the_json(nwucla_root):
    data = _nwucla(nwucla_root)
    for sequence in data.sequences[::300]:
        with open(nwucla_root / f"{sequence.name}.json") as file:
            skeletons = json.load(file)["skeletons"]
        assert sequence.num_frames == len(skeletons)
        np.testing.assert_allclose(sequence.joints[:, 0], np.array(skeletons), rtol=1e-6)


# --------------------------------------------------------------------------- NTU


def _header_walk(path: Path) -> tuple[int, list[int], list[str], list[float]]:
    """Independent reading: frame count, bodies per frame, body IDs, first joint xyz."""
    lines = path.read_text().split("\n")
    num_frames, position = int(lines[0]), 1
    bodies_per_frame, body_ids, first_xyz = [], [], None
    for _ in range(num_frames):
        count = int(lines[position])
        position += 1
        bodies_per_frame.append(count)
        for _ in range(count):
            body_ids.append(lines[position].split()[0])
            joint_count = int(lines[position + 1])
            if first_xyz is None:
                first_xyz = [float(v) for v in lines[position + 2].split()[:3]]
            position += 2 + joint_count
    return num_frames, bodies_per_frame, list(dict.fromkeys(body_ids)), first_xyz


@pytest.mark.realdata
def test_ntu_files_parse_with_header_frame_and_body_counts(ntu_root):
    two_body_files = 0
    for path in sorted(ntu_root.glob("*.skeleton")):
        num_frames, bodies_per_frame, body_ids, first_xyz = _header_walk(path)
        joints = parse_skeleton_file(path)
        assert joints.dtype == np.float32
        assert joints.shape == (num_frames, min(2, len(body_ids)), 25, 3)
        first_frame = next(t for t, count in enumerate(bodies_per_frame) if count)
        np.testing.assert_allclose(joints[first_frame, 0, 0], first_xyz, rtol=1e-6)
        visible = (np.abs(joints).sum(axis=(2, 3)) > 0).sum(axis=1)
        np.testing.assert_array_equal(visible, bodies_per_frame)  # absent bodies are zeros
        two_body_files += joints.shape[1] == 2
    assert two_body_files == 7


@pytest.mark.realdata
def test_ntu_metadata_labels_and_protocols(ntu_root):
    data = read_ntu(ntu_root, quiet=True)
    assert len(data.sequences) == 12 and data.skipped == []
    assert data.layout == "ntu-25" and data.source == "ntu60"
    assert data.class_names == NTU60_CLASS_NAMES and len(data.class_names) == 60
    sample = next(s for s in data.sequences if s.name == "S003C001P015R001A034")
    assert (sample.label, sample.subject, sample.view, sample.setup) == (33, 15, 1, 3)
    assert data.class_names[sample.label] == "rub two hands together"
    other_camera = next(s for s in data.sequences if s.name == "S001C003P008R002A058")
    assert other_camera.performance == "S001P008R002A058"
    assert list(data.splits) == ["xsub", "xview"]
    xsub, xview = data.splits["xsub"], data.splits["xview"]
    train_xsub = {s.name for s in data.sequences if xsub(s)}
    assert "S003C001P015R001A034" in train_xsub and "S002C001P003R001A003" not in train_xsub
    assert {s.view for s in data.sequences if xview(s)} == {2, 3}
    assert {s.view for s in data.sequences if not xview(s)} == {1}


@pytest.mark.realdata
def test_ntu120_names_and_cross_setup(ntu_root):
    data = read_ntu(ntu_root, variant="ntu120", quiet=True)
    assert len(NTU120_CLASS_NAMES) == 120 and data.class_names == NTU120_CLASS_NAMES
    assert NTU120_CLASS_NAMES[22] == "hand waving" and NTU120_CLASS_NAMES[1] == "eat meal/snack"
    assert NTU120_CLASS_NAMES[119].startswith("finger-guessing game")
    xset = data.splits["xset"]
    assert {s.setup for s in data.sequences if xset(s)} == {2, 4}
    assert not data.splits["xsub"](next(s for s in data.sequences if s.subject == 20))


def _copy(source: Path, directory: Path, name: str) -> None:
    shutil.copyfile(source, directory / name)


@pytest.mark.realdata
def test_ntu60_filters_actions_setups_and_missing_list(ntu_root, tmp_path):
    root = tmp_path / "skeletons"
    root.mkdir()
    source = ntu_root / "S001C001P001R001A001.skeleton"
    for name in ("S001C001P001R001A001", "S018C001P001R001A001", "S001C001P001R001A061"):
        _copy(source, root, f"{name}.skeleton")
    _copy(source, root, "S001C002P001R001A001.skeleton")
    (tmp_path / "statistics").mkdir()
    (tmp_path / "statistics" / "samples_with_missing_skeletons.txt").write_text(
        "S001C002P001R001A001\n"
    )
    assert [s.name for s in read_ntu(root, quiet=True).sequences] == ["S001C001P001R001A001"]
    ntu120 = read_ntu(root, variant="ntu120", quiet=True)  # its own list is absent here
    assert len(ntu120.sequences) == 4
    chosen = read_ntu(root, variant="ntu120", missing_list=["S018C001P001R001A001"], quiet=True)
    assert "S018C001P001R001A001" not in {s.name for s in chosen.sequences}
    assert len(chosen.sequences) == 3


@pytest.mark.realdata
def test_ntu_default_missing_list_is_the_official_one(ntu_root, ntu_statistics):
    listed = set((ntu_statistics / "samples_with_missing_skeletons.txt").read_text().split())
    assert len(listed) == 302
    data = read_ntu(ntu_root, quiet=True)
    assert not listed & {s.name for s in data.sequences}


@pytest.mark.realdata
def test_ntu_parallel_parsing_equals_serial(ntu_root, monkeypatch):
    serial = read_ntu(ntu_root, quiet=True, workers=1)
    monkeypatch.setattr(ntu_module, "MIN_FILES_FOR_PROCESSES", 0)
    monkeypatch.setattr(ntu_module, "FILES_PER_CHUNK", 5)
    parallel = read_ntu(ntu_root, quiet=True, workers=2)
    assert [s.name for s in parallel.sequences] == [s.name for s in serial.sequences]
    for a, b in zip(serial.sequences, parallel.sequences):
        np.testing.assert_array_equal(a.joints, b.joints)


def _body_lines(body_id: str, xyz: np.ndarray) -> list[str]:
    lines = [f"{body_id} 0 1 1 1 1 0 0.1 0.1 2", "25"]
    return lines + [f"{x} {y} {z} 1 1 1 1 0 0 0 0 2" for x, y, z in xyz]


def test_ntu_keeps_the_most_active_bodies_in_order_of_appearance(tmp_path):
    # Body "1" appears first and stands still; "2" moves a little; "3" appears last and
    # moves most. max_bodies=2 keeps "2" and "3", ordered "2" then "3".
    frames = 4
    lines = [str(frames)]
    for t in range(frames):
        bodies = [("1", np.full((25, 3), 0.5))]
        if t >= 1:
            bodies.append(("2", np.full((25, 3), 0.1 * t)))
        if t >= 2:
            bodies.append(("3", np.full((25, 3), 1.0 * t)))
        lines.append(str(len(bodies)))
        for body_id, xyz in bodies:
            lines += _body_lines(body_id, xyz)
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\n".join(lines) + "\n")
    assert [b.body_id for b in parse_skeleton_bodies(path)] == ["1", "2", "3"]
    joints = parse_skeleton_file(path, max_bodies=2)
    assert joints.shape == (4, 2, 25, 3)
    np.testing.assert_allclose(joints[:, 0, 0, 0], [0.0, 0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(joints[:, 1, 0, 0], [0.0, 0.0, 2.0, 3.0])
    assert parse_skeleton_file(path, max_bodies=3).shape == (4, 3, 25, 3)


# --------------------------------------------------------------------------- array format


def _tiny_data(num_joints: int = 25, layout: str = "ntu-25") -> SkeletonData:
    rng = np.random.default_rng(0)
    lengths = np.array([4, 2, 3])
    joints = rng.normal(size=(3, 4, 2, num_joints, 3)).astype(np.float32)
    joints[np.arange(4)[None, :] >= lengths[:, None]] = 0
    return SkeletonData(
        joints=joints,
        lengths=lengths,
        labels=np.array([0, 2, 1]),
        subjects=np.array([1, 2, 3]),
        views=np.array([1, 1, 2]),
        setups=np.array([-1, 5, -1]),
        performances=np.array(["p0", "p0", "p1"]),
        names=np.array(["a", "b", "c"]),
        class_names=["walk", "sit", "wave"],
        layout=layout,
        source="tiny",
        splits={"given": np.array([True, False, True]), "xsub": np.array([False, True, True])},
    )


def test_npz_round_trip_is_exact(tmp_path):
    data = _tiny_data()
    path = tmp_path / "tiny.npz"
    write_npz(data, path)
    back = read_npz(path)
    for key in ("joints", "lengths", "labels", "subjects", "views", "setups"):
        np.testing.assert_array_equal(getattr(back, key), getattr(data, key))
        assert getattr(back, key).dtype == (np.float32 if key == "joints" else np.int64)
    assert back.names.tolist() == ["a", "b", "c"] and back.performances.tolist() == [
        "p0",
        "p0",
        "p1",
    ]
    assert back.class_names == data.class_names and back.layout == "ntu-25"
    assert back.source == str(path)
    assert list(back.splits) == ["given", "xsub"]
    for name, mask in data.splits.items():
        np.testing.assert_array_equal(back.splits[name], mask)
    with np.load(path) as archive:  # "given" is stored as the split strings
        assert "split" in archive.files and "protocol_given" not in archive.files


def test_npz_defaults_for_missing_optional_fields(tmp_path):
    data = _tiny_data(num_joints=20, layout="kinect-v1-20")
    path = tmp_path / "minimal.npz"
    np.savez(path, joints=data.joints, lengths=data.lengths, labels=data.labels)
    back = read_npz(path)
    assert back.layout == "kinect-v1-20"  # inferred from V = 20
    assert back.subjects.tolist() == [-1, -1, -1] and back.setups.tolist() == [-1, -1, -1]
    assert back.names.tolist() == ["sample000000", "sample000001", "sample000002"]
    assert back.performances.tolist() == back.names.tolist()
    assert back.class_names == ["class0", "class1", "class2"]
    assert back.splits == {}


def test_npz_split_strings_become_the_given_protocol(tmp_path):
    data = _tiny_data()
    path = tmp_path / "split.npz"
    split = np.array(["train", "test", "test"])
    np.savez(path, joints=data.joints, lengths=data.lengths, labels=data.labels, split=split)
    back = read_npz(path)
    assert back.layout == "ntu-25"
    np.testing.assert_array_equal(back.split_mask("given"), [True, False, False])
    train, test = back.split("given")
    assert len(train) == 1 and len(test) == 2
