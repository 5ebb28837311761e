"""Fault cases of the ``skelssl`` command: bad values, signals, special files, a full disk,
concurrent writers and broken data files, each run as a user would (a subprocess), with
its exit code, its last stderr line and what survived on disk.

Every case states the outcome wanted: exit 2 with one line naming the file or value and
no traceback for a user error, 143 for SIGTERM (the state saved, the resume command
printed), 0 where the input is valid (and the value used is reported). A case whose
outcome differs is marked ``FAIL``. Cases on a small tmpfs (a real full disk) need root
and ``mount``; elsewhere they are listed as skipped. Everything runs on a tiny synthetic
set (48 training sequences, a GRU of 16 units) in a scratch folder: a few minutes on two
cores.

    python benchmarks/product/fault_cases.py   # benchmarks/product/results/fault_cases.{json,md}
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import machine, results_dir, write_json, write_markdown  # noqa: E402
from skelssl.report import markdown_table  # noqa: E402

TINY = [
    "data.synthetic.classes=6", "data.synthetic.subjects=4", "data.synthetic.takes=2",
    "data.synthetic.cameras=2", "data.split=xview", "data.preprocess.frames=16",
    "data.preprocess.view_normalize=false", "encoder.name=gru", "encoder.hidden_size=16",
    "encoder.num_layers=1", "batch_size=16",
]  # fmt: skip
SKELSSL = [sys.executable, "-m", "skelssl"]


@dataclass
class Outcome:
    """One case: what ran, how it ended, what survived, and whether that is the wanted end."""

    case: str
    group: str
    command: str
    wanted: int | None
    exit: int | None = None
    stderr: str = ""
    traceback: bool = False
    survived: str = ""
    ok: bool | None = None
    notes: list[str] = field(default_factory=list)


class Cases:
    """Runs the cases in a scratch folder and collects their :class:`Outcome`."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.env = {**os.environ, "SKELSSL_CACHE": str(scratch / "cache"), "OMP_NUM_THREADS": "1"}
        self.outcomes: list[Outcome] = []
        self.mounts: list[Path] = []

    # ------------------------------------------------------------------ running
    def run(self, args: list, *, cwd: Path | None = None, timeout: float = 300):
        return subprocess.run([*SKELSSL, *map(str, args)], capture_output=True, text=True,
                              env=self.env, cwd=cwd or self.scratch, timeout=timeout)  # fmt: skip

    def popen(self, args: list) -> subprocess.Popen:
        return subprocess.Popen([*SKELSSL, *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env,
                                cwd=self.scratch)  # fmt: skip

    def record(self, case: str, group: str, args: list, wanted: int | None, done,
               survived: str = "", extra_ok: bool = True, *, named: tuple = ()) -> Outcome:  # fmt: skip
        """Judge a finished process: the wanted exit, no traceback, and for exit 2 one
        stderr line naming each of ``named``."""
        code = done.returncode
        err = done.stderr or ""
        lines = [line for line in err.strip().splitlines() if line.strip()]
        outcome = Outcome(case, group, "skelssl " + " ".join(map(str, args)), wanted, code,
                          lines[-1] if lines else "", "Traceback" in err, survived)  # fmt: skip
        ok = code == wanted and not outcome.traceback and extra_ok
        if wanted == 2:
            ok = ok and len(lines) == 1 and all(str(name) in lines[0] for name in named)
        outcome.ok = ok
        self.outcomes.append(outcome)
        mark = "ok" if ok else "FAIL"
        print(f"[{mark}] {group}: {case}: exit {code} (wanted {wanted})", flush=True)
        return outcome

    def skip(self, case: str, group: str, why: str) -> None:
        self.outcomes.append(Outcome(case, group, "-", None, survived=f"skipped: {why}"))
        print(f"[skip] {group}: {case}: {why}", flush=True)

    def pretrain(self, out: Path, *extra: str, method: str = "simclr") -> list:
        return ["pretrain", method, "--out", out, "--data", "synthetic", "--quiet", *TINY,
                *extra]  # fmt: skip

    def base_run(self, name: str, *extra: str) -> Path:
        out = self.scratch / name
        done = self.run(self.pretrain(out, "epochs=1", *extra))
        if done.returncode != 0:
            raise SystemExit(f"setup pretrain failed:\n{done.stderr}")
        return out

    def small_disk(self, name: str, size: str, *, fill: bool = False) -> Path | None:
        """A tmpfs of ``size`` (None where it cannot be mounted); ``fill`` leaves it full."""
        path = self.scratch / name
        path.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                   str(path)], capture_output=True, text=True)  # fmt: skip
        except OSError:
            return None
        if done.returncode != 0:
            return None
        self.mounts.append(path)
        if fill:
            try:
                with open(path / "filler", "wb") as handle:
                    while True:
                        handle.write(b"\0" * 4096)
                        handle.flush()
            except OSError:
                pass
        return path

    def unmount(self) -> None:
        for path in reversed(self.mounts):
            subprocess.run(["umount", str(path)], check=False)


