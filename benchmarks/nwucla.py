"""NW-UCLA cross-view benchmark: pre-train on views 1+2 (labels unused), test on view 3.

For each method: pre-train with a fixed wall-clock budget on this machine's CPU cores,
then a linear probe and kNN (k=1, cosine) on view 3, with features of the frozen
encoder. ``random`` is the untrained encoder; ``supervised`` trains the encoder and a
linear classifier with labels (its row reports its own classifier on view 3 as well).
Nothing is selected on view 3: final-epoch numbers.

Results merge into ``benchmarks/results/nwucla.json`` (one row per method) and the
Markdown table ``benchmarks/results/nwucla.md`` is rewritten from it, with a second table
of the seed papers' main rows (MS²L, CRRL, Skeleton BYOL) read from the results of their
own benchmarks (``nwucla_ms2l.py``, ``nwucla_crrl.py``, ``nwucla_byol.py``, which also
write their ablations and plots).

``--summary`` writes the results contract (HELPERS.md): the ``summary_rows`` of every
``benchmarks/results/nwucla_*.json`` plus the random / supervised / simclr rows of
``nwucla.json`` go to ``nwucla_summary.json`` (``{"rows": [...]}``) and
``nwucla_summary.md``, and the README's table between ``<!-- nwucla-summary:start -->``
and ``<!-- nwucla-summary:end -->`` is regenerated from them. A per-method file without
``summary_rows`` yet gets rows derived from its own rows (marked with a ``note``).

    python benchmarks/nwucla.py --root ../shared/datasets/nw-ucla/all_sqe \
        --methods random,supervised,simclr --budget-minutes 25
    python benchmarks/nwucla.py --root ... --speed      # sequences/s of the pretrain step
    python benchmarks/nwucla.py --summary               # nwucla_summary.json/.md + README table
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from pathlib import Path

import torch

from common import (
    NWUCLA_ROOT,
    REPO,
    encoder_label,
    machine,
    require_nwucla,
    summary_row,
    write_json,
    write_markdown,
)
from skelssl.config import load_config
from skelssl.data.types import DataSpec
from skelssl.evaluation.features import predict
from skelssl.evaluation.generic import knn, linear_probe
from skelssl.evaluation.metrics import classification_accuracy
from skelssl.methods import build_method
from skelssl.models import EncoderConfig
from skelssl.optim import build_optimizer
from skelssl.report import markdown_table
from skelssl.runs import load_run, pretrain
from skelssl.train import resolve_device
from skelssl.typed import from_dict

DEFAULT_ROOT = NWUCLA_ROOT
CONFIGS = REPO / "configs" / "nwucla"
PAPER_LINEAR = {"ms2l": 76.81, "crrl": 83.8}  # seed papers' NW-UCLA linear figures


def run_config(method: str, root: Path, budget_seconds: float, overrides: list[str]):
    path = CONFIGS / f"{method}.yaml"
    base = [
        "data.name=nw-ucla",
        "data.split=xview",
        f"data.root={root}",
        f"train.time_budget={budget_seconds}",
    ]
    return load_config(method, path if path.exists() else None, [*base, *overrides])


class EncoderWithClassifier(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Module, classifier: torch.nn.Module):
        super().__init__()
        self.encoder, self.classifier = encoder, classifier

    def forward(self, joints: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.encoder(joints, lengths))


def supervised_top1(run) -> float | None:
    """Top-1 % of a supervised run's own classifier on the test split, if it has one."""
    classifier = getattr(run.method, "classifier", None)
    if classifier is None:
        return None
    _, test = run.data.split(run.split)
    logits = predict(EncoderWithClassifier(run.encoder, classifier), test)
    return classification_accuracy(logits, test.labels)["top1"]


