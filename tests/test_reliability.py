"""Reliability under the conditions users meet: one writer per run folder, SIGTERM saved
like Ctrl-C, special files never replaced, a full disk reported in one line with nothing
already written lost, and values refused where they are parsed."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from skelssl.cli import main
from tiny import TINY_SYNTHETIC

TINY = [*TINY_SYNTHETIC, "data.preprocess.view_normalize=false", "batch_size=16"]


@pytest.fixture(autouse=True)
def _default_signals():
    """Ctrl-C raises KeyboardInterrupt and SIGTERM has its default action, as in a shell."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGINT, previous)
    signal.signal(signal.SIGTERM, previous_term)


def _one_line(err: str, *names) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for name in names:
        assert str(name) in lines[0], lines[0]
    return lines[0]


def _fails(args, capsys, *names) -> str:
    capsys.readouterr()
    assert main([str(a) for a in args]) == 2
    return _one_line(capsys.readouterr().err, *names)


def _pretrain_args(out: Path | str, *extra: str, method: str = "simclr") -> list[str]:
    return ["pretrain", method, "--out", str(out), "--data", "synthetic", "--quiet", *TINY,
            "epochs=1", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def _base_run(tmp_path_factory) -> Path:
    """One finished tiny run for the module (the session's dataset cache)."""
    out = tmp_path_factory.mktemp("base") / "run"
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        assert main(_pretrain_args(out)) == 0
    return out


@pytest.fixture
def run_dir(_base_run, tmp_path) -> Path:
    """A copy of the module's finished run that a test may change."""
    out = tmp_path / "run"
    shutil.copytree(_base_run, out)
    return out


# ------------------------------------------------------------ one writer per folder
def test_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    from skelssl.paths import RunLock

    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):  # another process training into the folder
        line = _fails(_pretrain_args(out), capsys, out, f"pid {os.getpid()}")
    assert "in use" in line
    assert not (out / "config.yaml").exists() and not (out / "metrics.jsonl").exists()
    assert main(_pretrain_args(out)) == 0  # released: the folder is free again


def test_a_killed_holder_leaves_no_stale_lock(tmp_path, run_dir, capsys):
    """The lock of a SIGKILLed process is gone with it: --resume goes ahead."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from skelssl.paths import RunLock\n"
         "with RunLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
         str(run_dir)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        _fails(["pretrain", "simclr", "--out", run_dir, "--resume", "--quiet"], capsys,
               f"pid {holder.pid}")  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert (run_dir / "run.lock").read_text().strip() == str(holder.pid)  # stale file
    assert main(["pretrain", "simclr", "--out", str(run_dir), "--resume", "--quiet"]) == 0


# ---------------------------------------------------------------------------- SIGTERM
def test_sigterm_saves_like_ctrl_c_and_exits_143(tmp_path, monkeypatch, capsys):
    from skelssl.train import Trainer

    real_step = Trainer.train_step
    steps = {"n": 0}

    def step_then_sigterm(self, batch):
        steps["n"] += 1
        if steps["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of step 2
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", step_then_sigterm)
    out = tmp_path / "run"
    assert main(_pretrain_args(out, "epochs=3")) == 143
    err = capsys.readouterr().err
    assert "--resume" in err and "Traceback" not in err
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 2  # the step under way was finished, then saved
    monkeypatch.setattr(Trainer, "train_step", real_step)
    assert main(["pretrain", "simclr", "--out", str(out), "--resume", "--quiet"]) == 0
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 3


def test_sigterm_during_a_save_is_held_back_until_the_rename(tmp_path, monkeypatch):
    from skelssl import checkpoint

    real_save = torch.save
    terminated = []

    def save_with_sigterm(payload, target):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the save
        real_save(payload, target)

    monkeypatch.setattr(checkpoint.torch, "save", save_with_sigterm)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: terminated.append(signum))
    try:
        checkpoint.save_checkpoint({"model": {"w": torch.ones(3)}}, tmp_path / "last.pt")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert terminated == [signal.SIGTERM]  # delivered once the file was whole
    assert torch.load(tmp_path / "last.pt", weights_only=True)["model"]["w"].sum() == 3
    assert not (tmp_path / "last.pt.tmp").exists()


# ------------------------------------------------------------------ special files
@pytest.mark.parametrize("command", ["export", "embed"])
def test_out_on_a_fifo_or_device_is_refused_and_kept(tmp_path, run_dir, capsys, command):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target in (fifo, Path(os.devnull)):
        line = _fails([command, run_dir, "--out", target, "--quiet"], capsys, target)
        assert "not a regular file" in line
    assert fifo.is_fifo() and Path(os.devnull).is_char_device()
    assert not list(tmp_path.glob("*.tmp")) and not Path(os.devnull + ".tmp").exists()


def test_empty_out_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = _fails(_pretrain_args(""), capsys, "--out")
    assert "empty" in line and not list(tmp_path.iterdir())
    _fails(["demo", "--out", "", "--quiet"], capsys, "--out")


def test_out_pretrain_on_a_device_is_refused(tmp_path, capsys):
    line = _fails(_pretrain_args(Path(os.devnull)), capsys, os.devnull)
    assert "not a folder" in line


# --------------------------------------------------------------- resume of a finished run
def test_resume_of_a_finished_run_keeps_its_summary(run_dir, capsys):
    before = json.loads((run_dir / "summary.json").read_text())
    assert before["seq_per_s"] > 0
    assert main(["pretrain", "simclr", "--out", str(run_dir), "--resume", "--quiet"]) == 0
    assert json.loads((run_dir / "summary.json").read_text()) == before
    assert json.loads(capsys.readouterr().out)["seq_per_s"] == before["seq_per_s"]


def test_resume_with_another_method_is_refused(run_dir, capsys):
    line = _fails(["pretrain", "byol", "--out", run_dir, "--resume", "--quiet"], capsys, run_dir)
    assert "simclr" in line and "byol" in line


# ------------------------------------------------------------------------ disk full
def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _small_disk(path: Path, size: str) -> Path:
    """A tmpfs of ``size`` mounted at ``path`` (root only; skipped elsewhere)."""
    path.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                  str(path)], capture_output=True, text=True)  # fmt: skip
    except OSError as error:
        pytest.skip(f"cannot run mount: {error}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    return path


@pytest.fixture
def small_disk(tmp_path):
    mounted = []

    def make(size: str) -> Path:
        mounted.append(_small_disk(tmp_path / f"disk{len(mounted)}", size))
        return mounted[-1]

    yield make
    for path in mounted:
        subprocess.run(["umount", str(path)], check=False)


def test_checkpoint_on_a_full_disk_keeps_the_previous_one(small_disk, capsys):
    """A real full disk (tmpfs): the epoch-2 checkpoint does not fit beside epoch 1's."""
    out = small_disk("256k") / "run"
    capsys.readouterr()
    assert main(_pretrain_args(out, "epochs=2")) == 2
    line = _one_line(capsys.readouterr().err, out / "last.pt", "no space left on device")
    assert "previous checkpoint is intact" in line
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    assert not list(out.glob("*.tmp"))


