"""What a new user hit, each a regression test: bad input ends in exit 2 with one line on
stderr naming the file — no traceback, nothing already written lost — and the CLI says
what it is doing (progress, unfinished runs, how to resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from skelssl.cli import main, resume_hint
from tiny import TINY_SYNTHETIC

pytestmark = pytest.mark.usefixtures("private_cache")

TINY = [*TINY_SYNTHETIC, "data.preprocess.view_normalize=false", "batch_size=16"]


@pytest.fixture(autouse=True)
def _ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt, as in a terminal, even when pytest was started as a
    background job (a non-interactive shell starts those with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _one_line_naming(err: str, path) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0] and "Traceback" not in err
    return lines[0]


def _fails(args, capsys, path) -> str:
    capsys.readouterr()
    assert main([str(a) for a in args]) == 2
    return _one_line_naming(capsys.readouterr().err, path)


def _pretrain(out: Path, *extra: str, method: str = "simclr") -> None:
    args = ["pretrain", method, "--out", str(out), "--data", "synthetic", "--quiet"]
    assert main([*args, *TINY, "epochs=1", *extra]) == 0


@pytest.fixture
def run_dir(tmp_path, capsys) -> Path:
    out = tmp_path / "run"
    _pretrain(out)
    capsys.readouterr()
    return out


# ------------------------------------------------------------------- data files
def test_huge_label_without_class_names_is_one_line(tmp_path, capsys):
    bad = tmp_path / "huge.npz"
    labels = np.array([0, 1, 10**9])
    np.savez(
        bad, joints=np.ones((3, 4, 1, 25, 3), np.float32), lengths=np.full(3, 4), labels=labels
    )
    line = _fails(["info", bad], capsys, bad)
    assert "10" in line and "classes" in line


def test_label_outside_the_class_names_is_one_line(tmp_path, capsys):
    bad = tmp_path / "names.npz"
    np.savez(bad, joints=np.ones((2, 4, 1, 25, 3), np.float32), lengths=np.full(2, 4),
             labels=np.array([0, 10**9]), class_names=np.array(["a", "b"]))  # fmt: skip
    assert "out of range" in _fails(["info", bad], capsys, bad)


def test_info_on_a_missing_file_does_not_import_torch(tmp_path):
    code = (
        "import sys; from skelssl.cli import main; rc = main(['info', sys.argv[1]]); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "none.npz")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2, result.stderr
    _one_line_naming(result.stderr, tmp_path / "none.npz")


def test_help_and_version_do_not_import_torch():
    code = (
        "import sys; from skelssl.cli import build_parser; "
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules; "
        "build_parser().parse_args(['--version'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("skelssl ")


# ------------------------------------------------------------------- --out
@pytest.mark.parametrize("case", ["proc", "below a file", "an existing file"])
def test_unwritable_out_is_one_line_and_keeps_the_file(tmp_path, capsys, case):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    out = {"proc": Path("/proc/x"), "below a file": existing / "run",
           "an existing file": existing}[case]  # fmt: skip
    _fails(["pretrain", "random", "--out", out, "--data", "synthetic", *TINY], capsys, out)
    assert existing.read_text() == "keep me"


def test_unwritable_out_of_embed_export_report(tmp_path, capsys, run_dir):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    out = existing / "x"
    _fails(["embed", run_dir, "--out", out], capsys, out)
    _fails(["export", run_dir, "--out", out], capsys, out)
    _fails(["report", run_dir, "--out", existing], capsys, existing)
    assert existing.read_text() == "keep me"


# ------------------------------------------------------------------- checkpoints
def _corrupt(path: Path, kind: str) -> None:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "text":
        path.write_text("hello, not a checkpoint\n")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(
    ("kind", "says"),
    [("empty", "empty file"), ("list", "holds list"), ("text", "not a PyTorch checkpoint"),
     ("truncated", "unreadable checkpoint")],
)  # fmt: skip
def test_corrupt_checkpoint_is_named_by_evaluate_and_resume(run_dir, capsys, kind, says):
    checkpoint = run_dir / "last.pt"
    _corrupt(checkpoint, kind)
    before = checkpoint.read_bytes()
    assert says in _fails(["evaluate", run_dir], capsys, checkpoint)
    assert says in _fails(["pretrain", "simclr", "--out", run_dir, "--resume"], capsys, checkpoint)
    assert checkpoint.read_bytes() == before


def test_unfinished_run_is_evaluated_and_says_so(run_dir, capsys):
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 1\n", "epochs: 4\n", 1))
    assert main(["evaluate", str(run_dir), "--protocol", "knn", "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert (result["epoch"], result["epochs_planned"], result["finished"]) == (1, 4, False)
    assert "unfinished run: 1 of 4 epochs done" in captured.err
    assert json.loads((run_dir / "evaluations.jsonl").read_text())["finished"] is False


def test_finished_run_says_finished(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--protocol", "knn", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["finished"] is True
    assert "unfinished" not in captured.err


# ------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_during_a_checkpoint_save_waits_for_the_rename(tmp_path, monkeypatch):
    from skelssl import checkpoint

    real_save = torch.save

    def save_with_ctrl_c(payload, path):
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the save
        real_save(payload, path)

    monkeypatch.setattr(checkpoint.torch, "save", save_with_ctrl_c)
    target = tmp_path / "last.pt"
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint({"model": {"w": torch.ones(3)}}, target)
    assert torch.load(target, weights_only=True)["model"]["w"].sum() == 3  # whole, renamed
    assert not (tmp_path / "last.pt.tmp").exists()


def test_second_ctrl_c_during_save_resumes_bit_exact(tmp_path, monkeypatch, capsys):
    """A stop request, then a second Ctrl-C inside the epoch-end save: the checkpoint on
    disk still resumes to the weights of an uninterrupted run."""
    from skelssl import checkpoint

    _pretrain(tmp_path / "whole", "epochs=2")
    calls = {"n": 0}
    real_save = torch.save

    def interrupted_save(payload, path):
        calls["n"] += 1
        if calls["n"] == 1:  # the first epoch's checkpoint: Ctrl-C twice
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        real_save(payload, path)

    monkeypatch.setattr(checkpoint.torch, "save", interrupted_save)
    args = ["pretrain", "simclr", "--out", str(tmp_path / "cut"), "--data", "synthetic",
            "--quiet", *TINY, "epochs=2"]  # fmt: skip
    assert main(args) == 130
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    assert main(["pretrain", "simclr", "--out", str(tmp_path / "cut"), "--resume", "--quiet"]) == 0
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for key, value in whole["model"].items():
        assert torch.equal(value, cut["model"][key]), key
    assert cut["epoch"] == 2


def test_resume_hint_is_the_exact_command(tmp_path, monkeypatch):
    out = tmp_path / "my run"
    args = SimpleNamespace(out=str(out), method="simclr")
    assert "nothing to resume" in resume_hint(args)
    out.mkdir()
    (out / "last.pt").write_bytes(b"x")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert resume_hint(args).endswith(f"skelssl pretrain simclr --out '{out}' --resume")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert "torchrun --nproc_per_node 2 -m skelssl pretrain" in resume_hint(args)


# ------------------------------------------------------------------- output
def test_json_keeps_progress_on_stderr_and_quiet_keeps_the_result(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--json", "linear_epochs=3"]) == 0
    shown = capsys.readouterr()
    result = json.loads(shown.out)  # stdout: the JSON alone
    assert "linear probe" in shown.err or "features" in shown.err
    # stderr is not a terminal here: one line per redraw, never one huge line
    assert "\r" not in shown.err
    assert max(len(line) for line in shown.err.splitlines()) < 300
    assert "loss_curve" not in result  # a summary; the curve is in evaluations.jsonl
    records = [
        json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()
    ]
    assert len(records[-1]["loss_curve"]) == 3
    assert main(["evaluate", str(run_dir), "--quiet", "--protocol", "knn"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out.startswith("knn: top-1")


def test_pretrain_summary_printed_on_rank_0_only(tmp_path, monkeypatch, capsys):
    from skelssl import dist

    monkeypatch.setattr(dist, "is_main", lambda: False)
    monkeypatch.setattr("skelssl.runs.pretrain", lambda *a, **k: {"epochs": 1})
    assert main(["pretrain", "random", "--out", str(tmp_path / "r"), *TINY]) == 0
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(dist, "is_main", lambda: True)
    assert main(["pretrain", "random", "--out", str(tmp_path / "r"), "--quiet", *TINY]) == 0
    assert json.loads(capsys.readouterr().out) == {"epochs": 1}  # --quiet keeps the result


def test_second_demo_says_it_reused_the_runs_and_keeps_their_time(tmp_path, monkeypatch, capsys):
    from skelssl import demo

    monkeypatch.setattr(demo, "DEMO_COMMON", [*TINY, "data.name=synthetic"])
    monkeypatch.setattr(demo, "DEMO_RUNS", {"random": [], "supervised": ["epochs=1"]})
    assert main(["demo", "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    first = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert "reused" not in capsys.readouterr().out.splitlines()[-2]
    assert main(["demo", "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    second = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert "reused the finished runs random, supervised" in capsys.readouterr().out
    assert [row["reused"] for row in second] == [True, True]
    summary = json.loads((tmp_path / "demo" / "supervised" / "summary.json").read_text())
    assert second[1]["seconds"] == first[1]["seconds"] == summary["wall_seconds"]


def test_info_shows_raw_and_resampled_lengths():
    from skelssl.cli import _format_info, _labelled_lengths
    from skelssl.config import load_config
    from skelssl.data.cache import cached_raw_lengths, load_dataset
    from skelssl.data.sampling import describe

    tiny = ["data.synthetic.classes=3", "data.synthetic.subjects=2", "data.synthetic.takes=1",
            "data.synthetic.cameras=1", "data.preprocess.frames=16"]  # fmt: skip
    config = load_config("random", None, tiny)
    info = describe(load_dataset(config.data, quiet=True), cached_raw_lengths(config.data))
    assert info["frames"] == 16 and info["lengths"]["max"] == 16  # resampled to T
    assert info["raw_lengths"]["min"] > 16  # the synthetic takes are longer than 16 frames
    text = _format_info(_labelled_lengths(info))
    assert "lengths as recorded (frames)" in text
    assert "lengths after preprocessing (valid frames of T = 16)" in text


def test_readme_baselines_use_the_same_config_as_simclr():
    """README's pretrain commands compare like with like: every NW-UCLA baseline names its
    config (the 2x128 GRU of configs/nwucla/simclr.yaml), and the CPU-torch note comes
    before the first install command."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = readme.replace("\\\n", " ").splitlines()
    baselines = [line for line in commands
                 if "skelssl pretrain random" in line or "skelssl pretrain supervised" in line]  # fmt: skip
    assert baselines
    for line in baselines:
        assert "--config configs/nwucla/" in line, line
    assert readme.index("download.pytorch.org/whl/cpu") < readme.index("pip install -e .")


def test_predict_bad_head_and_bad_input_are_one_line(run_dir, tmp_path, capsys):
    head = tmp_path / "head.pt"
    torch.save({"weights": torch.ones(2)}, head)
    clip = tmp_path / "clip.txt"
    clip.write_text(" ".join(["0.1"] * 150) + "\n")
    assert "not a skelssl head file" in _fails(["predict", run_dir, clip, "--head", head],
                                               capsys, head)  # fmt: skip
    odd = tmp_path / "clip.bvh"
    odd.write_text("HIERARCHY\n")
    head.write_bytes(b"")
    assert "unreadable head file" in _fails(
        ["predict", run_dir, clip, "--head", head], capsys, head
    )
    from skelssl.evaluation.run import evaluate_run

    evaluate_run(
        run_dir, protocol="linear", save_head=True, quiet=True, overrides=["linear_epochs=2"]
    )
    assert "unknown input type" in _fails(["predict", run_dir, odd], capsys, odd)
    assert "input file not found" in _fails(["predict", run_dir, tmp_path / "none.json"], capsys,
                                            tmp_path / "none.json")  # fmt: skip