def benchmark_method(method: str, args) -> dict:
    run_dir = Path(args.work) / method
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = run_config(method, args.root, args.budget_minutes * 60, args.overrides)
    started = time.time()
    summary = pretrain(config, run_dir, quiet=args.quiet)
    pretrain_minutes = (time.time() - started) / 60
    run = load_run(run_dir, quiet=True)
    train, test = run.data.split(run.split)
    linear = linear_probe(run.encoder, train, test, run.config.evaluation, quiet=True)
    nearest = knn(run.encoder, train, test, run.config.evaluation, quiet=True)
    row = {
        "method": method,
        "encoder": f"{config.encoder.name}",
        "epochs": summary.get("epochs"),
        "pretrain_minutes": round(pretrain_minutes, 1),
        "linear_top1": linear["top1"],
        "knn_top1": nearest["top1"],
        "knn": f"k={nearest['k']} {nearest['metric']}",
        "n_train": linear["n_train"],
        "n_test": linear["n_test"],
        "seq_per_s": summary.get("seq_per_s"),
        "command": f"python benchmarks/nwucla.py --methods {method} --budget-minutes {args.budget_minutes}",
    }
    own = supervised_top1(run) if method == "supervised" else None
    if own is not None:
        row["classifier_top1"] = own
    if method in PAPER_LINEAR:
        row["paper_linear_top1"] = PAPER_LINEAR[method]
    return row


def pretrain_step_speed(root: Path, encoder: list[str], batch_size: int, steps: int = 10) -> float:
    """Sequences/s of one full SimCLR pretrain step: augment + forward + backward + optimiser."""
    config = load_config("simclr", CONFIGS / "simclr.yaml", [f"data.root={root}", *encoder])
    from skelssl.data.cache import load_dataset

    data = load_dataset(config.data, quiet=True)
    method = build_method("simclr", config.params, config.encoder, DataSpec.of(data))
    optimizer = build_optimizer(method, config.train)
    generator = torch.Generator().manual_seed(0)
    batch = {
        "joints": torch.from_numpy(data.joints[:batch_size].copy()),
        "lengths": torch.from_numpy(data.lengths[:batch_size].copy()),
        "labels": torch.from_numpy(data.labels[:batch_size].copy()),
        "index": torch.arange(batch_size),
        "generator": generator,
    }
    for step in range(steps + 2):
        if step == 2:
            started = time.perf_counter()
        optimizer.zero_grad()
        method.loss(batch)["loss"].backward()
        optimizer.step()
    return round(batch_size * steps / (time.perf_counter() - started), 1)


def write_results(rows: dict, speed: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine(resolve_device("auto")),
        "rows": rows,
        "pretrain_step_speed": speed,
    }
    write_json(out / "nwucla.json", payload)
    table = markdown_table(
        list(rows.values()),
        ["method", "encoder", "epochs", "pretrain_minutes", "linear_top1", "knn_top1", "classifier_top1", "paper_linear_top1"],
        ["method", "encoder", "epochs", "pre-train min", "linear top-1 %", "kNN top-1 % (k=1, cosine)", "own classifier %", "paper linear %"],
    )  # fmt: skip
    lines = [
        "# NW-UCLA cross-view (train views 1+2, test view 3)",
        "",
        f"Machine: {payload['machine']}. Commands: REPRODUCE.md.",
        "",
        table,
        "",
        "The seed papers' rows (MS²L, CRRL, Skeleton BYOL, each beside its untrained encoder) "
        "come from their own benchmarks: `nwucla_summary.md` (`python benchmarks/nwucla.py "
        "--summary`) gathers every results file's `summary_rows`.",
        "",
    ]
    if speed:
        lines += [
            "Pretrain step throughput (SimCLR: augment + forward + backward + optimiser):",
            "",
        ]
        lines += [f"- {name}: {value} sequences/s" for name, value in speed.items()]
    write_markdown(out / "nwucla.md", lines)


# ---------------------------------------------------------------- the results contract
SUMMARY_START = "<!-- nwucla-summary:start -->"
SUMMARY_END = "<!-- nwucla-summary:end -->"
PAPER_KNN: dict[str, float] = {}  # none of the seed papers reports NW-UCLA kNN


def baseline_summary_rows(out: Path) -> list[dict]:
    """random / supervised / simclr rows of ``nwucla.json`` (one seed each: std None);
    encoder and frames from the method's ``configs/nwucla`` file."""
    path = out / "nwucla.json"
    if not path.exists():
        return []
    payload = json.loads(path.read_text())
    device = payload.get("machine", {}).get("device", "cpu")
    rows = []
    for method, row in payload.get("rows", {}).items():
        file = CONFIGS / f"{method}.yaml"
        config = load_config(method, file if file.exists() else None)
        rows.append(
            summary_row(
                method=method,
                encoder=encoder_label(config.encoder),
                frames=config.data.preprocess.frames,
                seeds=[config.train.seed],
                epochs=row.get("epochs"),
                minutes=row.get("pretrain_minutes"),
                device=device,
                linear=[row.get("linear_top1")],
                knn=[row.get("knn_top1")],
                paper_linear=PAPER_LINEAR.get(method),
                paper_knn=PAPER_KNN.get(method),
                source=path.name,
            )  # fmt: skip
        )
    return rows


