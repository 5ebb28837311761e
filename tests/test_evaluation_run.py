"""Transfer evaluation: layouts and body counts adapted, protocols run on the other dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skelssl.config import load_config
from skelssl.data.preprocess import PreprocessConfig
from skelssl.data.readers.arrays import write_npz
from skelssl.data.sources import DataConfig
from skelssl.data.transfer import adapt_data, transfer_data_config
from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.evaluation.run import evaluate_run
from skelssl.runs import pretrain

TINY = [
    "data.synthetic.classes=3",
    "data.synthetic.subjects=2",
    "data.synthetic.takes=1",
    "data.synthetic.cameras=2",
    "data.synthetic.bodies=2",
    "data.preprocess.frames=12",
    "encoder.name=gru",
    "encoder.hidden_size=8",
    "encoder.num_layers=1",
    "evaluation.linear_epochs=3",
]


def kinect_data(samples: int = 12, bodies: int = 1) -> SkeletonData:
    """Tiny kinect-v1-20 data, 2 classes, protocol ``given``: even samples train."""
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(samples, 12, bodies, 20, 3)).astype(np.float32)
    index = np.arange(samples)
    return SkeletonData(
        joints=joints,
        lengths=np.full(samples, 12, dtype=np.int64),
        labels=(index % 2).astype(np.int64),
        subjects=index.astype(np.int64),
        views=np.ones(samples, dtype=np.int64),
        setups=np.full(samples, -1, dtype=np.int64),
        performances=np.array([f"p{i}" for i in index]),
        names=np.array([f"s{i}" for i in index]),
        class_names=["a", "b"],
        layout="kinect-v1-20",
        source="tiny",
        splits={"given": index % 4 < 2},
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A random-init GRU run on tiny 2-body synthetic data (ntu-25)."""
    directory = tmp_path_factory.mktemp("run")
    pretrain(load_config("random", None, TINY), directory / "random", quiet=True)
    return directory / "random"


def test_adapt_maps_kinect_to_ntu_and_pads_bodies():
    data = kinect_data(samples=3)
    adapted, changes = adapt_data(data, "ntu-25", 2)
    assert changes == {"layout_mapping": "kinect-v1-20 -> ntu-25", "bodies": "1 -> 2"}
    assert adapted.shape == (3, 12, 2, 25, 3) and adapted.layout == "ntu-25"
    np.testing.assert_array_equal(adapted.joints[:, :, 0, 20], data.joints[:, :, 0, 2])  # spine top
    np.testing.assert_array_equal(
        adapted.joints[:, :, 0, 23], data.joints[:, :, 0, 11]
    )  # right hand
    assert not adapted.joints[:, :, 1].any()
    same, nothing = adapt_data(data, "kinect-v1-20", 1)
    assert same is data and nothing == {"layout_mapping": None, "bodies": None}
    back, _ = adapt_data(adapted, "kinect-v1-20", 1)
    np.testing.assert_array_equal(back.joints, data.joints)


def test_data_config_keeps_the_runs_preprocessing():
    run_data = DataConfig(preprocess=PreprocessConfig(frames=37, minmax=True), cache_dir="/c")
    config = transfer_data_config(run_data, {"name": "pku-mmd", "root": "/r", "split": "xview"})
    assert (config.name, config.root, config.split, config.cache_dir) == (
        "pku-mmd",
        "/r",
        "xview",
        "/c",
    )
    assert config.preprocess.frames == 37 and config.preprocess.minmax
    with pytest.raises(SkelsslError, match="nonsense"):
        transfer_data_config(run_data, {"nonsense": 1})


def test_knn_transfer_to_another_layout(run_dir, tmp_path):
    path = tmp_path / "kinect.npz"
    write_npz(kinect_data(), path)
    result = evaluate_run(run_dir, data={"name": str(path)}, protocol="knn", quiet=True)
    assert result["layout_mapping"] == "kinect-v1-20 -> ntu-25" and result["bodies"] == "1 -> 2"
    assert (result["n_train"], result["n_test"]) == (6, 6) and result["split"] == "given"
    assert result["pretrained_on"] == "synthetic" and result["transfer"] is True
    assert 0 <= result["top1"] <= 100
    logged = [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    assert logged[-1]["layout_mapping"] == "kinect-v1-20 -> ntu-25"
    tuned = evaluate_run(
        run_dir,
        data={"name": str(path)},
        protocol="finetune",
        overrides=["finetune_epochs=1"],
        quiet=True,
    )
    assert tuned["protocol"] == "finetune" and tuned["layout_mapping"] == "kinect-v1-20 -> ntu-25"
    with pytest.raises(SkelsslError, match="unknown evaluation protocol"):
        evaluate_run(run_dir, data={"name": str(path)}, protocol="magic", quiet=True)
    with pytest.raises(SkelsslError, match="no split 'xset'"):
        evaluate_run(run_dir, data={"name": str(path), "split": "xset"}, protocol="knn", quiet=True)


def test_linear_transfer_to_pku_mmd(run_dir, pku_root):
    result = evaluate_run(
        run_dir,
        data={"name": "pku-mmd", "root": str(pku_root), "split": "xsub"},
        protocol="linear",
        quiet=True,
    )
    assert result["layout_mapping"] is None and result["bodies"] is None  # ntu-25, 2 bodies
    assert (result["n_train"], result["n_test"]) == (45, 24)  # videos 0036, 0105 train; 0310 tests
    assert result["data"] == "pku-mmd" and result["protocol"] == "linear"


def test_every_protocol_takes_the_same_options_and_refuses_what_it_cannot_honour(run_dir):
    from skelssl.evaluation import PROTOCOLS, Options

    refusing = {"linear": "--label-fraction", "knn": "--seeds", "byol-linear": "--seeds"}
    refusing |= {name: "--seeds" for name in PROTOCOLS if name.startswith("ms2l-")}
    for name, flag in refusing.items():
        options = Options(label_fraction=0.5) if flag == "--label-fraction" else Options(seeds=2)
        with pytest.raises(SkelsslError, match=f"protocol {name} does not take {flag}"):
            PROTOCOLS[name](None, None, None, options)  # refused before anything runs
    with pytest.raises(SkelsslError, match="byol-linear does not take --label-fraction"):
        evaluate_run(run_dir, protocol="byol-linear", label_fraction=0.1, quiet=True)
    assert {"finetune", "byol-semi"} <= set(PROTOCOLS) - set(refusing)  # these honour both
