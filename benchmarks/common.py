"""What every benchmark shares: the machine description, result files (each JSON records
its provenance: git commit, command, resolved configs, seeds), encoder labels, and the
NW-UCLA summary row of the results contract.

A per-method NW-UCLA results file ``benchmarks/<paper>/results/nwucla_<method>.json`` carries
a top-level ``"summary_rows"`` list of :func:`summary_row` dicts; ``benchmarks/summary.py``
collects them into ``benchmarks/results/nwucla_summary.json``, from which the README's
results table is generated.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import yaml

from skelssl.checkpoint import load_checkpoint
from skelssl.config import build_config, to_dict
from skelssl.data.readers.arrays import write_npz
from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.models import ENCODER_FIELDS

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
NWUCLA_ROOT = REPO.parent / "shared" / "datasets" / "nw-ucla" / "all_sqe"  # the default --root

SUMMARY_KEYS = (
    "method",
    "encoder",
    "frames",
    "seeds",
    "epochs",
    "minutes",
    "device",
    "linear_mean",
    "linear_std",
    "knn_mean",
    "knn_std",
    "paper_linear",
    "paper_knn",
    "source",
)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float | None:
    """1-minute load average (None where the OS has none)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def device_name(device: str | torch.device = "cpu") -> str:
    """``"cpu"``, or the GPU's name for a CUDA device (the ``device`` of a summary row)."""
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def machine(device: str | torch.device = "cpu") -> dict:
    """The machine a result was measured on: CPU, threads, versions, device, and the time
    and 1-minute load average when called (call it before timing)."""
    return {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device_name(device),
        "started": utc_now(),
        "load_average_1min": load_average(),
    }


def results_dir(folder: str) -> Path:
    """``benchmarks/<folder>/results``: where the benchmarks of ``folder`` (``ms2l``,
    ``crrl``, ``byol``, ``simclr``, ``baselines``, ``speed``, ``product``) write."""
    return BENCHMARKS / folder / "results"


