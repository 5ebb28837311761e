"""The NW-UCLA summary: one row per method and strategy, from every paper's results.

The ``summary_rows`` of every ``benchmarks/<paper>/results/nwucla_*.json`` (``ms2l``,
``crrl``, ``byol``, ``simclr``, ``baselines``; a row with an ``input`` field shows it beside
its method) plus the random / supervised / simclr rows of the baselines'
``nwucla.json`` go to ``benchmarks/results/nwucla_summary.json`` (``{"rows": [...]}``) and
``nwucla_summary.md``, and the README's table between ``<!-- nwucla-summary:start -->`` and
``<!-- nwucla-summary:end -->`` is regenerated from its headline rows: one per shipped config
(:data:`HEADLINES`: the results file that ran it unchanged, all its seeds, the untrained
encoder beside it). A per-method file without
``summary_rows`` yet gets rows derived from its own rows (marked with a ``note``). Nothing
is trained: this only reads result files.

    python benchmarks/summary.py                  # nwucla_summary.json/.md + README table
    python benchmarks/summary.py --readme none    # the summary files only
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.nwucla import CONFIGS, PAPER_LINEAR
from benchmarks.common import (
    BENCHMARKS,
    REPO,
    encoder_label,
    git_state,
    summary_row,
    write_json,
    write_markdown,
)
from skelssl.config import load_config
from skelssl.models import EncoderConfig
from skelssl.typed import from_dict

# folders whose nwucla_*.json carry summary_rows (baselines: nwucla_2d.json, 3D against 2D;
# carryover: the recipes on smaller NW-UCLA variants, with train_fraction)
PAPERS = ("ms2l", "crrl", "byol", "simclr", "baselines", "carryover")
BASELINES = ("baselines", "simclr")  # folders whose nwucla.json holds fixed-budget rows


@dataclass(frozen=True)
class Headline:
    """A shipped config (``configs/nwucla/<config>.yaml``) and the results file whose rows ran
    it unchanged on NW-UCLA cross-view: its trained row (``method``, and ``stream`` for a
    file with streams) and the untrained encoder's row (method ``random``) beside it."""

    config: str
    source: str  # relative to benchmarks/
    method: str
    stream: str | None = None


# The results contract's headline: one row per shipped config, all its seeds.
HEADLINES = (
    Headline("recommended", "simclr/results/nwucla_recommended.json", "simclr",
             "joint+bone+motion"),
    Headline("simclr", "simclr/results/nwucla_recommended.json", "simclr", "joint"),
    Headline("simclr", "baselines/results/nwucla.json", "simclr"),  # one seed, while the above is missing
    Headline("byol", "byol/results/nwucla_byol_2x128.json", "byol"),
    Headline("ms2l", "ms2l/results/nwucla_ms2l_9_seeds.json", "ms2l"),
    Headline("crrl", "crrl/results/nwucla_crrl/crrl_width_256_full.json", "crrl"),
    Headline("crrl-ser", "crrl/results/nwucla_crrl/crrl_width_256_full_decoder_256.json",
             "crrl-ser"),
    Headline("crrl-cml", "crrl/results/nwucla_crrl/crrl_width_256_full.json", "crrl-cml"),
    Headline("supervised", "baselines/results/nwucla.json", "supervised"),
)  # fmt: skip

SUMMARY_START = "<!-- nwucla-summary:start -->"
SUMMARY_END = "<!-- nwucla-summary:end -->"
PAPER_KNN: dict[str, float] = {}  # none of the seed papers reports NW-UCLA kNN


def baseline_summary_rows(path: Path) -> list[dict]:
    """random / supervised / simclr rows of a baselines ``nwucla.json`` (one seed each: std
    None); encoder and frames from the method's ``configs/nwucla`` file."""
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


def result_files(benchmarks: Path) -> list[Path]:
    """Every ``<benchmarks>/<paper>/results/nwucla_*.json`` of :data:`PAPERS`, in file-name
    order (the order the summary lists them)."""
    found = [p for paper in PAPERS for p in (benchmarks / paper / "results").glob("nwucla_*.json")]
    return sorted(found, key=lambda path: (path.name, str(path)))


def collect_summary_rows(benchmarks: Path = BENCHMARKS) -> list[dict]:
    """The baseline rows, then every paper's ``nwucla_<method>.json``'s ``summary_rows`` (or
    rows derived from its own rows while it has none), files in name order."""
    rows = []
    for folder in BASELINES:
        rows += baseline_summary_rows(benchmarks / folder / "results" / "nwucla.json")
    for path in result_files(benchmarks):
        rows += [{**r, "source": r.get("source") or path.name} for r in file_rows(path)]
    return without_repeats(rows)