def test_checkpoint_enospc_injected(tmp_path, monkeypatch, run_dir, capsys):
    from skelssl import checkpoint

    before = (run_dir / "last.pt").read_bytes()
    real_open = open

    def open_failing_tmp(file, mode="r", *args, **kwargs):
        if str(file).endswith(".tmp") and "w" in mode:
            handle = real_open(file, mode, *args, **kwargs)
            handle.write = _enospc
            return handle
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", open_failing_tmp)
    with pytest.raises(checkpoint.SkelsslError, match="no space left on device while writing"):
        checkpoint.save_checkpoint({"model": {}}, run_dir / "last.pt")
    monkeypatch.undo()
    assert (run_dir / "last.pt").read_bytes() == before
    assert not (run_dir / "last.pt.tmp").exists()


def test_export_on_a_full_disk_is_one_line(run_dir, small_disk, capsys):
    disk = small_disk("32k")
    out = disk / "model.pt"
    out.write_bytes(b"old export")
    line = _fails(["export", run_dir, "--out", out, "--quiet"], capsys, out)
    assert "no space left on device" in line and "previous export is intact" in line
    assert out.read_bytes() == b"old export" and sorted(disk.iterdir()) == [out]


def test_export_enospc_injected(tmp_path, run_dir, monkeypatch, capsys):
    from skelssl import checkpoint

    monkeypatch.setattr(checkpoint.os, "fsync", _enospc)
    out = tmp_path / "model.pt"
    _fails(["export", run_dir, "--out", out, "--quiet"], capsys, out, "no space left")
    assert not out.exists() and not (tmp_path / "model.pt.tmp").exists()


def test_save_head_on_a_full_disk_still_prints_the_result(run_dir, monkeypatch, capsys):
    from skelssl import checkpoint

    monkeypatch.setattr(checkpoint.os, "fsync", _enospc)
    capsys.readouterr()
    args = ["evaluate", str(run_dir), "--protocol", "linear", "--save-head", "--quiet", "--json",
            "linear_epochs=2"]  # fmt: skip
    assert main(args) == 2
    captured = capsys.readouterr()
    _one_line(captured.err, run_dir / "heads" / "linear.pt", "no space left on device")
    assert json.loads(captured.out)["top1"] >= 0  # computed, printed, not lost
    assert not list((run_dir / "heads").glob("*"))