def git_state(repo: Path = REPO) -> dict:
    """``{"commit": HEAD's hash, "dirty": whether tracked files differ from it}``; both None
    outside a git checkout."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        except OSError:
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": bool(status.strip()) if status is not None else None}


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as one shell line: ``python <script> <args>`` (the script
    relative to the repo root when it lies inside it), each word shell-quoted."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]) if argv and argv[0] else Path("-")
    try:
        script = script.resolve().relative_to(REPO)
    except ValueError:
        pass
    return shlex.join(["python", script.as_posix(), *argv[1:]])


def plain_config(config):
    """A config as a plain dict: a dataclass through :func:`skelssl.config.to_dict`, a dict
    or list of configs item by item, anything else as it is."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return to_dict(config)
    if isinstance(config, dict):
        return {str(key): plain_config(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [plain_config(value) for value in config]
    return config


def provenance(payload: dict, configs=None, seeds=None, argv: list[str] | None = None) -> dict:
    """What reruns a result: the git commit (and whether the tree was dirty), the exact
    command, the resolved config(s) as dicts (``configs``, else the payload's ``config`` /
    ``configs``) and the seeds (``seeds``, else the payload's)."""
    if configs is None:
        configs = payload.get("configs", payload.get("config"))
    if seeds is None:
        seeds = payload.get("seeds")
    return {
        **git_state(),
        "command": command_line(argv),
        "configs": plain_config(configs),
        "seeds": plain_config(seeds),
        "written": utc_now(),
    }


def write_json(path: Path, payload: dict, *, configs=None, seeds=None) -> None:
    """``payload`` as indented JSON (a trailing newline), parent folders created, with a
    ``"provenance"`` block (:func:`provenance`: commit, command, configs, seeds) added; a
    payload that already holds one (a table rewritten from an earlier file) keeps it as the
    new block's ``"previous"``."""
    block = provenance(payload, configs, seeds)
    earlier = payload.get("provenance")
    if isinstance(earlier, dict):  # rewritten from an earlier run's file: keep where it came from
        block["previous"] = {key: value for key, value in earlier.items() if key != "previous"}
    payload = {**payload, "provenance": block}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def write_markdown(path: Path, lines: list[str]) -> None:
    """``lines`` joined by newlines, with one trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def run_pair_study(script: str, stem: str, *, description: str, labels: tuple[str, str],
                   shared: str, measure, set_table, header: list[str], out: Path) -> None:  # fmt: skip
    """The command line of a study that reads finished runs in pairs: each ``--set NAME A
    B`` (run-dir patterns with ``{seed}``; ``labels`` name A and B, e.g. ``("STUDENT",
    "SER")``) is measured per seed by ``measure(A, B, seed) -> dict`` into
    ``OUT/<stem>.json`` (``script``: its path under ``benchmarks/``, for the recorded
    command); the ``shared`` key of the seeds' dicts (the same for all) moves to
    the set's entry. Sets already in the JSON and not named again are kept; with no
    ``--set`` only ``OUT/<stem>.md`` is written again: ``header``, then each set's
    ``set_table(name, entry)`` lines and its command."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--set", nargs=3, action="append", default=[],
                        metavar=("NAME", *labels), help="run-dir patterns with {seed}")  # fmt: skip
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    path = args.out / f"{stem}.json"
    payload = json.loads(path.read_text()) if path.is_file() else {"sets": {}}
    if args.set:
        payload["machine"] = machine()
    keys = [label.lower() for label in labels]
    command = " ".join(f"--set {n} {a} {b}" for n, a, b in args.set)
    for name, first, second in args.set:
        per_seed = {}
        for seed in seeds:
            per_seed[seed] = measure(
                Path(first.format(seed=seed)), Path(second.format(seed=seed)), seed
            )
            print(json.dumps({name: {seed: per_seed[seed]}}), flush=True)
        values = sorted({values.pop(shared) for values in per_seed.values()})
        payload["sets"][name] = {keys[0]: first, keys[1]: second, "per_seed": per_seed,
                                 shared: "/".join(map(str, values)), "load_average": load_average(),
                                 "command": f"python benchmarks/{script} {command} --seeds {args.seeds}"}  # fmt: skip
        write_json(path, payload)
    lines = list(header)
    for name, entry in payload["sets"].items():
        lines += set_table(name, entry) + [f"Command: `{entry['command']}`", ""]
    write_markdown(args.out / f"{stem}.md", lines)
    print((args.out / f"{stem}.md").read_text())


def encoder_label(encoder) -> str:
    """A summary row's ``encoder``: ``gru-<layers>x<units>`` or ``stgcn-<width>`` (with
    ``+bones`` when ST-GCN reads bones too), from an :class:`~skelssl.models.EncoderConfig`."""
    if encoder.name == "gru":
        return f"gru-{encoder.num_layers}x{encoder.hidden_size}"
    return f"stgcn-{encoder.width:g}" + ("+bones" if encoder.use_bones else "")


def skelssl_command(*args: str) -> str:
    """``python -m skelssl ARGS`` in a child process (one thread unless ``OMP_NUM_THREADS``
    says otherwise); its stdout, or exit with the command's last stderr lines on failure."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run([sys.executable, "-m", "skelssl", *args], capture_output=True,
                          text=True, env=env)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"skelssl {' '.join(args[:2])} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


def run_finished(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished pre-training (``summary.json`` and ``last.pt``)."""
    return (run_dir / "summary.json").is_file() and (run_dir / "last.pt").is_file()


def require_nwucla(root) -> None:
    """Exit 2 with a one-line error on stderr when ``root`` (the NW-UCLA folder) is not
    there (the project's exit code for bad input)."""
    if not Path(root).is_dir():
        print(
            f"NW-UCLA not found at {root}: pass --root (see ../shared/datasets/README.md)",
            file=sys.stderr,
        )
        raise SystemExit(2)


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof 1) of per-seed numbers; std None for fewer than 2 values,
    both None for none."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else None


def paired_differences(mine: dict, theirs: dict) -> list[float]:
    """``mine[seed] − theirs[seed]`` for every seed both hold, in seed order: the paired
    difference every benchmark reports as mean ± std."""
    return [mine[seed] - theirs[seed] for seed in sorted(set(mine) & set(theirs))]


def mean_std_text(values, signed: bool = False, digits: int = 1) -> str:
    """``values`` as ``"mean ± std"`` (sample std, ddof 1; ``digits`` decimals), the mean
    with its sign when ``signed`` (for paired differences); the mean alone for one value,
    ``"-"`` for none."""
    mean, std = mean_std(list(values))
    if mean is None:
        return "-"
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


def summary_row(
    *,
    method: str,
    encoder: str,
    frames: int | None,
    seeds: list[int],
    epochs,
    minutes,
    device: str,
    linear: list[float],
    knn: list[float],
    source: str,
    paper_linear: float | None = None,
    paper_knn: float | None = None,
    **extra,
) -> dict:
    """One row of the results contract from per-seed ``linear`` / ``knn`` top-1 (percent);
    ``extra`` keys (e.g. ``note``) follow the contract's keys."""
    linear_mean, linear_std = mean_std(linear)
    knn_mean, knn_std = mean_std(knn)
    row = {
        "method": method,
        "encoder": encoder,
        "frames": frames,
        "seeds": list(seeds),
        "epochs": epochs,
        "minutes": minutes,
        "device": device,
        "linear_mean": linear_mean,
        "linear_std": linear_std,
        "knn_mean": knn_mean,
        "knn_std": knn_std,
        "paper_linear": paper_linear,
        "paper_knn": paper_knn,
        "source": source,
    }
    return {**row, **extra}


