"""Recipe sets: a set file's members resolved from a base and their overrides, one
``pretrain --config SET`` training each member into ``OUT/<member>/`` with
``OUT/recipe.yaml``, ``evaluate OUT --ensemble`` fusing them with the set's weights,
resume of a set, bad set files as one-line errors, and the shipped recommended set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from skelssl.cli import main
from skelssl.config import load_config, to_dict
from skelssl.errors import SkelsslError
from skelssl.recipes import RECIPE_FILE, is_recipe_set, load_recipe_set
from tiny import TINY_SYNTHETIC

pytestmark = pytest.mark.usefixtures("private_cache")

REPO = Path(__file__).resolve().parents[1]
TINY = [
    *[o for o in TINY_SYNTHETIC if not o.startswith("encoder.hidden_size")],
    "encoder.hidden_size=8",
    "data.preprocess.view_normalize=false",
]
FAST_PROBE = ["linear_epochs=20"]


def write_set(folder: Path, runs: dict, ensemble: dict | None = None, **extra) -> Path:
    """A set file whose base (a file beside it) is a 1-epoch SimCLR."""
    (folder / "tiny-base.yaml").write_text(
        yaml.safe_dump({"method": "simclr", "train": {"epochs": 1, "batch_size": 16}})
    )
    tree = {"base": "tiny-base.yaml", "runs": runs, **extra}
    if ensemble is not None:
        tree["ensemble"] = ensemble
    path = folder / "set.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def pretrain_set(set_path: Path, out: Path, *more: str) -> int:
    return main(["pretrain", "--config", str(set_path), "--out", str(out), "--data", "synthetic",
                 "--quiet", *TINY, *more])  # fmt: skip


def snapshot(out: Path, members=("joint", "bone")) -> dict:
    return {name: (out / name / "last.pt").read_bytes() for name in members}


def test_set_pretrains_each_member_and_evaluates_as_one_ensemble(tmp_path, capsys):
    # joint's override dotted, bone's nested: both forms are one config tree
    set_path = write_set(tmp_path, {"joint": {"data.stream": "joint"},
                                    "bone": {"data": {"stream": "bone"}}},
                         {"weights": [3, 1], "protocol": "linear"})  # fmt: skip
    out = tmp_path / "rec"
    assert pretrain_set(set_path, out) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["members"]) == ["joint", "bone"]
    assert is_recipe_set(out) and not is_recipe_set(out / "joint")
    for stream in ("joint", "bone"):
        saved = yaml.safe_load((out / stream / "config.yaml").read_text())
        assert saved["data"]["stream"] == stream and saved["encoder"]["hidden_size"] == 8
        assert saved["train"]["epochs"] == 1 and (out / stream / "last.pt").is_file()
    resolved = load_recipe_set(out)  # recipe.yaml: the set resolved, read back as a set
    assert resolved.path == out / RECIPE_FILE and resolved.weights == [3.0, 1.0]
    assert [c.data.name for c in resolved.members.values()] == ["synthetic", "synthetic"]

    assert main(["evaluate", str(out), "--ensemble", "--json", *FAST_PROBE]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["weights"] == [0.75, 0.25] and result["protocol"] == "linear"
    assert result["members"] == ["joint", "bone"]
    assert [r["stream"] for r in result["runs"]] == ["joint", "bone"]
    assert all(0 <= r["top1"] <= 100 for r in [result, *result["runs"]])
    # the set folder stands for its runs with the set's weights: the same as naming them
    members = [str(out / "joint"), str(out / "bone")]
    assert main(["evaluate", *members, "--ensemble", "--weights", "3,1", "--json",
                 *FAST_PROBE]) == 0  # fmt: skip
    named = json.loads(capsys.readouterr().out)
    assert named["top1"] == pytest.approx(result["top1"])
    assert [r["top1"] for r in named["runs"]] == pytest.approx([r["top1"] for r in result["runs"]])
    # --weights and --protocol given on the command line win over the set's
    assert main(["evaluate", str(out), "--ensemble", "--json", "--protocol", "knn",
                 "--weights", "1,1"]) == 0  # fmt: skip
    knn = json.loads(capsys.readouterr().out)
    assert knn["protocol"] == "knn" and knn["weights"] == [0.5, 0.5]

    assert main(["evaluate", str(out)]) == 2  # a set needs --ensemble
    assert "add --ensemble" in capsys.readouterr().err
    assert main(["evaluate", str(out), members[0], "--ensemble"]) == 2
    assert "given alone" in capsys.readouterr().err

    # export OUT: the members' saved heads fused with the set's weights
    for member in members:
        assert main(["evaluate", member, "--save-head", "--quiet", *FAST_PROBE]) == 0
    capsys.readouterr()
    assert main(["export", str(out), "--out", str(tmp_path / "fused.pt"), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["weights"] == [0.75, 0.25] and len(exported["runs"]) == 2
    # predict OUT FILE: the same probabilities as naming the members with the set's weights
    from skelssl.data.readers.arrays import write_npz
    from skelssl.runs import load_run

    loaded = load_run(members[0], quiet=True)
    clips = tmp_path / "clips.npz"
    write_npz(loaded.data.split("xview")[1].subset(np.arange(3)), clips, prepared=True)
    assert main(["predict", str(out), str(clips), "--json"]) == 0
    from_set = json.loads(capsys.readouterr().out)
    assert main(["predict", *members, str(clips), "--json", "--weights", "3,1"]) == 0
    assert from_set == json.loads(capsys.readouterr().out) and len(from_set) == 3


def test_resume_of_a_set_trains_only_unfinished_members(tmp_path, capsys):
    set_path = write_set(tmp_path, {"joint": {"data.stream": "joint"},
                                    "bone": {"data.stream": "bone"}})  # fmt: skip
    out = tmp_path / "rec"
    assert pretrain_set(set_path, out) == 0
    first = json.loads(capsys.readouterr().out)["members"]
    before = snapshot(out)

    # finished: a no-op (nothing trained, the saved summaries returned)
    assert main(["pretrain", "--out", str(out), "--resume", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["members"] == first
    assert snapshot(out) == before
    # the same command line with --resume is accepted too; another set is refused
    assert pretrain_set(set_path, out, "--resume") == 0
    assert snapshot(out) == before
    capsys.readouterr()
    assert pretrain_set(set_path, out, "--resume", "encoder.hidden_size=9") == 2
    assert "another set than the saved one" in capsys.readouterr().err
    assert pretrain_set(set_path, out) == 2  # without --resume: the folder is taken
    assert "already holds" in capsys.readouterr().err

    # a member never trained (its folder gone): --resume trains it, leaves the other
    shutil.rmtree(out / "bone")
    assert main(["pretrain", "--out", str(out), "--resume", "--quiet"]) == 0
    assert (out / "bone" / "last.pt").is_file()
    assert snapshot(out)["joint"] == before["joint"]
    assert yaml.safe_load((out / "bone" / "config.yaml").read_text())["data"]["stream"] == "bone"


BAD_SETS = [
    ({"runs": {"joint": {"data.strem": "joint"}, "bone": {}}}, "member joint: unknown key"),
    (
        {"runs": {"joint": {}, "bone": {}}, "ensemble": {"weights": [1, 2, 3]}},
        "3 numbers for 2 runs",
    ),  # fmt: skip
    ({"runs": {"joint": {}, "bone": {}}, "ensemble": {"weights": [1, -1]}}, "must be >= 0"),
    ({"runs": {"joint": {}, "bone": {}}, "ensemble": {"protocol": "finetune"}}, "linear or knn"),
    ({"runs": {"joint": {}, "bone": {}}, "ensembles": {}}, "unknown key ensembles"),
    ({"runs": {"joint": {}}}, "two or more"),
    ({"runs": {"../up": {}, "bone": {}}}, "plain folder name"),
    ({"runs": {"joint": "bone", "bone": {}}}, "member joint: overrides must be a mapping"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_SETS)
def test_a_bad_set_file_is_a_one_line_error(tmp_path, capsys, bad, message):
    set_path = write_set(tmp_path, **bad)
    out = tmp_path / "rec"
    assert pretrain_set(set_path, out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("skelssl: error: ") and message in err
    assert str(set_path) in err and "Traceback" not in err
    assert not out.exists()  # refused before anything is written


def test_the_positional_method_must_match_the_set(tmp_path, capsys):
    set_path = write_set(tmp_path, {"joint": {}, "bone": {"data.stream": "bone"}})
    assert main(["pretrain", "byol", "--config", str(set_path), "--out",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    assert "member joint is a simclr run, not byol" in capsys.readouterr().err
    plain = tmp_path / "plain.yaml"
    plain.write_text("train: {epochs: 1}\n")
    assert main(["pretrain", "--config", str(plain), "--out", str(tmp_path / "p")]) == 2
    assert "needs a method" in capsys.readouterr().err


def test_the_recommended_set_is_simclr_on_three_streams():
    path = REPO / "configs" / "nwucla" / "recommended.yaml"
    assert is_recipe_set(path)
    recipe = load_recipe_set(path)
    assert list(recipe.members) == ["joint", "bone", "motion"]
    assert recipe.weights == [0.6, 0.6, 0.4] and recipe.protocol == "linear"
    trees = {name: to_dict(config) for name, config in recipe.members.items()}
    for name, tree in trees.items():
        assert tree["data"].pop("stream") == name
    assert trees["joint"] == trees["bone"] == trees["motion"]  # only the stream differs
    simclr = to_dict(load_config(path=REPO / "configs" / "nwucla" / "simclr.yaml"))
    simclr["data"].pop("stream")
    assert trees["joint"] == simclr  # the base is the shipped SimCLR recipe
    # command-line overrides reach every member
    again = load_recipe_set(path, ["epochs=3", "data.split=xsub"])
    assert {(c.train.epochs, c.data.split) for c in again.members.values()} == {(3, "xsub")}
    with pytest.raises(SkelsslError, match="not byol"):
        load_recipe_set(path, method="byol")


def test_random_of_a_set_is_each_members_untrained_encoder_with_the_sets_weights():
    """``pretrain random --config SET``: the baseline of every member (its encoder, input and
    stream; the method's params dropped), fused with the same weights as the trained set."""
    path = REPO / "configs" / "nwucla" / "recommended.yaml"
    trained, untrained = load_recipe_set(path), load_recipe_set(path, method="random")
    assert untrained.weights == trained.weights == [0.6, 0.6, 0.4]
    for name, config in untrained.members.items():
        mine = trained.members[name]
        assert config.method == "random" and config.data == mine.data
        assert config.encoder == mine.encoder and config.data.stream == name
        assert config.params != mine.params  # random's own params, not SimCLR's


def test_config_prints_every_member_of_a_set(capsys):
    path = REPO / "configs" / "nwucla" / "recommended.yaml"
    assert main(["config", "--config", str(path), "epochs=3"]) == 0
    tree = yaml.safe_load(capsys.readouterr().out)
    assert list(tree["runs"]) == ["joint", "bone", "motion"]
    assert {run["train"]["epochs"] for run in tree["runs"].values()} == {3}
    assert tree["ensemble"]["weights"] == [0.6, 0.6, 0.4]
    assert main(["config", "epochs=3"]) == 2  # neither a method nor a config naming one
    assert "needs a method" in capsys.readouterr().err
