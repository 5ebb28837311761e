"""Using a trained run: embed, predict (and its sliding-window timeline), export, report,
config, --version, progress lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from skelssl.cli import main
from skelssl.inference import merge_segments, segment_hits, temporal_iou, window_starts
from skelssl.progress import LineStream
from tiny import TINY_SYNTHETIC

pytestmark = pytest.mark.usefixtures("private_cache")

TINY = [*TINY_SYNTHETIC, "batch_size=16", "epochs=1", "train.log_every=1"]


def fit_head(run_dir: Path) -> Path:
    """``evaluate --save-head``: the linear probe kept as RUN/heads/linear.pt."""
    from skelssl.evaluation.run import evaluate_run

    return Path(evaluate_run(run_dir, protocol="linear", save_head=True, quiet=True)["head_file"])


@pytest.fixture
def run_dir(tmp_path, capsys) -> Path:
    out = tmp_path / "run"
    args = ["pretrain", "simclr", "--out", str(out), "--data", "synthetic", "--quiet", *TINY]
    assert main(args) == 0
    capsys.readouterr()
    return out


def test_embed_writes_features_with_metadata_and_no_pickles(run_dir, tmp_path, capsys):
    out = tmp_path / "feats.npz"
    assert main(["embed", str(run_dir), "--out", str(out), "--part", "test", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with np.load(out, allow_pickle=False) as arrays:
        features, part = arrays["features"], arrays["part"]
        assert features.shape == (summary["samples"], 32)
        assert set(part) == {"test"} and str(arrays["split"]) == "xview"
        assert len(arrays["labels"]) == len(arrays["names"]) == len(arrays["views"])
        assert len(arrays["class_names"]) == 6
    from skelssl.evaluation.features import extract_features
    from skelssl.runs import load_run

    run = load_run(run_dir, quiet=True)
    _, test = run.data.split("xview")
    np.testing.assert_allclose(features, extract_features(run.encoder, test), atol=1e-5)


def test_embed_another_dataset_maps_its_joints(run_dir, tmp_path, capsys):
    other = tmp_path / "kinect.npz"
    rng = np.random.default_rng(0)
    np.savez(other, joints=rng.normal(size=(6, 10, 1, 20, 3)).astype(np.float32),
             lengths=np.full(6, 10), labels=np.arange(6) % 2)  # fmt: skip
    out = tmp_path / "other.npz"
    assert main(["embed", str(run_dir), "--data", str(other), "--out", str(out), "--quiet"]) == 0
    with np.load(out) as arrays:
        assert arrays["features"].shape == (6, 32)
        assert list(arrays["labels"]) == [0, 1, 0, 1, 0, 1]


def test_predict_names_classes_with_probabilities(run_dir, tmp_path, capsys):
    fit_head(run_dir)
    from skelssl.data.readers.arrays import write_npz
    from skelssl.runs import load_run

    run = load_run(run_dir, quiet=True)
    train, _ = run.data.split("xview")
    write_npz(train.subset(np.arange(8)), tmp_path / "clips.npz", prepared=True)
    assert (
        main(["predict", str(run_dir), str(tmp_path / "clips.npz"), "--top-k", "3", "--json"]) == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 8
    for result in results:
        probabilities = [entry["probability"] for entry in result["top"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert result["top"][0]["label"] in run.data.class_names
    # the linear probe fits its own training clips
    truth = [run.data.class_names[label] for label in train.labels[:8]]
    hits = sum(result["top"][0]["label"] == name for result, name in zip(results, truth))
    assert hits >= 6, (hits, truth)


def test_save_head_is_weights_only_with_classes_and_preprocessing(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--save-head", "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    head_file = run_dir / "heads" / "linear.pt"
    assert result["head_file"] == str(head_file)
    head = torch.load(head_file, weights_only=True)
    assert head["format"] == "skelssl-head/1" and head["protocol"] == "linear"
    assert len(head["class_names"]) == 6 and head["weight"].shape == (6, 32)
    assert head["preprocess"]["frames"] == 16 and head["layout"] == "ntu-25"
    assert head["top1"] == pytest.approx(result["top1"])
    # the saved head reproduces the probe's test accuracy through predict's path
    from skelssl.evaluation.features import predict
    from skelssl.inference import load_classifier
    from skelssl.runs import load_run

    run = load_run(run_dir, quiet=True)
    _, test = run.data.split("xview")
    logits = predict(load_classifier(run, head_file), test)
    assert (logits.argmax(1) == test.labels).mean() * 100 == pytest.approx(result["top1"])
    args = ["evaluate", str(run_dir), "--protocol", "finetune", "--save-head", "--quiet",
            "finetune_epochs=1"]  # fmt: skip
    assert main(args) == 0
    finetuned = torch.load(run_dir / "heads" / "finetune.pt", weights_only=True)
    assert finetuned["encoder"] is not None and finetuned["protocol"] == "finetune"
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--protocol", "knn", "--save-head"]) == 2
    assert "--save-head keeps a linear or finetune classifier" in capsys.readouterr().err


def test_predict_a_raw_recording_and_its_timeline(run_dir, tmp_path, capsys):
    fit_head(run_dir)
    frames = 70
    rng = np.random.default_rng(1)
    lines = [" ".join(f"{v:.4f}" for v in rng.normal(size=150)) for _ in range(frames)]
    video = tmp_path / "0001-M.txt"  # PKU-MMD format: 2 bodies x 25 joints x xyz per line
    video.write_text("\n".join(lines) + "\n")
    assert main(["predict", str(run_dir), str(video), "--json"]) == 0
    (single,) = json.loads(capsys.readouterr().out)
    assert single["frames"] == frames and len(single["top"]) == 5
    args = ["predict", str(run_dir), str(video), "--window", "30", "--stride", "15", "--json"]
    assert main(args) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [(row["start"], row["end"]) for row in result["timeline"]] == [
        (0, 30), (15, 45), (30, 60), (40, 70)]  # fmt: skip
    assert result["segments"] == merge_segments(result["timeline"])
    assert result["segments"][0]["start"] == 0 and result["segments"][-1]["end"] == frames


def test_predict_without_a_head_says_how_to_get_one(run_dir, tmp_path, capsys):
    clip = tmp_path / "a.npz"
    clip.write_bytes(b"")
    assert main(["predict", str(run_dir), str(clip)]) == 2
    err = capsys.readouterr().err
    assert "--save-head" in err and len(err.strip().splitlines()) == 1


def test_window_starts_merge_and_temporal_iou():
    assert window_starts(10, 20, 5) == [0]
    assert window_starts(100, 40, 30) == [0, 30, 60]
    assert window_starts(101, 40, 30) == [0, 30, 60, 61]
    timeline = [
        {"start": 0, "end": 10, "label": "a", "score": 0.5},
        {"start": 5, "end": 15, "label": "a", "score": 0.7},
        {"start": 10, "end": 20, "label": "b", "score": 0.9},
    ]
    segments = merge_segments(timeline)
    assert [(s["start"], s["end"], s["label"], s["windows"]) for s in segments] == [
        (0, 15, "a", 2), (10, 20, "b", 1)]  # fmt: skip
    assert segments[0]["score"] == pytest.approx(0.6)
    assert temporal_iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert temporal_iou((0, 10), (10, 20)) == 0.0
    truth = [{"start": 0, "end": 14, "label": "a"}, {"start": 30, "end": 40, "label": "b"}]
    assert segment_hits(truth, segments) == [True, False]


def test_export_torchscript_matches_the_module(run_dir, tmp_path, capsys):
    head = fit_head(run_dir)
    out = tmp_path / "model.pt"
    args = ["export", str(run_dir), "--out", str(out), "--head", str(head), "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == [1, 6] and result["max_abs_diff"] < 1e-5
    from skelssl.inference import load_classifier
    from skelssl.runs import load_run

    run = load_run(run_dir, quiet=True)
    module = load_classifier(run, head)
    loaded = torch.jit.load(str(out))
    joints = torch.from_numpy(np.array(run.data.joints[5:6], dtype=np.float32))
    for length in (16, 9):  # lengths is an input of the export, not a traced constant
        lengths = torch.tensor([length])
        with torch.no_grad():
            torch.testing.assert_close(loaded(joints, lengths), module(joints, lengths))


def test_export_onnx_matches_the_module(run_dir, tmp_path, capsys):
    pytest.importorskip("onnx", reason="onnx is an optional extra (pip install onnx)")
    pytest.importorskip("onnxruntime", reason="the check needs onnxruntime")
    out = tmp_path / "model.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["max_abs_diff"] < 1e-4


def test_export_onnx_without_the_package_is_one_line(run_dir, tmp_path, capsys, monkeypatch):
    from skelssl import export

    monkeypatch.setattr(export, "onnx_available", lambda: False)
    assert (
        main(["export", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    )
    assert "pip install onnx" in capsys.readouterr().err


def test_report_has_curves_table_confusion_and_tsne(run_dir, tmp_path, capsys):
    assert main(["evaluate", str(run_dir), "--protocol", "knn", "--quiet"]) == 0
    out = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(out), "--quiet"]) == 0
    html = (out / "index.html").read_text()
    for png in (
        "run-loss-per-epoch.png",
        "run-lr-per-step.png",
        "run-confusion.png",
        "run-tsne.png",
    ):
        assert (out / png).stat().st_size > 1000 and png in html
    assert "<table>" in html and "knn" in html
    assert "knn" in (out / "report.md").read_text()


def test_config_prints_every_default_and_version(capsys):
    assert main(["config", "simclr", "epochs=7"]) == 0
    import yaml

    tree = yaml.safe_load(capsys.readouterr().out)
    assert tree["train"]["epochs"] == 7 and "temperature" in tree["params"]
    assert "knn_k" in tree["evaluation"] and "frames" in tree["data"]["preprocess"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("skelssl ")


def test_line_stream_turns_redraws_into_lines():
    sink = io.StringIO()
    stream = LineStream(sink)
    stream.write("\rtrain:  10%|#   | 1/10")
    stream.write("\rtrain: 100%|####| 10/10")
    stream.write("\n")  # tqdm's close: already ended
    stream.write("done")
    stream.write("\n")
    assert sink.getvalue() == "train:  10%|#   | 1/10\ntrain: 100%|####| 10/10\ndone\n"


def test_training_logs_tensorboard_scalars_when_installed(tmp_path, monkeypatch):
    from skelssl import checkpoint

    written = []

    class Recorder:  # stands in for torch.utils.tensorboard.SummaryWriter
        def add_scalar(self, tag, value, step):
            written.append((tag, value, step))

        def close(self):
            written.append("closed")

    monkeypatch.setattr(checkpoint, "tensorboard_writer", lambda run_dir: Recorder())
    args = ["pretrain", "simclr", "--out", str(tmp_path / "r"), "--data", "synthetic", "--quiet",
            *TINY]  # fmt: skip
    assert main(args) == 0
    tags = {entry[0] for entry in written if entry != "closed"}
    assert {"step/loss", "step/lr", "epoch/loss", "epoch/seconds"} <= tags
    assert written[-1] == "closed"


def test_tensorboard_is_optional():
    from skelssl.checkpoint import tensorboard_writer

    try:
        import tensorboard  # noqa: F401
    except ImportError:
        assert tensorboard_writer(Path("unused")) is None
    else:
        pytest.skip("tensorboard is installed: the writer is real")


def test_embed_and_export_an_stgcn_run(tmp_path, capsys):
    """An ST-GCN reading bones (BYOL's default encoder) embeds and traces; every method
    with a GRU: tests/test_method_contract.py."""
    out = tmp_path / "byol"
    data = [o for o in TINY if o.startswith("data.")]
    args = ["pretrain", "byol", "--out", str(out), "--data", "synthetic", "--quiet", *data,
            "encoder.width=0.25", "batch_size=16", "epochs=0"]  # fmt: skip
    assert main(args) == 0
    assert main(["embed", str(out), "--out", str(tmp_path / "f.npz"), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["samples"] == 96 and summary["feature_dim"] > 0
    exported = ["export", str(out), "--out", str(tmp_path / "m.pt"), "--json", "--quiet"]
    assert main(exported) == 0
    assert json.loads(capsys.readouterr().out)["max_abs_diff"] < 1e-5