def _wait_for(condition, timeout: float = 120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _checkpoint(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _lock_cases(c: Cases) -> None:
    group = "one writer per run folder"
    out = c.scratch / "locked"
    first = c.popen(c.pretrain(out, "epochs=30"))
    _wait_for(lambda: (out / "run.lock").is_file() and (out / "run.lock").read_text().strip())
    args = c.pretrain(out, "epochs=30", "seed=1")
    second = c.run(args)
    first.communicate(timeout=600)
    config_seed = "seed: 0" in (out / "config.yaml").read_text()
    c.record("second pretrain into a folder in use", group, args, 2, second,
             f"first run exit {first.returncode}, config.yaml seed 0: {config_seed}",
             first.returncode == 0 and config_seed, named=(out, f"pid {first.pid}"))  # fmt: skip

    out = c.scratch / "killed"
    killed = c.popen(c.pretrain(out, "epochs=200"))
    _wait_for(lambda: (out / "last.pt").is_file())
    time.sleep(0.5)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    target = _checkpoint(out / "last.pt")["epoch"] + 1  # one epoch more: a short resume
    config = (out / "config.yaml").read_text()
    (out / "config.yaml").write_text(config.replace("epochs: 200\n", f"epochs: {target}\n", 1))
    args = ["pretrain", "simclr", "--out", out, "--resume", "--quiet"]
    done = c.run(args)
    epochs = _checkpoint(out / "last.pt")["epoch"]
    c.record("--resume after the holder was SIGKILLed (stale lock)", group, args, 0, done,
             f"stale run.lock left (pid {killed.pid}); resumed to epoch {epochs} of {target}",
             epochs == target)  # fmt: skip


def _signal_cases(c: Cases) -> None:
    group = "signals"
    for signum, wanted in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        out = c.scratch / f"signal-{signum.name}"
        args = c.pretrain(out, "epochs=200")
        process = c.popen(args)
        _wait_for(lambda out=out: (out / "last.pt").is_file())
        time.sleep(0.3)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=300)
        done = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
        state = _checkpoint(out / "last.pt")
        hint = "--resume" in stderr
        c.record(f"{signum.name} during training", group, args, wanted, done,
                 f"last.pt at step {state['step']} (epoch {state['epoch']}); resume command "
                 f"printed: {hint}", hint)  # fmt: skip
        c.outcomes[-1].stderr = " / ".join(stderr.strip().splitlines()[-2:])


def _special_file_cases(c: Cases, run: Path) -> None:
    group = "special files as --out"
    fifo = c.scratch / "pipe"
    os.mkfifo(fifo)
    targets = [("a FIFO", fifo)]
    device = c.scratch / "null-device"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
        targets.append(("a character device", device))
    except OSError as error:
        c.skip("export/embed to a device node", group, f"cannot mknod: {error.strerror}")
    for what, target in targets:
        for command in ("export", "embed"):
            args = [command, run, "--out", target, "--quiet"]
            done = c.run(args)
            mode = target.stat().st_mode
            kept = stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)
            c.record(f"{command} --out {what}", group, args, 2, done,
                     f"{what} still there: {kept}", kept, named=(target,))  # fmt: skip
    empty = c.scratch / "empty-out"
    empty.mkdir()
    args = c.pretrain("", "epochs=1")
    done = c.run(args, cwd=empty)
    c.record("pretrain --out ''", group, args, 2, done,
             f"current folder untouched: {not list(empty.iterdir())}",
             not list(empty.iterdir()), named=("--out",))  # fmt: skip


def _resume_cases(c: Cases, run: Path) -> None:
    group = "resume"
    before = (run / "summary.json").read_text()
    args = ["pretrain", "simclr", "--out", run, "--resume", "--quiet"]
    done = c.run(args)
    same = (run / "summary.json").read_text() == before
    c.record("--resume on a finished run", group, args, 0, done,
             f"summary.json unchanged (seq_per_s kept): {same}", same)  # fmt: skip
    args = ["pretrain", "byol", "--out", run, "--resume", "--quiet"]
    c.record("pretrain byol --resume on a SimCLR run", group, args, 2, c.run(args),
             "run untouched", named=(run, "simclr"))  # fmt: skip