def validation_train_mask(train: SkeletonData, split: str, held_out=()) -> np.ndarray:
    """(N,) bool over NW-UCLA's training views (1+2): the validation split's training part.
    ``view``: view 1 (view 2 validates); ``subject``: the subjects not in ``held_out``."""
    if split == "view":
        return np.asarray(train.views) == 1
    return ~np.isin(np.asarray(train.subjects), list(held_out))


def merge_row(saved: Path, row: dict, key: tuple[str, ...]) -> list[dict]:
    """The rows of the results file ``saved`` (re-read: another invocation may have added
    some meanwhile) with the one that matches ``row`` on the fields ``key`` replaced by it."""
    rows = json.loads(saved.read_text())["rows"] if saved.exists() else []
    same = tuple(row[k] for k in key)
    return [r for r in rows if tuple(r[k] for k in key) != same] + [row]


def write_view1_view2(train: SkeletonData, path: Path) -> Path:
    """The validation split of NW-UCLA's training views, written as a ``given`` split to
    ``path`` (.npz): view 1 = train, view 2 = validation. ``train`` is the xview training
    part (views 1+2); view 3, the test view, is not in it. Returns ``path``."""
    return write_given(train, validation_train_mask(train, "view"), path)


def write_held_out_subjects(train: SkeletonData, path: Path, held_out: list[int]) -> Path:
    """A validation split of NW-UCLA's training views that keeps both cameras, written as a
    ``given`` split to ``path`` (.npz): views 1+2 of the subjects not in ``held_out`` =
    train, views 1+2 of ``held_out`` = validation. Unlike :func:`write_view1_view2` a
    training performance keeps its second camera (what multi-viewpoint sampling pairs); the
    validation measures new people, not a new camera. Returns ``path``."""
    return write_given(train, validation_train_mask(train, "subject", held_out), path)


def write_given(data: SkeletonData, train_mask: np.ndarray, path: Path) -> Path:
    """``data`` (prepared arrays, from ``load_dataset``) written to ``path`` (.npz, marked
    ``prepared`` so that reading it does not apply the spatial steps again) with one split,
    ``given``: ``train_mask`` (N,) bool, True = train. Returns ``path``."""
    write_npz(dataclasses.replace(data, splits={"given": train_mask}), path, prepared=True)
    return path


# ------------------------------------------------------------ reusing and resuming runs


def same_run_config(run_dir: Path, config, adjust=lambda settings: settings) -> bool:
    """True if the run saved in ``run_dir`` (:func:`saved_config`) has ``config``'s
    pre-training: :func:`comparable_settings` equal after ``adjust`` (a benchmark's own
    exceptions). The saved config is read through today's dataclasses, so a field added
    after the run compares as its default; a field since removed makes it differ."""
    return not run_config_differences(run_dir, config, adjust)


def run_config_differences(run_dir: Path, config, adjust=lambda settings: settings) -> list[str]:
    """Where the run saved in ``run_dir`` differs from ``config``'s pre-training, as
    ``key: saved -> wanted`` lines (dotted keys); ``["no readable config"]`` when the run
    records none; empty when :func:`same_run_config`."""
    try:
        saved = canonical_tree(build_config(saved_config(run_dir)))
    except SkelsslError:
        return ["no readable config"]
    ours = adjust(comparable_settings(canonical_tree(config)))
    return _tree_differences(adjust(comparable_settings(saved)), ours)


