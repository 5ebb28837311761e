"""Score-level ensembles: fusion against a hand-fused example, normalised kNN votes, the
weight grid and its choice, weights that never read the test split, and the CLI's
``evaluate RUN RUN --ensemble`` on two tiny synthetic runs (joint and bone streams)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from skelssl.cli import main
from skelssl.errors import SkelsslError
from skelssl.evaluation import ensemble
from skelssl.evaluation.ensemble import (
    choose_weights,
    fuse_scores,
    stratified_holdout,
    weight_grid,
)
from skelssl.evaluation.generic import knn_class_scores
from tiny import TINY_SYNTHETIC

pytestmark = pytest.mark.usefixtures("private_cache")


def test_fused_scores_match_a_hand_fused_example():
    a = np.array([[0.6, 0.4], [0.2, 0.8]])
    b = np.array([[0.0, 1.0], [1.0, 0.0]])
    # weights 0.6, 0.2 -> 0.75, 0.25 after normalising
    expected = np.array([[0.45, 0.55], [0.4, 0.6]])
    assert np.allclose(fuse_scores([a, b], [0.6, 0.2]), expected)
    assert np.allclose(fuse_scores([a, b]), (a + b) / 2)  # equal by default
    with pytest.raises(SkelsslError, match="3 weights for 2 runs"):
        fuse_scores([a, b], [1, 1, 1])
    with pytest.raises(SkelsslError, match="positive sum"):
        fuse_scores([a, b], [0, 0])
    with pytest.raises(SkelsslError, match=r"\(N, K\)"):
        fuse_scores([a, b[:1]])


def test_knn_scores_are_similarity_weighted_votes_summing_to_one():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.05], [0.1, 1.0]])
    scores = knn_class_scores(bank, labels, query, 3, k=2, weighted=True, normalise=True)
    assert torch.allclose(scores.sum(1), torch.ones(2))
    assert not scores[:, 2].any()  # no neighbour of class 2
    unit = torch.nn.functional.normalize
    similarity = unit(query[:1], dim=1) @ unit(bank[:2], dim=1).T  # the 2 nearest of query 0
    weights = torch.exp(similarity[0] / 0.07)
    assert torch.allclose(scores[0, :2], weights / weights.sum(), atol=1e-6)


def test_weight_grid_and_choice():
    grid = weight_grid(2)
    assert grid[0] == (0.5, 0.5) and (1.0, 0.0) in grid and (0.0, 1.0) in grid
    assert len(grid) == len(set(grid)) and all(abs(sum(w) - 1) < 1e-6 for w in grid)
    right = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    wrong = 1 - right
    labels = np.array([0, 1, 0])
    weights, top1 = choose_weights([wrong, right], labels, grid)
    assert top1 == 100.0 and weights[1] > weights[0]


def test_stratified_holdout_keeps_every_class():
    labels = np.repeat(np.arange(4), 10)
    fit, validation = stratified_holdout(labels, 0.2, seed=3)
    assert len(np.intersect1d(fit, validation)) == 0 and len(fit) + len(validation) == 40
    assert np.bincount(labels[validation]).tolist() == [2, 2, 2, 2]


def tiny_runs(tmp_path) -> list[str]:
    runs = []
    for stream in ("joint", "bone"):
        run = str(tmp_path / stream)
        tiny = [*TINY_SYNTHETIC, "data.preprocess.view_normalize=false"]
        assert main(["pretrain", "simclr", "--out", run, "--data", "synthetic", "--quiet", *tiny,
                     f"data.stream={stream}", "epochs=1", "batch_size=16"]) == 0  # fmt: skip
        runs.append(run)
    return runs


def test_cli_ensemble_of_two_stream_runs(tmp_path, capsys, monkeypatch):
    runs = tiny_runs(tmp_path)
    capsys.readouterr()
    fast = ["linear_epochs=20"]
    assert main(["evaluate", *runs, "--protocol", "linear", "--ensemble", "--json", *fast]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ensemble"] and result["weights"] == [0.5, 0.5]
    assert [r["stream"] for r in result["runs"]] == ["joint", "bone"]
    for run in result["runs"]:  # each run's own probe agrees with `evaluate RUN`
        assert main(["evaluate", run["run"], "--protocol", "linear", "--json", *fast]) == 0
        alone = json.loads(capsys.readouterr().out)
        assert run["top1"] == pytest.approx(alone["top1"])
    assert 0 <= result["top1"] <= 100 and result["n_test"] == alone["n_test"]

    assert main(["evaluate", *runs, "--protocol", "knn", "--ensemble", "--json",
                 "--weights", "0.6,0.2"]) == 0  # fmt: skip
    knn = json.loads(capsys.readouterr().out)
    assert knn["weights"] == [0.75, 0.25] and knn["weights_from"] == "given"

    # --weights validate: chosen on the training split only; the test labels are never read
    # before the weights are fixed, so scrambling them changes nothing about the choice
    chosen = []
    real_choose = ensemble.choose_weights

    def recording(*args, **kwargs):
        chosen.append(real_choose(*args, **kwargs))
        return chosen[-1]

    monkeypatch.setattr(ensemble, "choose_weights", recording)
    assert main(["evaluate", *runs, "--ensemble", "--weights", "validate", "--json", *fast]) == 0
    validated = json.loads(capsys.readouterr().out)
    assert validated["weights_from"] == "validation" and tuple(validated["weights"]) in [
        tuple(round(w, 6) for w in c[0]) for c in chosen
    ]
    from skelssl.data.types import SkeletonData

    real_split = SkeletonData.split

    def scrambled_test_labels(self, name):
        train, test = real_split(self, name)
        test.labels = np.random.default_rng(0).permutation(np.asarray(test.labels))
        return train, test

    monkeypatch.setattr(SkeletonData, "split", scrambled_test_labels)
    assert main(["evaluate", *runs, "--ensemble", "--weights", "validate", "--json", *fast]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (
        again["weights"] == validated["weights"] and again["validation"] == validated["validation"]
    )


def test_cli_ensemble_refuses_runs_of_different_splits(tmp_path, capsys):
    runs = tiny_runs(tmp_path)
    other = str(tmp_path / "xsub")
    tiny = [o for o in TINY_SYNTHETIC if not o.startswith("data.split")]
    assert main(["pretrain", "random", "--out", other, "--data", "synthetic", "--quiet", *tiny,
                 "data.split=xsub"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["evaluate", runs[0], other, "--ensemble"]) == 2
    assert "must share the dataset and split" in capsys.readouterr().err
    assert main(["evaluate", *runs]) == 2
    assert "add --ensemble" in capsys.readouterr().err
    assert main(["evaluate", *runs, "--ensemble", "--protocol", "finetune"]) == 2
    assert main(["evaluate", *runs, "--ensemble", "--weights", "a,b"]) == 2


def test_predict_and_export_fuse_the_runs_saved_heads(tmp_path, capsys):
    from skelssl.data.readers.arrays import write_npz
    from skelssl.runs import load_run

    runs = tiny_runs(tmp_path)
    for run in runs:
        assert main(["evaluate", run, "--save-head", "--quiet", "linear_epochs=20"]) == 0
    loaded = load_run(runs[0], quiet=True)
    clips = tmp_path / "clips.npz"
    write_npz(loaded.data.split("xview")[1].subset(np.arange(4)), clips, prepared=True)
    capsys.readouterr()
    alone = []
    for run in runs:
        assert main(["predict", run, str(clips), "--top-k", "6", "--json"]) == 0
        alone.append(json.loads(capsys.readouterr().out))
    assert main(["predict", *runs, str(clips), "--top-k", "6", "--json",
                 "--weights", "3,1"]) == 0  # fmt: skip
    fused = json.loads(capsys.readouterr().out)
    assert len(fused) == 4
    for index, row in enumerate(fused):
        by_class = [{t["class"]: t["probability"] for t in a[index]["top"]} for a in alone]
        for top in row["top"]:  # 0.75 p_joint + 0.25 p_bone
            expected = 0.75 * by_class[0][top["class"]] + 0.25 * by_class[1][top["class"]]
            assert top["probability"] == pytest.approx(expected, abs=1e-5)

    out = tmp_path / "fused.pt"
    assert main(["export", *runs, "--out", str(out), "--weights", "3,1", "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["weights"] == [0.75, 0.25] and exported["max_abs_diff"] < 1e-5
    module = torch.jit.load(str(out))
    x = torch.from_numpy(np.array(loaded.data.joints[:1], dtype=np.float32))
    lengths = torch.from_numpy(np.asarray(loaded.data.lengths[:1], dtype=np.int64))
    with torch.no_grad():
        probabilities = module(x, lengths)
    assert probabilities.shape == (1, loaded.data.num_classes)
    assert float(probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
    assert main(["export", *runs, "--out", str(out), "--format", "onnx"]) == 2