def _disk_cases(c: Cases, run: Path) -> None:
    group = "disk full (tmpfs)"
    disk = c.small_disk("disk-checkpoint", "256k")
    if disk is None:
        for case in ("checkpoint", "export", "evaluate --save-head", "report"):
            c.skip(case, group, "cannot mount a tmpfs here (needs root)")
        return
    out = disk / "run"
    args = c.pretrain(out, "epochs=2")
    done = c.run(args)
    state = _checkpoint(out / "last.pt")
    left = sorted(p.name for p in out.glob("*.tmp"))
    c.record("checkpoint of epoch 2 does not fit", group, args, 2, done,
             f"last.pt of epoch {state['epoch']} intact; temporary files left: {left or 'none'}",
             state["epoch"] == 1 and not left, named=("no space left",))  # fmt: skip

    disk = c.small_disk("disk-export", "32k")
    target = disk / "model.pt"
    args = ["export", run, "--out", target, "--quiet"]
    done = c.run(args)
    left = sorted(p.name for p in disk.iterdir())
    c.record("export (44 KB) to a 32 KB disk", group, args, 2, done,
             f"files left on the disk: {left or 'none'}", not left,
             named=("no space left", target))  # fmt: skip

    heads = run / "heads"
    heads.mkdir(exist_ok=True)
    disk = c.small_disk("disk-heads", "16k", fill=True)
    shutil.rmtree(heads)
    heads.symlink_to(disk)  # RUN/heads on a full disk
    args = ["evaluate", run, "--save-head", "--quiet", "linear_epochs=5"]
    done = c.run(args)
    printed = "top-1" in done.stdout
    left = sorted(p.name for p in disk.iterdir() if p.name != "filler")
    c.record("evaluate --save-head on a full disk", group, args, 2, done,
             f"result printed: {printed}; files left: {left or 'none'}", printed and not left,
             named=("no space left",))  # fmt: skip
    heads.unlink()

    disk = c.small_disk("disk-report", "16k", fill=True)
    args = ["report", run, "--out", disk / "report", "--quiet"]
    done = c.run(args)
    printed = "Test split" in done.stdout
    c.record("report on a full disk", group, args, 2, done, f"report text printed: {printed}",
             printed, named=("no space left",))  # fmt: skip


def _value_cases(c: Cases, run: Path) -> None:
    group = "values"
    for override, key in (("lr=-0.1", "train.lr"), ("lr=nan", "train.lr"),
                          ("train.weight_decay=-1", "train.weight_decay"),
                          ("train.momentum=-1", "train.momentum"),
                          ("train.num_workers=-1", "train.num_workers")):  # fmt: skip
        out = c.scratch / "values"
        args = c.pretrain(out, "epochs=1", override)
        c.record(f"pretrain {override}", group, args, 2, c.run(args),
                 f"no run folder made: {not out.exists()}", not out.exists(), named=(key,))  # fmt: skip
    args = ["pretrain", "simclr", "--out", c.scratch / "values", "--config", c.scratch]
    c.record("--config naming a folder", group, args, 2, c.run(args), named=(c.scratch,))
    for override, key in (("linear_lr=nan", "linear_lr"), ("linear_epochs=0", "linear_epochs")):
        args = ["evaluate", run, "--quiet", override]
        c.record(f"evaluate {override}", group, args, 2, c.run(args), named=(key,))
    args = ["evaluate", run, "--protocol", "knn", "--json", "--quiet", "knn_k=100000"]
    done = c.run(args)
    result = json.loads(done.stdout) if done.returncode == 0 else {}
    c.record("evaluate knn_k=100000 (more than the training set)", group, args, 0, done,
             f"reported k {result.get('k')} (requested {result.get('k_requested')})",
             result.get("k") == result.get("n_train"))  # fmt: skip


def _head_cases(c: Cases, run: Path) -> None:
    group = "predict and saved heads"
    recording = c.scratch / "a01_s01_e01_v01.json"
    frames = np.random.default_rng(0).normal(size=(40, 20, 3)).round(3)
    recording.write_text(json.dumps({"skeletons": frames.tolist()}))
    c.run(["evaluate", run, "--save-head", "--quiet", "linear_epochs=5"])
    for options, named in ((["--window", "10", "--stride", "0"], "--stride"),
                           (["--window", "10", "--min-score", "2"], "--min-score")):  # fmt: skip
        args = ["predict", run, recording, "--quiet", *options]
        c.record(f"predict {' '.join(options)}", group, args, 2, c.run(args), named=(named,))
    config = (run / "config.yaml").read_text().replace("epochs: 1\n", "epochs: 2\n", 1)
    (run / "config.yaml").write_text(config)
    c.run(["pretrain", "simclr", "--out", run, "--resume", "--quiet"])  # training goes on
    args = ["predict", run, recording, "--quiet"]
    c.record("predict with a head fitted before training went on", group, args, 2, c.run(args),
             "head kept; refit with evaluate --save-head", named=("linear.pt", "fitted on"))  # fmt: skip
    args = ["export", run, "--out", c.scratch / "m.pt", "--head", run / "heads" / "linear.pt"]
    c.record("export --head with a stale head", group, args, 2, c.run(args),
             named=("linear.pt",))  # fmt: skip