def file_rows(path: Path) -> list[dict]:
    """One results file's summary rows (a baselines ``nwucla.json``: its fixed-budget rows)."""
    if path.name == "nwucla.json":
        return baseline_summary_rows(path)
    payload = json.loads(path.read_text())
    return payload.get("summary_rows") or derived_summary_rows(path, payload)


def headline_rows(benchmarks: Path = BENCHMARKS, headlines=HEADLINES) -> list[dict]:
    """Per config, the first :class:`Headline` whose file and row exist: the trained row with ``config`` and
    ``headline`` set and the untrained encoder's numbers (``untrained_*``) beside it."""
    found = []
    for headline in headlines:
        if any(row["config"] == headline.config for row in found):
            continue  # the first source found for a config is its headline
        path = benchmarks / headline.source
        rows = file_rows(path) if path.exists() else []
        trained = [r for r in rows if r["method"] == headline.method
                   and r.get("stream") == headline.stream and not r.get("input")]  # fmt: skip
        if not trained:
            continue
        row = trained[0]
        untrained = [r for r in rows if r["method"] == "random" and r["encoder"] == row["encoder"]
                     and r.get("stream") == headline.stream and not r.get("input")]  # fmt: skip
        base = untrained[0] if untrained else {}
        found.append({
            **row, "config": headline.config, "headline": True, "source": headline.source,
            "untrained_linear_mean": base.get("linear_mean"),
            "untrained_knn_mean": base.get("knn_mean"),
        })  # fmt: skip
    return found


def headline_markdown(rows: list[dict]) -> str:
    """The headline rows as the README's table (percent; mean ± std over seeds)."""
    lines = [
        "| recipe (`configs/nwucla/`) | method | encoder | seeds | linear top-1 % "
        "| kNN top-1 % (k=1, cosine) | untrained encoder, linear / kNN | paper linear % "
        "| source (`benchmarks/`) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        method = row["method"] + (f" ({row['stream']})" if row.get("stream") else "")
        untrained = (f"{_percent(row.get('untrained_linear_mean'), None)} / "
                     f"{_percent(row.get('untrained_knn_mean'), None)}")  # fmt: skip
        cells = [
            f"`{row['config']}.yaml`", method, row["encoder"], len(row.get("seeds") or []),
            _percent(row.get("linear_mean"), row.get("linear_std")),
            _percent(row.get("knn_mean"), row.get("knn_std")), untrained,
            "–" if row.get("paper_linear") is None else f"{row['paper_linear']:.1f}",
            f"`{row['source']}`",
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


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
            row["method"] + (f" ({row['input']})" if row.get("input") else ""),
            row["encoder"], row.get("frames"), len(seeds), row.get("epochs"),
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


def commit_line() -> str:
    """The Markdown file's last line: the commit it was generated at (and a dirty tree)."""
    state = git_state()
    dirty = " (with uncommitted changes)" if state["dirty"] else ""
    return f"Generated at commit `{state['commit']}`{dirty}."


def write_summary(
    benchmarks: Path, readme: Path | None, out: Path | None = None, headlines=HEADLINES
) -> list[dict]:
    """``nwucla_summary.json`` / ``.md`` (in ``out``, default ``<benchmarks>/results``) from
    the per-paper results under ``benchmarks``: the ``headline`` rows (one per shipped
    config, :data:`HEADLINES`) and every file's ``rows``; the README's table (the headline
    rows, when ``readme`` is given) regenerated. Returns the rows."""
    out = benchmarks / "results" if out is None else out
    rows = collect_summary_rows(benchmarks)
    headline = headline_rows(benchmarks, headlines)
    write_json(out / "nwucla_summary.json", {"headline": headline, "rows": rows})
    notes = [f"- {r['method']} ({r['source']}): {r['note']}" for r in rows if r.get("note")]
    write_markdown(
        out / "nwucla_summary.md",
        ["# NW-UCLA cross-view: one row per method and strategy", "",
         "Generated by `python benchmarks/summary.py` from the per-paper results files "
         "(linear probe and kNN on the frozen encoder, view 3; mean ± std over seeds).", "",
         "## Headline: each shipped config, run unchanged", "", headline_markdown(headline), "",
         "## Every row", "", summary_markdown(rows), "", *notes, "", commit_line()],
    )  # fmt: skip
    if readme is not None:
        readme.write_text(replace_between_markers(readme.read_text(), headline_markdown(headline)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS,
                        help="the folder holding <paper>/results/")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="default <benchmarks>/results")
    parser.add_argument("--readme", default=str(REPO / "README.md"), help="'none': no README")
    args = parser.parse_args(argv)
    readme = None if args.readme == "none" else Path(args.readme)
    rows = write_summary(args.benchmarks, readme, args.out)
    out = args.out or args.benchmarks / "results"
    print(
        f"{len(rows)} rows -> {out / 'nwucla_summary.json'}" + (f" and {readme}" if readme else "")
    )


if __name__ == "__main__":
    main()
