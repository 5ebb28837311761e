"""Every shipped NW-UCLA recipe, unchanged but for its length, runs on other data: the
synthetic generator (one camera per take is not assumed; 48 clips, fewer than most
recipes' batch) stands for a user's dataset. A smoke check only: whether a recipe *learns*
on other data is measured in ``benchmarks/carryover`` (the synthetic set is too easy to tell)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skelssl.cli import main
from skelssl.recipes import is_recipe_set

pytestmark = pytest.mark.usefixtures("private_cache")

SHIPPED = Path(__file__).resolve().parents[1] / "configs/nwucla"
CONFIGS = sorted(SHIPPED.glob("*.yaml"))
TEACHER = {"crrl": "crrl-cml"}  # CRRL step 2 reads a finished step-1 run
# a small synthetic dataset and two optimiser steps; the recipe's method, encoder, input
# and optimiser stay as shipped
SMOKE = [
    "data.synthetic.classes=4",
    "data.synthetic.subjects=3",
    "data.synthetic.takes=2",
    "data.synthetic.cameras=2",
    "train.epochs=1",
    "train.min_steps=2",
    "evaluation.linear_epochs=5",
]


def pretrain(config: Path, out: Path, *extra: str) -> int:
    return main(["pretrain", "--config", str(config), "--data", "synthetic", "--out", str(out),
                 "--quiet", *SMOKE, *extra])  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_shipped_recipe_trains_and_evaluates_on_other_data(tmp_path, capsys, config):
    out, extra = tmp_path / "run", []
    if config.stem in TEACHER:
        assert pretrain(SHIPPED / f"{TEACHER[config.stem]}.yaml", tmp_path / "teacher") == 0
        extra = [f"params.teacher={tmp_path / 'teacher'}"]
    assert pretrain(config, out, *extra) == 0
    capsys.readouterr()
    if is_recipe_set(config):
        runs = sorted(p for p in out.iterdir() if (p / "summary.json").is_file())
        assert len(runs) >= 2
        assert main(["evaluate", str(out), "--ensemble", "--protocol", "knn", "--json"]) == 0
    else:
        runs = [out]
        assert main(["evaluate", str(out), "--protocol", "linear", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["top1"] <= 100.0
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        assert summary["steps"] >= (0 if summary["method"] == "random" else 2)
        assert 0 < summary["n_train"] < 48
