"""PKU-MMD reader: instances cut from untrimmed videos, protocols, absent bodies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelssl.data.cache import load_dataset
from skelssl.data.preprocess import PreprocessConfig, body_presence
from skelssl.data.readers.pku import (
    parse_pku_labels,
    parse_pku_skeleton,
    read_pku,
    read_split_file,
)
from skelssl.data.sources import DATASET_NAMES, DataConfig
from skelssl.errors import SkelsslError


@pytest.fixture(scope="module")
def pku_raw():
    from conftest import PKU_ROOT

    if not PKU_ROOT.exists():
        pytest.skip(f"real data not found at {PKU_ROOT}")
    return read_pku(PKU_ROOT)


def test_instance_count_per_file_equals_label_lines(pku_root, pku_raw):
    counts: dict[str, int] = {}
    for sequence in pku_raw.sequences:
        video = sequence.name.rsplit("_", 1)[0]
        counts[video] = counts.get(video, 0) + 1
    expected = {
        path.stem: sum(1 for line in path.read_text().splitlines() if line.strip())
        for path in (pku_root / "label").iterdir()
        if (pku_root / "skeleton" / path.name).exists()
    }
    assert counts == expected and len(expected) == 9


def test_every_cut_is_within_its_video(pku_root, pku_raw):
    by_video = {}
    for sequence in pku_raw.sequences:
        video, number = sequence.name.rsplit("_", 1)
        if video not in by_video:
            frames = parse_pku_skeleton(pku_root / "skeleton" / f"{video}.txt")
            labels = parse_pku_labels(pku_root / "label" / f"{video}.txt", 51)
            by_video[video] = (frames, labels)
        frames, labels = by_video[video]
        label, start, end, _ = labels[int(number) - 1]
        assert 0 <= start <= end < len(frames)
        assert sequence.label == label - 1
        np.testing.assert_array_equal(
            sequence.joints, frames[start : end + 1, : sequence.joints.shape[1]]
        )


def test_metadata_performance_and_protocols(pku_raw):
    assert len(pku_raw.class_names) == 51 and pku_raw.class_names[0] == "bow"
    assert pku_raw.layout == "ntu-25" and list(pku_raw.splits) == ["xsub", "xview"]
    first = pku_raw.sequences[0]
    assert (first.name, first.performance, first.view) == ("0036-L_001", "0036_001", 1)
    cameras_of = {}
    for sequence in pku_raw.sequences:
        cameras_of.setdefault(sequence.performance, set()).add(sequence.view)
    assert all(views == {1, 2, 3} for views in cameras_of.values())
    xsub = {s.name[:4] for s in pku_raw.sequences if pku_raw.splits["xsub"](s)}
    assert xsub == {"0036", "0105"}  # 0310 is a test video of the cross-subject split
    xview_train_cameras = {s.view for s in pku_raw.sequences if pku_raw.splits["xview"](s)}
    assert xview_train_cameras == {1, 3}  # cross-view: L and R train, M tests


def test_zero_second_body_is_absent(pku_raw):
    frames_without_second = 0
    for sequence in pku_raw.sequences:
        zero = ~sequence.joints[:, 1].any(axis=(1, 2))
        present = body_presence(sequence.joints)
        assert not present[zero, 1].any()
        frames_without_second += int(zero.sum())
    assert frames_without_second > 0  # the sample has frames with one person only


def _write_video(root: Path, stem: str, frames: np.ndarray, labels: str) -> None:
    for folder in ("skeleton", "label"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rows = [" ".join(f"{v:.4f}" for v in frame.ravel()) for frame in frames]
    (root / "skeleton" / f"{stem}.txt").write_text("\n".join(rows) + "\n")
    (root / "label" / f"{stem}.txt").write_text(labels)


def _write_splits(root: Path, classes: int, train: str, test: str) -> Path:
    splits = root / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    names = "\n".join(f"{i},action {i}" for i in range(1, classes + 1))
    (splits / "actions.csv").write_text(f"label,action\n{names}\n")
    (splits / "cross-subject.txt").write_text(
        f"Training videos: \n{train}\nValidataion videos: \n{test}\n"
    )
    return splits


def test_part_two_with_its_own_splits_and_single_body(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.zeros((30, 2, 25, 3), np.float32)
    frames[:, 0] = rng.normal(size=(30, 25, 3)) + 2
    _write_video(tmp_path / "data", "A01N01-M", frames, "3,0,9,1\n41,10,40,2\n")
    _write_video(tmp_path / "data", "A02N01-M", frames, "1,5,6,1\n")
    splits = _write_splits(tmp_path / "mine", 41, "A01N01-M", "A02N01-M")
    raw = read_pku(tmp_path / "data", variant="pku-mmd2", splits=splits)
    assert [s.joints.shape for s in raw.sequences] == [
        (10, 1, 25, 3),
        (20, 1, 25, 3),
        (2, 1, 25, 3),
    ]
    assert [s.label for s in raw.sequences] == [2, 40, 0]
    assert list(raw.splits) == ["xsub"] and len(raw.class_names) == 41
    assert [raw.splits["xsub"](s) for s in raw.sequences] == [True, True, False]
    data = load_dataset(
        DataConfig(name="pku-mmd2", root=str(tmp_path / "data"), splits=str(splits),
                   cache_dir=str(tmp_path / "cache"), preprocess=PreprocessConfig(frames=8)),
        quiet=True,
    )  # fmt: skip
    assert data.shape == (3, 8, 1, 25, 3) and "pku-mmd2" in DATASET_NAMES


def test_bad_files_raise_or_are_skipped(tmp_path):
    frames = np.ones((5, 2, 25, 3), np.float32)
    _write_video(tmp_path, "0001-L", frames, "2,0,3,1\n")
    _write_video(tmp_path, "0002-L", frames, "2,7,9,1\n")  # starts after the video's end
    _write_splits(tmp_path, 51, "0001-L", "0002-L")
    with pytest.raises(SkelsslError, match="0002-L.*starts at frame 7"):
        read_pku(tmp_path)
    raw = read_pku(tmp_path, skip_bad=True)
    assert len(raw.sequences) == 1 and "0002-L" in raw.skipped[0]
    (tmp_path / "label" / "0001-L.txt").write_text("99,0,3,1\n")
    with pytest.raises(SkelsslError, match="class 99 out of range"):
        read_pku(tmp_path)
    (tmp_path / "label" / "0001-L.txt").write_text("2,0,3,1\n")
    (tmp_path / "skeleton" / "0001-L.txt").write_text("1 2 3\n")
    with pytest.raises(SkelsslError, match="frame 1 has 3 values, expected 150"):
        read_pku(tmp_path)
    with pytest.raises(SkelsslError, match="split file needs"):
        (tmp_path / "splits" / "cross-subject.txt").write_text("Training videos:\n0001-L\n")
        read_split_file(tmp_path / "splits" / "cross-subject.txt")
