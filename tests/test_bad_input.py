"""Bad input to every reader: a SkelsslError naming the file and the problem, never a
traceback; with skip_bad=True the directory readers skip the file and record it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skelssl.data.readers import ntu as ntu_module
from skelssl.data.readers import parse_skeleton_file, read_npz, read_ntu, read_nwucla
from skelssl.errors import SkelsslError


def _raises_naming(path: Path, match: str, read, *args, **kwargs) -> SkelsslError:
    with pytest.raises(SkelsslError, match=match) as caught:
        read(*args, **kwargs)
    assert str(path) in str(caught.value)
    return caught.value


# --------------------------------------------------------------------------- NW-UCLA


def _nwucla_json(frames: int = 3, joints: int = 20) -> dict:
    skeletons = [[[0.1 * j, 0.2 * t, 3.0] for j in range(joints)] for t in range(frames)]
    return {"file_name": "x", "skeletons": skeletons}


def _nwucla_dir(tmp_path: Path, bad_name: str, bad_text: str) -> tuple[Path, Path]:
    root = tmp_path / "nwucla"
    root.mkdir()
    (root / "a01_s01_e00_v01.json").write_text(json.dumps(_nwucla_json()))
    bad = root / bad_name
    bad.write_text(bad_text)
    return root, bad


NWUCLA_BAD = {
    "corrupt JSON": ("a01_s01_e00_v02.json", '{"skeletons": [[[0.1, 0.2', "corrupt JSON"),
    "NaN": (
        "a01_s01_e00_v02.json",
        json.dumps(_nwucla_json()).replace("3.0", "NaN", 1),
        r"non-finite coordinate \(NaN or inf\) in frame 1",
    ),
    "inf": (
        "a01_s01_e00_v02.json",
        json.dumps(_nwucla_json()).replace("3.0", "Infinity", 1),
        "non-finite",
    ),
    "zero frames": ("a01_s01_e00_v02.json", json.dumps({"skeletons": []}), "zero frames"),
    "wrong joint count": (
        "a01_s01_e00_v02.json",
        json.dumps(_nwucla_json(joints=19)),
        "wrong joint count: expected 20, got 19",
    ),
    "ragged": ("a01_s01_e00_v02.json", '{"skeletons": [[[1, 2, 3]], [[1, 2]]]}', "regular"),
    "missing key": ("a01_s01_e00_v02.json", '{"frames": []}', "missing key"),
    "label out of range": (
        "a07_s01_e00_v01.json",
        json.dumps(_nwucla_json()),
        "unknown action id 7",
    ),
}


@pytest.mark.parametrize("case", sorted(NWUCLA_BAD))
def test_nwucla_bad_file_raises_naming_it(tmp_path, case):
    name, text, match = NWUCLA_BAD[case]
    root, bad = _nwucla_dir(tmp_path, name, text)
    _raises_naming(bad, match, read_nwucla, root, quiet=True)


@pytest.mark.parametrize("case", sorted(NWUCLA_BAD))
def test_nwucla_skip_bad_skips_and_records(tmp_path, case):
    name, text, _ = NWUCLA_BAD[case]
    root, bad = _nwucla_dir(tmp_path, name, text)
    data = read_nwucla(root, skip_bad=True, quiet=True)
    assert [s.name for s in data.sequences] == ["a01_s01_e00_v01"]
    assert len(data.skipped) == 1 and data.skipped[0].startswith(f"{bad}: ")


def test_nwucla_missing_and_empty_directory(tmp_path):
    missing = tmp_path / "nowhere"
    _raises_naming(missing, "not found", read_nwucla, missing, skip_bad=True)
    (tmp_path / "notes.txt").write_text("not a sequence")
    _raises_naming(tmp_path, "no NW-UCLA files", read_nwucla, tmp_path, skip_bad=True)


# --------------------------------------------------------------------------- NTU


def _ntu_lines(frames: int = 3, joints: int = 25, value: str = "0.5") -> list[str]:
    lines = [str(frames)]
    for _ in range(frames):
        lines += ["1", "72057594037931101 0 1 1 1 1 0 0.1 0.1 2", str(joints)]
        lines += [f"{value} 0.2 3.0 277 191 1036 519 -0.2 0.05 0.9 -0.1 2"] * joints
    return lines


def _ntu_text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


GOOD = "S001C001P001R001A001.skeleton"
BAD = "S001C002P001R001A001.skeleton"
NTU_BAD = {
    # 1 + 28 lines per frame: frame 2's joint lines start at line 1 + 28 + 4.
    "truncated in joints": (
        BAD,
        _ntu_text(_ntu_lines()[: 1 + 28 + 3 + 3]),
        "truncated file: expected 25 joint lines in frame 2, got 3",
    ),
    "truncated frames": (
        BAD,
        _ntu_text(_ntu_lines()[: 1 + 28]),
        "truncated file: expected 3 frames, got 1",
    ),
    "truncated joint line": (
        BAD,
        _ntu_text(_ntu_lines()[:-1] + ["0.5 0.2"]),
        r"line 85 \(a joint of frame 3\) has 2 values, expected 12",
    ),
    "NaN": (BAD, _ntu_text(_ntu_lines(value="nan")), r"non-finite coordinate \(NaN or inf\)"),
    "inf": (BAD, _ntu_text(_ntu_lines(value="inf")), "non-finite"),
    "zero frames": (BAD, "0\n", "zero frames"),
    "empty file": (BAD, "", "truncated file: empty file"),
    "wrong joint count": (
        BAD,
        _ntu_text(_ntu_lines(joints=24)),
        "wrong joint count: expected 25, got 24 in frame 1",
    ),
    "not a number": (BAD, _ntu_text(["three"] + _ntu_lines()[1:]), "expected the frame count"),
    "no bodies": (BAD, "2\n0\n0\n", "no body in any frame"),
    "short body line": (
        BAD,
        _ntu_text(_ntu_lines()[:2] + ["72057594037931101 0 1"] + _ntu_lines()[3:]),
        r"line 3 \(a body of frame 1\) has 3 values, expected 10",
    ),
    "trailing data": (BAD, _ntu_text(_ntu_lines() + ["1"]), "unexpected data after the last"),
    "label out of range": (
        "S001C001P001R001A000.skeleton",
        _ntu_text(_ntu_lines()),
        "action id 0 out of range 1..60",
    ),
}


def _ntu_dir(tmp_path: Path, bad_name: str, bad_text: str) -> tuple[Path, Path]:
    root = tmp_path / "skeletons"
    root.mkdir()
    (root / GOOD).write_text(_ntu_text(_ntu_lines()))
    bad = root / bad_name
    bad.write_text(bad_text)
    return root, bad


@pytest.mark.parametrize("case", sorted(NTU_BAD))
def test_ntu_bad_file_raises_naming_it(tmp_path, case):
    name, text, match = NTU_BAD[case]
    root, bad = _ntu_dir(tmp_path, name, text)
    _raises_naming(bad, match, read_ntu, root, quiet=True)


@pytest.mark.parametrize("case", sorted(NTU_BAD))
def test_ntu_skip_bad_skips_and_records(tmp_path, case):
    name, text, _ = NTU_BAD[case]
    root, bad = _ntu_dir(tmp_path, name, text)
    data = read_ntu(root, skip_bad=True, quiet=True)
    assert [s.name for s in data.sequences] == [Path(GOOD).stem]
    assert data.sequences[0].joints.shape == (3, 1, 25, 3)
    assert len(data.skipped) == 1 and data.skipped[0].startswith(f"{bad}: ")


def test_ntu_bad_file_in_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(ntu_module, "MIN_FILES_FOR_PROCESSES", 0)
    monkeypatch.setattr(ntu_module, "FILES_PER_CHUNK", 1)
    root, bad = _ntu_dir(tmp_path, BAD, NTU_BAD["truncated in joints"][1])
    _raises_naming(bad, "truncated file", read_ntu, root, quiet=True, workers=2)
    data = read_ntu(root, skip_bad=True, quiet=True, workers=2)
    assert len(data.sequences) == 1 and data.skipped[0].startswith(f"{bad}: truncated file")


def test_parse_skeleton_file_bad_input_names_the_file(tmp_path):
    path = tmp_path / BAD
    path.write_text(NTU_BAD["truncated in joints"][1])
    _raises_naming(path, "truncated file", parse_skeleton_file, path)
    _raises_naming(
        tmp_path / "absent.skeleton",
        "file not found",
        parse_skeleton_file,
        tmp_path / "absent.skeleton",
    )


def test_ntu_missing_and_empty_directory_and_bad_options(tmp_path):
    missing = tmp_path / "nowhere"
    _raises_naming(missing, "not found", read_ntu, missing, skip_bad=True)
    _raises_naming(tmp_path, "no NTU files", read_ntu, tmp_path, skip_bad=True)
    root, _ = _ntu_dir(tmp_path, GOOD, _ntu_text(_ntu_lines()))
    with pytest.raises(SkelsslError, match="unknown NTU variant"):
        read_ntu(root, variant="ntu90", quiet=True)
    _raises_naming(
        tmp_path / "list.txt",
        "missing-skeleton list not found",
        read_ntu,
        root,
        missing_list=tmp_path / "list.txt",
        quiet=True,
    )


# --------------------------------------------------------------------------- array format


def _arrays(**changes) -> dict:
    joints = np.zeros((2, 4, 1, 25, 3), dtype=np.float32)
    joints[0, :3] = 0.5
    joints[1, :4] = -0.5
    arrays = {"joints": joints, "lengths": np.array([3, 4]), "labels": np.array([0, 1])}
    arrays.update(changes)
    return {key: value for key, value in arrays.items() if value is not None}


def _with_value(index, value) -> np.ndarray:
    joints = _arrays()["joints"].copy()
    joints[index] = value
    return joints


NPZ_BAD = {
    "missing joints": (_arrays(joints=None), "missing required key"),
    "missing labels": (_arrays(labels=None), "missing required key.*labels"),
    "NaN": (_arrays(joints=_with_value((1, 2, 0, 5, 1), np.nan)), "non-finite.*sample 1"),
    "inf": (_arrays(joints=_with_value((0, 0, 0, 0, 0), np.inf)), "non-finite.*sample 0"),
    "zero frames": (
        _arrays(joints=np.zeros((2, 0, 1, 25, 3), np.float32)),
        r"zero frames \(joints has T = 0\)",
    ),
    "length zero": (_arrays(lengths=np.array([0, 4])), r"lengths out of range 1\.\.4"),
    "length too long": (_arrays(lengths=np.array([3, 5])), r"sample 1 has 5"),
    "wrong lengths count": (_arrays(lengths=np.array([3])), r"lengths must have shape \(2,\)"),
    "labels out of range": (
        _arrays(class_names=np.array(["one"])),
        r"labels out of range 0\.\.0",
    ),
    "negative label": (_arrays(labels=np.array([-1, 0])), "labels out of range"),
    "unknown layout": (_arrays(layout=np.array("cmu-99")), "unknown layout 'cmu-99'"),
    "wrong joint count for layout": (
        _arrays(layout=np.array("kinect-v1-20")),
        "layout kinect-v1-20 has 20 joints, joints has V = 25",
    ),
    "no layout for joint count": (
        _arrays(joints=np.zeros((2, 4, 1, 24, 3), np.float32)),
        "none has 24 joints",
    ),
    "wrong rank": (_arrays(joints=np.zeros((2, 4, 25, 3), np.float32)), r"\(N, T, M, V, C\)"),
    "bad split": (_arrays(split=np.array(["train", "val"])), "split must be 'train' or 'test'"),
    "unknown key": (_arrays(label_names=np.array(["a", "b"])), "unknown key"),
    "non-zero padding": (_arrays(lengths=np.array([2, 4])), r"not zero after lengths\[0\] = 2"),
    "float labels": (_arrays(labels=np.array([0.5, 1.0])), "labels must be integers"),
}


@pytest.mark.parametrize("case", sorted(NPZ_BAD))
def test_npz_bad_content_raises_naming_the_file(tmp_path, case):
    arrays, match = NPZ_BAD[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    _raises_naming(path, match, read_npz, path)


def test_npz_good_base_case_reads(tmp_path):
    # The bad cases above each change one thing of this valid dataset.
    path = tmp_path / "good.npz"
    np.savez(path, **_arrays())
    assert read_npz(path).layout == "ntu-25"


def test_npz_unreadable_files(tmp_path):
    missing = tmp_path / "absent.npz"
    _raises_naming(missing, "file not found", read_npz, missing)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    _raises_naming(corrupt, "not", read_npz, corrupt)
    text = tmp_path / "text.npz"
    text.write_text("joints,lengths\n1,2\n")
    _raises_naming(text, "not an .npz archive", read_npz, text)
    objects = tmp_path / "objects.npz"
    np.savez(objects, **_arrays(names=np.array(["a", None], dtype=object)))
    _raises_naming(objects, "store strings as unicode arrays", read_npz, objects)


def test_directory_of_only_bad_files_is_an_error_even_with_skip_bad(tmp_path):
    ucla = tmp_path / "ucla"
    ucla.mkdir()
    (ucla / "a01_s01_e00_v01.json").write_text("{")
    _raises_naming(ucla, "every file is bad", read_nwucla, ucla, skip_bad=True, quiet=True)
    skeletons = tmp_path / "skeletons"
    skeletons.mkdir()
    (skeletons / BAD).write_text("0\n")
    _raises_naming(skeletons, "every file is bad", read_ntu, skeletons, skip_bad=True, quiet=True)