def derived_summary_rows(path: Path, payload: dict) -> list[dict]:
    """Rows for a seed paper's results file written before ``summary_rows`` existed, from its
    own rows: ms2l (MS²L, Rand-U, Jointly), crrl (crrl, random), byol (longest ours, random)."""
    method = path.stem.removeprefix("nwucla_")
    machine_info = payload.get("machine")
    device = machine_info.get("device", "cpu") if isinstance(machine_info, dict) else "cpu"
    note = "derived from the file's rows (it has no summary_rows yet); one seed"

    def row(name, encoder, frames, source_row, *, linear_key="linear_top1", extra_note=""):
        return summary_row(
            method=name, encoder=encoder, frames=frames, seeds=[0],
            epochs=source_row.get("epochs"), minutes=source_row.get("pretrain_minutes"),
            device=device, linear=[source_row.get(linear_key)], knn=[source_row.get("knn_top1")],
            paper_linear=PAPER_LINEAR.get(name), paper_knn=PAPER_KNN.get(name),
            source=path.name, note=note + extra_note,
        )  # fmt: skip

    if method == "ms2l":
        config = payload.get("config", {})
        encoder = encoder_label(from_dict(EncoderConfig, config.get("encoder"), "encoder"))
        frames = config.get("data", {}).get("preprocess", {}).get("frames")
        by_name = {r["row"]: r for r in payload.get("rows", [])}
        rows = []
        if "MS²L" in by_name:
            rows.append(row("ms2l", encoder, frames, by_name["MS²L"]))
        if "Rand-U" in by_name:
            rows.append(row("random", encoder, frames, by_name["Rand-U"]))
        if "Jointly" in by_name:
            jointly = by_name["Jointly"]
            rows.append(
                row("ms2l-jointly", encoder, frames, jointly, linear_key="none",
                    extra_note="; Jointly trains with labels: its own classifier reaches "
                    f"{jointly.get('classifier_top1', float('nan')):.1f} % (no linear/kNN)")
            )  # fmt: skip
        return rows
    if method == "crrl":
        config = load_config("crrl", CONFIGS / "crrl.yaml", payload.get("overrides", []))
        encoder, frames = encoder_label(config.encoder), config.data.preprocess.frames
        found = payload.get("rows", {})
        return [row(name, encoder, frames, found[key])
                for name, key in (("crrl", "crrl"), ("random", "random")) if key in found]  # fmt: skip
    if method == "byol":
        rows = []
        by_run = {r["run"]: r for r in payload.get("rows", [])}
        ours = [by_run[name] for name in ("ours", "ours-long") if name in by_run]
        longest = max(ours, key=lambda r: r.get("pretrain_minutes") or 0, default=None)
        for name, source_row in (("byol", longest), ("random", by_run.get("random"))):
            if source_row is not None:
                encoder = byol_encoder_label(source_row.get("encoder", ""))
                rows.append(row(name, encoder, source_row.get("frames"), source_row,
                                linear_key="probe_top1"))  # fmt: skip
        return rows
    return []


def byol_encoder_label(text: str) -> str:
    """``"stgcn x0.25 joints+bones"`` (nwucla_byol.json's rows) -> ``"stgcn-0.25+bones"``."""
    width = re.search(r"x([0-9.]+)", text)
    return f"stgcn-{width.group(1) if width else '?'}" + ("+bones" if "bones" in text else "")


def collect_summary_rows(out: Path) -> list[dict]:
    """The baseline rows, then every ``nwucla_<method>.json``'s ``summary_rows`` (or rows
    derived from its own rows while it has none), files in name order."""
    rows = baseline_summary_rows(out)
    for path in sorted(out.glob("nwucla_*.json")):
        if path.name == "nwucla_summary.json":
            continue
        payload = json.loads(path.read_text())
        if "summary_rows" in payload:
            rows += [{**r, "source": r.get("source") or path.name} for r in payload["summary_rows"]]
        else:
            rows += derived_summary_rows(path, payload)
    return without_repeats(rows)


