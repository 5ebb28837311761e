"""The field's formats: pyskl pickles, AimCLR feeder folders, CTR-GCN .npz; the restricted
unpickler; layouts; 2D preprocessing and augmentation; convert round trips; projection."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from formats_fixtures import (
    pyskl_2d_annotations,
    write_ctrgcn,
    write_feeder,
    write_pyskl_2d,
    write_pyskl_3d,
)
from skelssl.augment import camera_view, rotate, shear
from skelssl.cli import main
from skelssl.data.cache import load_dataset
from skelssl.data.convert import read_unprepared
from skelssl.data.projection import project_joints
from skelssl.data.readers.pyskl import read_pyskl, split_pairs
from skelssl.data.safe_pickle import load_pickle
from skelssl.data.sources import DataConfig
from skelssl.errors import SkelsslError
from skelssl.skeleton import LAYOUTS, get_layout, map_layout

TINY = ["data.preprocess.frames=16", "encoder.name=gru", "encoder.hidden_size=16",
        "encoder.num_layers=1", "epochs=1", "train.batch_size=4"]  # fmt: skip


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELSSL_CACHE", str(tmp_path / "cache"))
    return {
        "pyskl-3d": write_pyskl_3d(tmp_path / "ntu.pkl"),
        "pyskl-2d": write_pyskl_2d(tmp_path / "video.pkl"),
        "feeder": write_feeder(tmp_path / "aimclr"),
        "ctr-gcn": write_ctrgcn(tmp_path / "NTU60_CS.npz"),
    }


EXPECTED = {  # samples, layout, coords, {split: train count}
    "pyskl-3d": (12, "ntu-25", "xyz", {"xsub": 6, "xview": 8}),
    "pyskl-2d": (12, "coco-17", "xy+score", {"given": 8}),
    "feeder": (15, "ntu-25", "xyz", {"given": 9}),
    "ctr-gcn": (15, "ntu-25", "xyz", {"given": 9}),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_info_counts(files, kind, capsys):
    assert main(["info", str(files[kind]), "--json", "--quiet"]) == 0
    info = json.loads(capsys.readouterr().out)
    samples, layout, coords, splits = EXPECTED[kind]
    assert info["samples"] == samples and info["layout"] == layout
    assert info["coordinates"].startswith("2D" if coords != "xyz" else "3D")
    assert {name: s["train"] for name, s in info["splits"].items()} == splits
    assert sum(info["classes"].values()) == samples


def test_sequence_lengths_and_metadata(files):
    feeder = read_unprepared(DataConfig(name=str(files["feeder"])))[0]
    assert feeder.lengths.tolist()[:3] == [10, 11, 12]  # up to the last non-zero frame
    assert feeder.subjects.tolist()[:4] == [1, 1, 1, 2]  # from NTU-style names
    assert feeder.class_names[0] == "drink water"
    ctr = read_unprepared(DataConfig(name=str(files["ctr-gcn"])))[0]
    assert ctr.lengths.tolist()[:3] == [10, 11, 12] and ctr.labels.tolist()[:4] == [0, 1, 2, 0]


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_pretrain_evaluate_embed_predict(files, kind, tmp_path, capsys):
    run = tmp_path / f"run-{kind}"
    assert main(["pretrain", "simclr", "--data", str(files[kind]), "--out", str(run),
                 "--quiet", *TINY]) == 0  # fmt: skip
    assert main(["evaluate", str(run), "--protocol", "linear", "--quiet", "--save-head"]) == 0
    out = tmp_path / "features.npz"
    assert main(["embed", str(run), "--out", str(out), "--quiet"]) == 0
    with np.load(out) as arrays:
        assert arrays["features"].shape[0] == EXPECTED[kind][0]
    assert main(["evaluate", str(run), "--protocol", "knn", "--data", str(files[kind]),
                 "--quiet"]) == 0  # fmt: skip
    if kind == "pyskl-2d":
        capsys.readouterr()
        assert main(["predict", str(run), str(files[kind]), "--json", "--quiet"]) == 0
        assert len(json.loads(capsys.readouterr().out)) == EXPECTED[kind][0]


class _Evil:
    def __init__(self, target: Path, how: str):
        self.target, self.how = str(target), how

    def __reduce__(self):
        if self.how == "system":
            return (os.system, (f"touch {self.target}",))
        if self.how == "open":
            return (open, (self.target, "w"))
        if self.how == "eval":
            return (eval, (f"open({self.target!r}, 'w')",))
        return (getattr, ("text", "upper"))  # refused before it is called


@pytest.mark.parametrize("how", ["system", "open", "eval", "getattr"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, how, capsys, monkeypatch):
    monkeypatch.setenv("SKELSSL_CACHE", str(tmp_path / "cache"))
    target = tmp_path / "created"
    evil = tmp_path / "evil.pkl"
    annotations = pyskl_2d_annotations(2)
    annotations[0]["img_shape"] = _Evil(target, how)
    evil.write_bytes(pickle.dumps({"annotations": annotations}))
    assert main(["info", str(evil), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(evil) in err and "refused to unpickle" in err
    assert not target.exists()


def test_restricted_unpickler_reads_numpy_in_every_protocol(tmp_path):
    content = {"a": np.arange(6, dtype=np.float16).reshape(2, 3), "b": (1, 2.5, "x", None),
               "c": {1, 2}, "d": np.int64(3)}  # fmt: skip
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(content, protocol=protocol))
        loaded = load_pickle(path)
        assert np.array_equal(loaded["a"], content["a"]) and loaded["a"].dtype == np.float16
        assert loaded["b"] == content["b"] and loaded["c"] == {1, 2} and loaded["d"] == 3


def _pickle(path: Path, content) -> Path:
    path.write_bytes(pickle.dumps(content))
    return path


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = pyskl_2d_annotations(3)
    missing = [dict(a) for a in good]
    del missing[1]["keypoint"]
    ragged = [dict(a) for a in good]
    ragged[2]["keypoint"] = ragged[2]["keypoint"][:, :, :16]
    ragged[2]["keypoint_score"] = ragged[2]["keypoint_score"][:, :, :16]
    odd_v = [dict(a) for a in good]
    for a in odd_v:
        a["keypoint"], a["keypoint_score"] = (
            a["keypoint"][:, :, :15],
            a["keypoint_score"][:, :, :15],
        )
    negative = [dict(a) for a in good]
    negative[0]["label"] = -1
    nan = [dict(a) for a in good]
    nan[1]["keypoint"] = nan[1]["keypoint"].copy()
    nan[1]["keypoint"][0, 0, 0, 0] = np.nan
    ctr = write_ctrgcn(tmp_path / "ctr.npz")
    with np.load(ctr) as arrays:
        arrays = dict(arrays)
    arrays["y_test"][0] = 0  # a row with no class
    np.savez(tmp_path / "ctr_bad.npz", **arrays)
    feeder = write_feeder(tmp_path / "feeder_bad")
    (feeder / "val_label.pkl").write_bytes(pickle.dumps((["a"], [0])))
    return {
        "missing key": (_pickle(tmp_path / "missing.pkl", missing), "missing key 'keypoint'"),
        "ragged": (_pickle(tmp_path / "ragged.pkl", ragged), "ragged keypoints"),
        "no layout": (_pickle(tmp_path / "v15.pkl", odd_v), "data.layout"),
        "label": (_pickle(tmp_path / "label.pkl", negative), "outside the classes"),
        "nan": (_pickle(tmp_path / "nan.pkl", nan), "NaN"),
        "one-hot": (tmp_path / "ctr_bad.npz", "not one-hot"),
        "feeder labels": (feeder, "names and 1 labels for 6 samples"),
    }


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SKELSSL_CACHE", str(tmp_path / "cache"))
    for case, (path, words) in _bad_inputs(tmp_path).items():
        assert main(["info", str(path), "--quiet"]) == 2, case
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (case, err)
        assert words in err, (case, err)


def test_split_pairs():
    names = ["xsub_train", "xsub_val", "xview_train", "xview_val", "train", "test",
             "train1", "test1", "lonely_train"]  # fmt: skip
    assert split_pairs(names) == {
        "xsub": ("xsub_train", "xsub_val"),
        "xview": ("xview_train", "xview_val"),
        "given": ("train", "test"),
        "split1": ("train1", "test1"),
    }


def test_unlabelled_video_list_and_mask_score(tmp_path):
    path = _pickle(tmp_path / "list.pkl", pyskl_2d_annotations(4, labelled=False))
    raw = read_pyskl(path, score="mask")
    assert raw.class_names == ["unlabelled"] and raw.splits == {}
    assert raw.coords == "xy" and raw.sequences[0].joints.shape[-1] == 2


@pytest.mark.parametrize("kind", ["pyskl-3d", "pyskl-2d", "feeder", "ctr-gcn"])
def test_convert_round_trips_are_exact(files, kind, tmp_path):
    first = tmp_path / "first.npz"
    assert main(["convert", str(files[kind]), str(first), "--quiet"]) == 0
    pkl = tmp_path / "back.pkl"
    assert main(["convert", str(first), str(pkl), "--quiet"]) == 0
    second = tmp_path / "second.npz"
    assert main(["convert", str(pkl), str(second), "--quiet"]) == 0
    a = read_unprepared(DataConfig(name=str(first)))[0]
    b = read_unprepared(DataConfig(name=str(second)))[0]
    assert np.array_equal(a.joints, b.joints) and np.array_equal(a.lengths, b.lengths)
    assert a.labels.tolist() == b.labels.tolist() and a.names.tolist() == b.names.tolist()
    assert a.coords == b.coords and a.layout == b.layout
    assert {k: v.tolist() for k, v in a.splits.items()} == {
        k: v.tolist() for k, v in b.splits.items()
    }
    if kind.startswith("pyskl"):  # the original pickle's keypoints, exactly
        original = load_pickle(files[kind])["annotations"]
        for i, annotation in enumerate(original):
            t = annotation["total_frames"]
            m = annotation["keypoint"].shape[0]
            kept = a.joints[i, :t, :m, :, : annotation["keypoint"].shape[-1]]
            assert np.array_equal(kept, annotation["keypoint"].transpose(1, 0, 2, 3))


def test_layouts_are_consistent():
    for layout in LAYOUTS.values():
        assert len(layout.bones) == layout.num_joints - 1  # a spanning tree
        assert sorted(j for part in layout.parts.values() for j in part) == list(
            range(layout.num_joints)
        )
        mirror = layout.mirror
        assert np.array_equal(mirror[mirror], np.arange(layout.num_joints))
        for left, right in layout.left_right_pairs:
            assert layout.joint_names[left].replace("left", "?") == layout.joint_names[
                right
            ].replace("right", "?")
    assert get_layout("openpose").name == "openpose-18"


def test_layout_yaml(tmp_path):
    path = tmp_path / "my_layout.yaml"
    path.write_text(
        "joints: [head, neck, left_hand, right_hand, left_foot, right_foot]\n"
        "edges: [[head, neck], [neck, left_hand], [neck, right_hand], [neck, left_foot],"
        " [neck, right_foot], [left_foot, right_foot]]\n"
        "center: neck\n"
        "pairs: [[left_hand, right_hand], [left_foot, right_foot]]\n"
    )
    layout = get_layout(str(path))
    assert layout.num_joints == 6 and len(layout.bones) == 5 and layout.center == 1
    assert layout.parts["left_leg"] == (4,) and layout.parts["right_arm"] == (3,)
    assert layout.mirror.tolist() == [0, 1, 3, 2, 5, 4]
    path.write_text("joints: [a, b]\nedges: []\ncenter: a\n")
    with pytest.raises(SkelsslError, match="unconnected"):
        get_layout(str(path))
    path.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(SkelsslError, match="not a readable layout YAML"):
        get_layout(str(path))


def test_layout_yaml_reads_unknown_joint_count(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELSSL_CACHE", str(tmp_path / "cache"))
    layout = tmp_path / "five.yaml"
    layout.write_text("joints: [a, b, c, d, e]\nedges: [[a, b], [b, c], [c, d], [d, e]]\n"
                      "center: c\npairs: [[a, e], [b, d]]\n")  # fmt: skip
    annotations = pyskl_2d_annotations(3)
    for a in annotations:
        a["keypoint"], a["keypoint_score"] = a["keypoint"][:, :, :5], a["keypoint_score"][:, :, :5]
    path = _pickle(tmp_path / "five.pkl", annotations)
    data = load_dataset(DataConfig(name=str(path), layout=str(layout)), quiet=True)
    assert data.shape[3] == 5 and data.layout == str(layout.resolve())


def test_2d_preprocessing_centres_and_scales(files):
    data = load_dataset(DataConfig(name=str(files["pyskl-2d"])), quiet=True)
    joints = np.asarray(data.joints)
    assert np.allclose(joints[:, 0, 0, 0, :2], 0, atol=1e-5)  # nose of the first frame
    extent = joints[..., :2].max(axis=(1, 3)) - joints[..., :2].min(axis=(1, 3))
    assert 0.5 < np.median(extent.max(-1)) < 3  # body units, not pixels
    raw = read_unprepared(DataConfig(name=str(files["pyskl-2d"])))[0]
    assert np.array_equal(  # the score channel is untouched by the spatial steps
        joints[:, 0, 0, :, 2], np.asarray(raw.joints)[:, 0, 0, :, 2]
    )


def test_2d_augmentations_keep_score_and_undetected_joints():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, 1, 17, 3)
    x[..., 2] = torch.rand(4, 6, 1, 17)
    x[:, :, :, 3, :2] = 0  # an undetected joint
    for fn in (
        lambda v: rotate(v, 30.0, generator=generator, coords="xy+score"),
        lambda v: shear(v, 0.5, generator=generator, coords="xy+score"),
        lambda v: camera_view(v, LAYOUTS["coco-17"], generator=generator, coords="xy+score")[0],
    ):
        y = fn(x)
        assert torch.equal(y[..., 2], x[..., 2])
        assert torch.equal(y[:, :, :, 3, :2], torch.zeros_like(y[:, :, :, 3, :2]))
        assert not torch.allclose(y[..., :2], x[..., :2])
    y = rotate(x, (0.0, 0.0, 30.0), generator=generator, coords="xy+score")  # a rotation
    assert torch.allclose(y[..., :2].norm(dim=-1), x[..., :2].norm(dim=-1), atol=1e-5)


def test_transfer_maps_coco_and_kinect():
    kinect = np.arange(20 * 3, dtype=np.float32).reshape(1, 20, 3) + 1
    coco = map_layout(kinect, "kinect-v1-20", "coco-17")
    assert np.array_equal(coco[0, 5], kinect[0, 4])  # left shoulder
    assert np.array_equal(coco[0, 15], kinect[0, 14])  # left ankle
    back = map_layout(coco, "coco-17", "ntu-25")
    assert np.array_equal(back[0, 4], kinect[0, 4]) and not back[0, 1].any()  # spine: none


def test_project_to_2d():
    joints = np.zeros((2, 1, 20, 3), np.float32)
    joints[0, 0] = np.array([0.1, 0.2, 2.0])  # every joint at x=0.1, y=0.2, z=2 m
    projected = project_joints(joints, "kinect-v1-20", focal=500.0, image_size=(640, 480))
    assert projected.shape == (2, 1, 17, 3)
    assert np.allclose(projected[0, 0, 5], [320 + 500 * 0.05, 240 - 500 * 0.1, 1])
    assert not projected[0, 0, 1:5].any()  # eyes and ears: no Kinect joint, score 0
    assert not projected[1].any()  # an absent body stays zero