def _reader_cases(c: Cases) -> None:
    group = "data files"
    root = c.scratch / "nwucla"
    root.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        name = f"a01_s{index + 1:02d}_e01_v{index % 3 + 1:02d}.json"
        (root / name).write_text(json.dumps({"skeletons": rng.normal(size=(12, 20, 3)).tolist()}))
    (root / "a02_s01_e01_v01.json").symlink_to(c.scratch / "gone.json")
    os.mkfifo(root / "a03_s01_e01_v01.json")
    for extra in ([], ["--skip-bad"]):
        args = ["info", "nw-ucla", "--root", root, *extra]
        done = c.run(args, timeout=120)
        said = "skipped 2 bad files" in done.stderr
        c.record(f"info on a folder with a dangling link and a FIFO {' '.join(extra)}".strip(),
                 group, args, 0, done, f"4 samples read, 2 entries skipped and said: {said}",
                 said)  # fmt: skip
    bad = c.scratch / "bad-json"
    bad.mkdir()
    cases = {
        "deeply nested JSON": '{"skeletons": ' + "[" * 100000 + "]" * 100000 + "}",
        "numeric strings as coordinates": json.dumps({"skeletons": [[["0.5", 0, 0]] * 20] * 3}),
        "booleans as coordinates": json.dumps({"skeletons": [[[True, 0, 0]] * 20] * 3}),
    }
    for case, text in cases.items():
        path = bad / "a01_s01_e01_v01.json"
        path.write_text(text)
        args = ["info", "nw-ucla", "--root", bad, "--quiet"]
        c.record(f"info on {case}", group, args, 2, c.run(args), named=(path,))
    for dtype in (bool, complex):
        path = c.scratch / f"joints-{np.dtype(dtype).name}.npz"
        np.savez(path, joints=np.ones((2, 4, 1, 25, 3), dtype=dtype), labels=np.array([0, 1]),
                 lengths=np.array([4, 4]))  # fmt: skip
        args = ["info", path, "--quiet"]
        c.record(f"info on .npz joints of dtype {np.dtype(dtype).name}", group, args, 2,
                 c.run(args), named=(path, "real numbers"))  # fmt: skip


def main() -> None:
    started = time.time()
    scratch = Path(tempfile.mkdtemp(prefix="skelssl-faults-"))
    cases = Cases(scratch)
    try:
        run = cases.base_run("base")
        _value_cases(cases, run)
        _special_file_cases(cases, run)
        _resume_cases(cases, run)
        _disk_cases(cases, run)
        _reader_cases(cases)
        _lock_cases(cases)
        _signal_cases(cases)
        _head_cases(cases, run)
    finally:
        cases.unmount()
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [vars(outcome) for outcome in cases.outcomes]
    seconds = round(time.time() - started, 1)
    failed = [row for row in rows if row["ok"] is False]
    payload = {"cases": rows, "failed": len(failed), "seconds": seconds, "machine": machine()}
    out = results_dir("product")
    write_json(out / "fault_cases.json", payload)
    table = markdown_table(
        [{**row, "ok": {True: "ok", False: "FAIL", None: "skipped"}[row["ok"]],
          "stderr": row["stderr"][:160]} for row in rows],
        ["group", "case", "exit", "wanted", "ok", "stderr", "survived"],
        ["group", "case", "exit", "wanted", "outcome", "last stderr line", "what survived"],
    )  # fmt: skip
    write_markdown(out / "fault_cases.md", [
        "# Fault cases of the skelssl command",
        "",
        f"{len(rows)} cases, {len(failed)} not ending as wanted, {seconds} s "
        "(`python benchmarks/product/fault_cases.py`). Wanted: exit 2 with one line naming "
        "the file or value and no traceback for a user error; 143 for SIGTERM and 130 for "
        "Ctrl-C, with the state saved and the resume command printed; 0 for valid input.",
        "",
        table,
    ])  # fmt: skip
    print(f"{len(rows)} cases, {len(failed)} failed, {seconds} s -> {out / 'fault_cases.md'}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