def without_repeats(rows: list[dict]) -> list[dict]:
    """The rows less those that repeat an earlier row's measurement (every key but
    ``source``): a baseline that two benchmarks report from the same runs is listed once."""
    kept, seen = [], set()
    for row in rows:
        key = json.dumps({k: v for k, v in row.items() if k != "source"}, sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def _percent(mean, std) -> str:
    if mean is None:
        return "–"
    return f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "")


def summary_markdown(rows: list[dict]) -> str:
    """The summary rows as one Markdown table (percent; mean ± std over seeds)."""
    lines = [
        "| method | encoder | frames | seeds | epochs | minutes | device | linear top-1 % "
        "| kNN top-1 % (k=1, cosine) | paper linear % | source |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        seeds = row.get("seeds") or []
        cells = [
            row["method"], row["encoder"], row.get("frames"), len(seeds), row.get("epochs"),
            row.get("minutes"), row.get("device"),
            _percent(row.get("linear_mean"), row.get("linear_std")),
            _percent(row.get("knn_mean"), row.get("knn_std")),
            "–" if row.get("paper_linear") is None else f"{row['paper_linear']:.1f}",
            f"`{row['source']}`",
        ]  # fmt: skip
        lines.append("| " + " | ".join("–" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def replace_between_markers(text: str, table: str) -> str:
    """``text`` with what stands between the summary markers replaced by ``table``."""
    start, end = text.find(SUMMARY_START), text.find(SUMMARY_END)
    if start < 0 or end < start:
        raise SystemExit(f"the README has no {SUMMARY_START} ... {SUMMARY_END} markers")
    return text[: start + len(SUMMARY_START)] + "\n" + table + "\n" + text[end:]


def write_summary(out: Path, readme: Path | None) -> list[dict]:
    """``nwucla_summary.json`` / ``.md`` from the results in ``out``; the README's table
    (when ``readme`` is given) regenerated. Returns the rows."""
    rows = collect_summary_rows(out)
    write_json(out / "nwucla_summary.json", {"rows": rows})
    table = summary_markdown(rows)
    notes = [f"- {r['method']} ({r['source']}): {r['note']}" for r in rows if r.get("note")]
    write_markdown(
        out / "nwucla_summary.md",
        ["# NW-UCLA cross-view: one row per method and strategy", "",
         "Generated by `python benchmarks/nwucla.py --summary` from the results files "
         "(linear probe and kNN on the frozen encoder, view 3; mean ± std over seeds).", "",
         table, "", *notes],
    )  # fmt: skip
    if readme is not None:
        readme.write_text(replace_between_markers(readme.read_text(), table))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--methods", default="random,supervised,simclr")
    parser.add_argument("--budget-minutes", type=float, default=25.0)
    parser.add_argument("--work", default=os.environ.get("SKELSSL_BENCH_WORK", "runs/bench-nwucla"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--speed", action="store_true", help="measure pretrain-step throughput")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--summary", action="store_true", help="write nwucla_summary.json/.md and README's table"
    )
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every method")
    args = parser.parse_args()
    if args.summary:
        rows = write_summary(args.out, args.readme)
        print(f"{len(rows)} rows -> {args.out / 'nwucla_summary.json'} and {args.readme}")
        return
    require_nwucla(args.root)
    previous = args.out / "nwucla.json"
    state = json.loads(previous.read_text()) if previous.exists() else {}
    rows, speed = state.get("rows", {}), state.get("pretrain_step_speed", {})
    for method in [m for m in args.methods.split(",") if m]:
        rows[method] = benchmark_method(method, args)
        print(json.dumps(rows[method]))
        write_results(rows, speed, args.out)
    if args.speed:
        speed["gru (2x256 bi)"] = pretrain_step_speed(
            args.root, ["encoder.preset=gru-crrl", "encoder.dropout=0.0"], 128
        )
        speed["stgcn 0.25x"] = pretrain_step_speed(args.root, ["encoder.preset=stgcn-0.25"], 64)
        write_results(rows, speed, args.out)
    print((args.out / "nwucla.md").read_text())


if __name__ == "__main__":
    main()
