"""The contract every entry of ``METHODS`` keeps, end to end on the tiny synthetic set with a
tiny GRU encoder: pre-train into a run directory, stop after one epoch and resume to the second,
evaluate (kNN), embed, export (TorchScript).

Each method runs as its config defaults build it: CRRL is its first step (``variant: cml``;
step 2 needs a teacher run), and ``random`` is pre-trained with ``epochs=0`` (nothing to
optimise), so for it the resume has nothing left to do and the weights stay the initial ones.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from skelssl.config import load_config
from skelssl.evaluation.run import evaluate_run
from skelssl.export import export_run
from skelssl.inference import embed
from skelssl.methods import METHODS, Method
from skelssl.runs import load_run, pretrain
from tiny import TINY_SYNTHETIC

# 2 epochs of 3 steps (48 training clips, batch 16); the time budget stops the first call
# after epoch 1 (it is over budget at once), the resume trains epoch 2
TRAIN = [
    "batch_size=16",
    "train.log_every=1",
    "train.epochs=2",
    "train.time_budget=1e-9",
    "train.keep_epochs=[1]",
]
NOTHING_TO_TRAIN = {"random"}
DATA = [o for o in TINY_SYNTHETIC if not o.startswith("encoder.")]
TINY_GRU = [o for o in TINY_SYNTHETIC if o.startswith("encoder.")]
# BYOL's default encoder is a bone-reading ST-GCN; a GRU reads joints only (the ST-GCN
# run's embed and export: tests/test_product.py)
ENCODER = {"byol": [*TINY_GRU, "encoder.use_bones=false"]}


def weights(run_dir, checkpoint: str = "last.pt") -> dict[str, torch.Tensor]:
    return load_run(run_dir, checkpoint=checkpoint, quiet=True).method.state_dict()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_contract(name, tmp_path):
    cls = METHODS[name]
    assert issubclass(cls, Method) and cls.loss is not Method.loss
    run_dir = tmp_path / name
    config = load_config(name, None, [*DATA, *ENCODER.get(name, TINY_GRU), *TRAIN])
    trains = name not in NOTHING_TO_TRAIN

    first = pretrain(config, run_dir, quiet=True)
    assert first["epochs"] == (1 if trains else 0)
    assert (first["steps"] == 3) == trains
    stopped = weights(run_dir)

    resumed = pretrain(None, run_dir, resume=True, quiet=True)
    run = load_run(run_dir, quiet=True)
    assert run.finished and resumed["epochs"] == run.epochs_done == (2 if trains else 0)
    assert resumed["steps"] == (6 if trains else 0)
    if trains:  # epoch 1 kept as it was, and training went on from it
        assert all(torch.equal(v, stopped[k]) for k, v in weights(run_dir, "epoch-0001.pt").items())
        assert any(not torch.equal(v, stopped[k]) for k, v in run.method.state_dict().items())
        steps = [json.loads(line).get("step") for line in open(run_dir / "metrics.jsonl")]
        untrained = [0] if cls.monitors_collapse else []  # the collapse check's reference
        assert [s for s in steps if s is not None] == [*untrained, 1, 2, 3, 4, 5, 6]
    else:
        assert all(torch.equal(v, stopped[k]) for k, v in run.method.state_dict().items())

    result = evaluate_run(run_dir, protocol="knn", quiet=True)
    assert result["method"] == name and 0.0 <= result["top1"] <= 100.0
    assert result["n_train"] + result["n_test"] == len(run.data)

    arrays = embed(run_dir, quiet=True)
    assert arrays["features"].shape == (len(run.data), run.encoder.out_dim)
    assert np.isfinite(arrays["features"]).all()

    exported = export_run(run_dir, tmp_path / "encoder.pt", quiet=True)
    assert exported["output"] == [1, run.encoder.out_dim] and exported["max_abs_diff"] < 1e-5