def _tree_differences(saved, wanted, prefix: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return [
            line
            for key in sorted(set(saved) | set(wanted), key=str)
            for line in _tree_differences(saved.get(key), wanted.get(key), f"{prefix}{key}.")
        ]
    return [] if saved == wanted else [f"{prefix[:-1]}: {saved!r} -> {wanted!r}"]


def saved_config(run_dir: Path) -> dict:
    """The config tree a run saved: its ``config.yaml`` (a run of the CLI's ``pretrain``),
    else the one its ``last.pt`` records (a run of :func:`skelssl.train.train` called
    directly, as ``benchmarks/ms2l/table.py`` does). Raises :class:`SkelsslError` when neither holds
    one."""
    if (run_dir / "config.yaml").is_file():
        return yaml.safe_load((run_dir / "config.yaml").read_text())
    config = load_checkpoint(run_dir / "last.pt", missing="no run here").get("config")
    if not isinstance(config, dict):
        raise SkelsslError("records no config", run_dir / "last.pt")
    return config


def canonical_tree(config) -> dict:
    """``config`` as the plain tree its ``config.yaml`` holds (YAML types)."""
    return yaml.safe_load(yaml.safe_dump(to_dict(config)))


def comparable_settings(tree: dict) -> dict:
    """A config tree without what cannot change a checkpoint: the ``evaluation`` section
    (probe settings; a field added to it later must not make a finished run look
    different), the encoder fields its encoder does not read (:func:`fields_read`), the
    spelling of ``data.root`` and of a ``params.teacher`` run folder
    (compared as resolved paths: a run linked into another work folder) and the folder of a
    ``data.name`` file (compared by content: the same split written elsewhere). The untrained
    encoder (method ``random``) compares at 0 epochs, the count ``skelssl.runs.pretrain``
    saves for it whatever it was asked."""
    settings = {key: value for key, value in tree.items() if key != "evaluation"}
    if settings.get("method") == "random":
        settings["train"] = {**(settings.get("train") or {}), "epochs": 0, "min_steps": 0}
    data = dict(settings.get("data") or {})
    if data.get("root"):
        data["root"] = str(Path(data["root"]).resolve())
    if data.get("name") and Path(data["name"]).is_file():
        data["name"] = hashlib.sha256(Path(data["name"]).read_bytes()).hexdigest()
    params = dict(settings.get("params") or {})
    if isinstance(params.get("teacher"), str) and Path(params["teacher"]).is_dir():
        params["teacher"] = str(Path(params["teacher"]).resolve())
    return {**settings, "data": data, "params": params, "encoder": fields_read(settings)}


def fields_read(settings: dict) -> dict:
    """The ``encoder`` section without the fields its encoder does not read
    (:data:`skelssl.models.ENCODER_FIELDS`): a GRU run is the same run whatever its
    ``width`` says. An encoder name not listed there keeps every field."""
    encoder = dict(settings.get("encoder") or {})
    read = ENCODER_FIELDS.get(encoder.get("name"))
    if read is None:
        return encoder
    return {key: value for key, value in encoder.items() if key == "name" or key in read}


def finished_with(run_dir: Path, config, adjust=lambda settings: settings) -> bool:
    """True if ``run_dir`` holds a finished run (a ``summary.json``) of ``config``'s
    pre-training (:func:`same_run_config`, with ``adjust``)."""
    finished = (run_dir / "summary.json").is_file()
    return finished and same_run_config(run_dir, config, adjust)


def resumable_with(run_dir: Path, config, adjust=lambda settings: settings) -> bool:
    """True if ``run_dir`` holds an unfinished run (a ``last.pt``, no ``summary.json``: a
    process stopped mid-run) of ``config``'s pre-training (:func:`same_run_config`)."""
    unfinished = (run_dir / "last.pt").is_file() and not (run_dir / "summary.json").exists()
    return unfinished and same_run_config(run_dir, config, adjust)


def pretrain_reusing(
    config, run_dir: Path, reuse: bool, pretrain, adjust=lambda settings: settings,
    quiet: bool = True, say=lambda text: None,
) -> tuple[dict, str]:  # fmt: skip
    """Pre-train ``config`` into ``run_dir`` with ``pretrain`` (:func:`skelssl.runs.pretrain`
    or a stand-in); (summary, how). With ``reuse`` a finished run of the same config is kept
    (how ``"kept"``: its ``summary.json``) and an unfinished one resumes from its ``last.pt``
    (``"resumed"``); otherwise the folder is trained afresh (``"trained"``). Configs compare
    by :func:`same_run_config` with ``adjust``; ``say`` hears which way a run goes before it
    trains (a finished run of another config is replaced, and ``say`` hears where it
    differed). A run linked in from another folder is never deleted: a link to a run of
    another config stops the benchmark."""
    if reuse and finished_with(run_dir, config, adjust):
        say(f"reusing the finished run in {run_dir}")
        return json.loads((run_dir / "summary.json").read_text()), "kept"
    if reuse and resumable_with(run_dir, config, adjust):  # a process stopped mid-run
        say(f"resuming the unfinished run in {run_dir}")
        return pretrain(config, run_dir, resume=True, quiet=quiet), "resumed"
    if run_dir.is_symlink():
        raise SystemExit(
            f"{run_dir} links to a run whose pre-training differs from this config"
            " (an override that reaches this phase?): not retraining over a linked run"
        )
    if run_dir.exists():
        differences = run_config_differences(run_dir, config, adjust) if reuse else []
        say(
            "retraining, the saved run differs: " + "; ".join(differences)
            if differences
            else "retraining"
        )
        shutil.rmtree(run_dir)
    say(f"{config.train.epochs} epochs")
    return pretrain(config, run_dir, quiet=quiet), "trained"
