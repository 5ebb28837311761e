"""benchmarks/baselines/nwucla_2d.py: 3D Kinect clips -> COCO-17 xy+score .npz -> training
input, its results file, and its command line (no NW-UCLA needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skelssl.config import load_config
from skelssl.data.cache import load_dataset
from skelssl.data.readers.arrays import write_npz
from skelssl.data.types import SkeletonData

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "baselines" / "nwucla_2d.py"
pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture
def bench(import_benchmark):
    return import_benchmark("baselines.nwucla_2d")


def kinect_clips(count: int = 8, frames: int = 30) -> SkeletonData:
    """``count`` kinect-v1-20 clips, a body about 3 m in front of the camera, lengths
    ``frames // 2 .. frames`` (zero padding after), views 1-3 with the xview split."""
    rng = np.random.default_rng(0)
    joints = np.zeros((count, frames, 1, 20, 3), dtype=np.float32)
    lengths = np.linspace(frames // 2, frames, count).astype(np.int64)
    for i, length in enumerate(lengths):
        body = rng.normal(0.0, 0.3, size=(20, 3)) + np.array([0.0, 0.0, 3.0])
        motion = rng.normal(0.0, 0.01, size=(length, 1, 20, 3)).cumsum(axis=0)
        joints[i, :length] = body + motion
    views = np.arange(count) % 3 + 1
    names = np.array([f"clip{i}" for i in range(count)])
    return SkeletonData(
        joints=joints, lengths=lengths, labels=np.arange(count) % 2,
        subjects=np.zeros(count, np.int64), views=views, setups=np.full(count, -1),
        performances=names, names=names, class_names=["a", "b"], layout="kinect-v1-20",
        source="fake", splits={"xview": views != 3},
    )  # fmt: skip


def test_projected_npz_loads_as_coco17_xy_score_with_the_split(bench, tmp_path):
    clips = kinect_clips()
    projected = bench.to_2d(clips)
    assert projected.joints.shape == (8, 30, 1, 17, 3)
    assert (projected.layout, projected.coords) == ("coco-17", "xy+score")
    valid = np.arange(30)[None, :] < clips.lengths[:, None]  # (N, T)
    score = projected.joints[..., 2]
    assert np.all(score[~valid] == 0) and np.all(projected.joints[~valid] == 0)  # padding
    assert np.all(score[valid][..., [0, *range(5, 17)]] == 1)  # nose, shoulders ... ankles
    assert np.all(score[valid][..., 1:5] == 0)  # eyes and ears: no Kinect joint
    path = tmp_path / "two_d.npz"
    write_npz(projected, path)
    config = load_config(
        "simclr", bench.CONFIG, [f"data.name={path}", "data.root=null", "data.split=xview"]
    )
    data = load_dataset(config.data, quiet=True)
    frames = config.data.preprocess.frames
    assert data.joints.shape == (8, frames, 1, 17, 3)
    assert (data.layout, data.coords) == ("coco-17", "xy+score")
    np.testing.assert_array_equal(data.split_mask("xview"), clips.views != 3)
    xy = np.asarray(data.joints)[..., :2]
    assert np.abs(xy).max() < 10  # pixels became body units (centred, divided by body size)
    assert set(np.unique(np.asarray(data.joints)[..., 2])) <= {0.0, 1.0}  # score untouched


def test_results_pair_the_2d_and_3d_seeds(bench, tmp_path):
    def seed(linear, knn):
        return {"linear_top1": linear, "knn_top1": knn, "pretrain_minutes": 1.0}

    def row(name, per_seed):
        return {"method": "random", "input": name, "encoder": "gru-2x128", "frames": 50,
                "epochs": 0, "command": "c", "per_seed": per_seed}  # fmt: skip

    payload = {
        "machine": {"cpu": "x", "device": "cpu"},
        "rows": {
            "random/3d": row("3d", {"0": seed(60.0, 50.0), "1": seed(62.0, 52.0)}),
            "random/2d": row(
                "2d", {"0": seed(40.0, 45.0), "1": seed(44.0, 46.0), "2": seed(99.0, 99.0)}
            ),  # fmt: skip
        },
    }
    bench.write_results(payload, tmp_path, [0, 1, 2])
    written = json.loads((tmp_path / "nwucla_2d.json").read_text())
    linear = written["differences_2d_minus_3d"]["random"]["linear_top1"]
    assert linear["seeds"] == [0, 1] and linear["per_seed"] == [-20.0, -18.0]
    assert linear["mean"] == pytest.approx(-19.0)
    inputs = {r["input"]: r for r in written["summary_rows"]}
    assert set(inputs) == {"3d", "2d-coco17"} and inputs["3d"]["linear_mean"] == 61.0
    assert {"commit", "command"} <= set(written["provenance"])
    assert written["provenance"]["seeds"] == [0, 1, 2]
    assert (tmp_path / "nwucla_2d.md").read_text().count("| random |") == 2


def test_help_and_a_missing_dataset(tmp_path):
    shown = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "--prepare" in shown.stdout and "--epochs" in shown.stdout
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), "--prepare", str(tmp_path), "--root", str(tmp_path / "no")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_the_summary_lists_the_rows_with_their_input(import_benchmark, tmp_path):
    summary = import_benchmark("summary")
    results = tmp_path / "benchmarks" / "baselines" / "results"
    results.mkdir(parents=True)
    common = {"encoder": "gru-2x128", "frames": 50, "seeds": [0], "epochs": 0, "minutes": None,
              "device": "cpu", "linear_mean": 40.0, "linear_std": None, "knn_mean": 50.0,
              "knn_std": None, "paper_linear": None, "paper_knn": None,
              "source": "nwucla_2d.json"}  # fmt: skip
    rows = [{"method": "random", **common, "input": name} for name in ("3d", "2d-coco17")]
    (results / "nwucla_2d.json").write_text(json.dumps({"summary_rows": rows}))
    collected = summary.collect_summary_rows(tmp_path / "benchmarks")
    assert [r["input"] for r in collected] == ["3d", "2d-coco17"]
    table = summary.summary_markdown(collected)
    assert "| random (2d-coco17) |" in table and "| random (3d) |" in table