def test_report_on_a_full_disk_prints_its_text(run_dir, tmp_path, monkeypatch, capsys):
    from skelssl import report

    real_write_text = Path.write_text

    def full(self, *args, **kwargs):
        if self.name == "report.md":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(report.Path, "write_text", full)
    out = tmp_path / "report"
    capsys.readouterr()
    assert main(["report", str(run_dir), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    _one_line(captured.err, out / "report.md", "no space left on device")
    assert "Test split" in captured.out and "top-1" in captured.out


def test_report_whose_plots_do_not_fit_still_computes_its_text(run_dir, tmp_path, monkeypatch,
                                                              capsys):  # fmt: skip
    """A full disk from the first PNG on: every section is still computed and printed."""
    from skelssl import report

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a PNG")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(report.Figure, "savefig", full)
    out = tmp_path / "report"
    capsys.readouterr()
    assert main(["report", str(run_dir), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    _one_line(captured.err, "no space left on device", ".png")
    assert "Test split" in captured.out and "top-1" in captured.out
    assert not list(out.glob("*.png"))  # no half-written plot left


def test_metrics_log_on_a_full_disk_is_one_line(tmp_path):
    from skelssl.checkpoint import MetricsLog, SkelsslError

    log = MetricsLog(tmp_path / "metrics.jsonl", enabled=True)
    log.file.write = _enospc
    with pytest.raises(SkelsslError, match="no space left on device while writing"):
        log.write({"epoch": 1, "loss": 1.0})
    log.file = None


# --------------------------------------------------------------------------- values
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("lr=-0.1", "train.lr"),
        ("lr=nan", "train.lr"),
        ("lr=.inf", "train.lr"),
        ("train.weight_decay=-1", "train.weight_decay"),
        ("train.momentum=-1", "train.momentum"),
        ("train.momentum=1.5", "train.momentum"),
        ("train.num_workers=-1", "train.num_workers"),
        ("train.warmup_epochs=-2", "train.warmup_epochs"),
        ("evaluation.linear_lr=nan", "evaluation.linear_lr"),
    ],
)
def test_bad_numbers_are_refused_where_parsed(tmp_path, capsys, override, key):
    out = tmp_path / "run"
    line = _fails(_pretrain_args(out, override), capsys, key)
    assert "finite number" in line
    assert not out.exists()  # refused before any folder was made


def test_config_naming_a_folder_is_one_line(tmp_path, capsys):
    _fails(["config", "simclr", "--config", tmp_path], capsys, tmp_path, "folder")


@pytest.mark.parametrize(
    ("override", "key"),
    [("linear_lr=nan", "linear_lr"), ("linear_epochs=0", "linear_epochs"),
     ("finetune_lr=-1", "finetune_lr")],
)  # fmt: skip
def test_bad_evaluation_values_are_refused(run_dir, capsys, override, key):
    _fails(["evaluate", run_dir, "--quiet", override], capsys, key)


def test_knn_reports_the_k_it_used(run_dir, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--protocol", "knn", "--json", "--quiet",
                 "knn_k=100000"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["k"] == result["n_train"] < 100000 and result["k_requested"] == 100000


# --------------------------------------------------------------------- predict, heads
@pytest.fixture
def head_run(run_dir, capsys) -> Path:
    assert main(["evaluate", str(run_dir), "--save-head", "--quiet", "linear_epochs=2"]) == 0
    capsys.readouterr()
    return run_dir


@pytest.fixture
def recording(tmp_path) -> Path:
    import numpy as np

    path = tmp_path / "a01_s01_e01_v01.json"
    frames = np.random.default_rng(0).normal(size=(40, 20, 3)).round(3)
    path.write_text(json.dumps({"skeletons": frames.tolist()}))
    return path


@pytest.mark.parametrize(
    ("options", "named"),
    [(["--window", "10", "--stride", "0"], "--stride"), (["--window", "0"], "--window"),
     (["--window", "10", "--min-score", "2"], "--min-score"),
     (["--window", "10", "--min-score", "nan"], "--min-score")],
)  # fmt: skip
def test_predict_options_out_of_range_are_refused(head_run, recording, capsys, options, named):
    _fails(["predict", head_run, recording, "--quiet", *options], capsys, named)


def test_stale_head_is_refused_after_training_went_on(head_run, recording, tmp_path, capsys):
    assert main(["predict", str(head_run), str(recording), "--quiet"]) == 0
    head = torch.load(head_run / "heads" / "linear.pt", weights_only=True)
    assert head["fitted_on"]["epoch"] == 1 and len(head["fitted_on"]["encoder_sha256"]) == 64
    config = (head_run / "config.yaml").read_text().replace("epochs: 1\n", "epochs: 2\n", 1)
    (head_run / "config.yaml").write_text(config)  # train one more epoch on the same run
    assert main(["pretrain", "simclr", "--out", str(head_run), "--resume", "--quiet"]) == 0
    head_file = head_run / "heads" / "linear.pt"
    line = _fails(["predict", head_run, recording, "--quiet"], capsys, head_file)
    assert "fitted on" in line and "--save-head" in line
    _fails(["export", head_run, "--out", tmp_path / "m.pt", "--head", head_file, "--quiet"],
           capsys, head_file)  # fmt: skip


def test_byol_semi_summary_counts_its_runs():
    from skelssl.cli import _format_result

    result = {"protocol": "byol-semi", "top1": 50.0, "top1_std": 2.5, "n_train": 4,
              "n_test": 8, "fractions": {"0.5": {"top1": 50.0, "runs": [48.0, 52.0]}}}  # fmt: skip
    assert "over 2 runs" in _format_result(result)


# --------------------------------------------------------------------------- readers
def _nwucla_folder(tmp_path: Path, count: int = 4) -> Path:
    import numpy as np

    root = tmp_path / "nwucla"
    root.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        frames = rng.normal(size=(12, 20, 3)).round(3).tolist()
        name = f"a01_s{index + 1:02d}_e01_v{index % 3 + 1:02d}.json"
        (root / name).write_text(json.dumps({"skeletons": frames}))
    return root


def test_dangling_link_and_fifo_are_skipped_and_said(tmp_path, capsys):
    from skelssl.data.cache import raw_fingerprint
    from skelssl.data.readers.nwucla import read_nwucla

    root = _nwucla_folder(tmp_path)
    (root / "a02_s01_e01_v01.json").symlink_to(tmp_path / "gone.json")
    os.mkfifo(root / "a03_s01_e01_v01.json")  # reading it would block forever
    names = [entry[0] for entry in raw_fingerprint(root)]
    assert "a02_s01_e01_v01.json" in names  # the fingerprint names the link, no crash
    raw = read_nwucla(root, quiet=True)
    assert len(raw.sequences) == 4
    assert any("a02_s01_e01_v01.json: a dangling symbolic link" in s for s in raw.skipped)
    assert any("a03_s01_e01_v01.json: not a regular file" in s for s in raw.skipped)
    capsys.readouterr()
    for extra in ([], ["--skip-bad"]):
        assert main(["info", "nw-ucla", "--root", str(root), *extra]) == 0
        err = capsys.readouterr().err
        assert "skipped 2 bad files" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("skeletons", "problem"),
    [
        ([[["0.5", 0.1, 0.2]] * 20] * 3, '"0.5"'),
        ([[[True, 0.1, 0.2]] * 20] * 3, "true"),
        ([[[0.1, 0.1, None]] * 20] * 3, "null"),
    ],
)
def test_nwucla_coordinates_must_be_numbers(tmp_path, skeletons, problem):
    from skelssl.data.readers.nwucla import read_nwucla_file
    from skelssl.errors import SkelsslError

    path = tmp_path / "a01_s01_e01_v01.json"
    path.write_text(json.dumps({"skeletons": skeletons}))
    with pytest.raises(SkelsslError, match="where a coordinate") as error:
        read_nwucla_file(path)
    assert problem in str(error.value) and str(path) in str(error.value)


def test_nwucla_deeply_nested_json_is_one_error(tmp_path):
    from skelssl.data.readers.nwucla import read_nwucla_file
    from skelssl.errors import SkelsslError

    path = tmp_path / "a01_s01_e01_v01.json"
    path.write_text('{"skeletons": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SkelsslError, match="nested too deeply"):
        read_nwucla_file(path)


@pytest.mark.parametrize("dtype", [bool, complex])
def test_npz_joints_must_be_real_numbers(tmp_path, capsys, dtype):
    import numpy as np

    path = tmp_path / "data.npz"
    np.savez(path, joints=np.ones((2, 4, 1, 25, 3), dtype=dtype), labels=np.array([0, 1]),
             lengths=np.array([4, 4]))  # fmt: skip
    line = _fails(["info", path], capsys, path)
    assert "real numbers" in line and np.dtype(dtype).name in line


def test_evaluation_log_on_a_full_disk_still_prints_the_result(run_dir, monkeypatch, capsys):
    real_open = Path.open

    def full(self, mode="r", *args, **kwargs):
        if self.name == "evaluations.jsonl" and "a" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full)
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--protocol", "knn", "--json", "--quiet"]) == 2
    captured = capsys.readouterr()
    _one_line(captured.err, run_dir / "evaluations.jsonl", "no space left on device")
    assert json.loads(captured.out)["protocol"] == "knn"
