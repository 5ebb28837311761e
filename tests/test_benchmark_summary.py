"""benchmarks/summary.py: the results contract collected from a tiny fake benchmarks tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def summary(import_benchmark):
    return import_benchmark("summary")


def fake_results(folder: Path) -> None:
    """A fake ``benchmarks/`` tree: baselines, crrl and byol results, a stale summary."""
    for sub in ("baselines", "crrl", "byol", "results"):
        (folder / sub / "results" if sub != "results" else folder / sub).mkdir(parents=True)
    baseline = {"epochs": 0, "pretrain_minutes": 0.0, "linear_top1": 60.0, "knn_top1": 55.0}
    (folder / "baselines" / "results" / "nwucla.json").write_text(
        json.dumps({"machine": {"device": "cpu"}, "rows": {"random": baseline}})
    )
    contract_row = {
        "method": "crrl", "encoder": "gru-2x256", "frames": 50, "seeds": [0, 1, 2],
        "epochs": 100, "minutes": 9.5, "device": "cpu", "linear_mean": 80.0, "linear_std": 1.5,
        "knn_mean": 75.0, "knn_std": 2.0, "paper_linear": 83.8, "paper_knn": None,
        "source": "nwucla_crrl.json",
    }  # fmt: skip
    (folder / "crrl" / "results" / "nwucla_crrl.json").write_text(
        json.dumps({"summary_rows": [contract_row]})
    )
    byol_rows = [
        {"run": "random", "encoder": "stgcn x0.25 joints+bones", "frames": 32, "epochs": 0,
         "pretrain_minutes": 0.0, "probe_top1": 62.5, "knn_top1": 58.0},
        {"run": "ours", "encoder": "stgcn x0.25 joints+bones", "frames": 32, "epochs": 24,
         "pretrain_minutes": 5.1, "probe_top1": 42.5, "knn_top1": 49.8},
    ]  # fmt: skip
    (folder / "byol" / "results" / "nwucla_byol.json").write_text(
        json.dumps({"machine": "x", "rows": byol_rows})
    )
    (folder / "results" / "nwucla_summary.json").write_text(json.dumps({"rows": ["stale"]}))


def test_summary_collects_contract_rows_derives_old_files_and_rewrites_the_readme(
    summary, tmp_path
):
    results = tmp_path / "benchmarks"
    fake_results(results)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{summary.SUMMARY_START}\nold table\n{summary.SUMMARY_END}\nafter\n")
    headlines = (
        summary.Headline("crrl", "crrl/results/nwucla_crrl.json", "crrl"),
        summary.Headline("byol", "byol/results/nwucla_byol.json", "byol"),
        summary.Headline("byol", "byol/results/elsewhere.json", "byol"),  # the first found wins
        summary.Headline("simclr", "simclr/results/missing.json", "simclr"),  # not run: no row
    )
    rows = summary.write_summary(results, readme, headlines=headlines)
    payload = json.loads((results / "results" / "nwucla_summary.json").read_text())
    written = payload["rows"]
    headline = payload["headline"]
    assert [(r["config"], r["method"], r["headline"]) for r in headline] == [
        ("crrl", "crrl", True), ("byol", "byol", True)]  # fmt: skip
    assert headline[1]["untrained_linear_mean"] == 62.5  # the random row of the same file
    assert headline[0]["untrained_linear_mean"] is None  # the file has no untrained row
    assert written == rows and [r["method"] for r in rows] == ["random", "byol", "random", "crrl"]
    from benchmarks.common import SUMMARY_KEYS  # the repo root is on the path (fixture)

    for row in rows:
        assert set(SUMMARY_KEYS) <= set(row)
    crrl = rows[-1]
    assert (crrl["linear_mean"], crrl["linear_std"], crrl["seeds"]) == (80.0, 1.5, [0, 1, 2])
    byol = rows[1]
    assert byol["encoder"] == "stgcn-0.25+bones" and byol["linear_mean"] == 42.5
    assert byol["linear_std"] is None and "derived" in byol["note"]
    assert rows[0]["source"] == "nwucla.json" and rows[0]["encoder"].startswith("gru-")
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("after\n")
    assert "| `crrl.yaml` | crrl | gru-2x256 | 3 | 80.0 ± 1.5 | 75.0 ± 2.0 | – / – | 83.8 |" in text
    assert "| `byol.yaml` | byol | stgcn-0.25+bones | 1 | 42.5 | 49.8 | 62.5 / 58.0 |" in text
    assert "| random |" not in text  # README: the headline rows only
    assert "| method |" in (results / "results" / "nwucla_summary.md").read_text()


def test_summary_lists_a_measurement_reported_by_two_files_once(summary, tmp_path):
    results = tmp_path / "benchmarks"
    fake_results(results)
    (results / "ms2l" / "results").mkdir(parents=True)
    repeated = json.loads((results / "crrl" / "results" / "nwucla_crrl.json").read_text())[
        "summary_rows"
    ][0]
    other = {**repeated, "method": "random", "linear_mean": 50.0}
    (results / "ms2l" / "results" / "nwucla_crrl_again.json").write_text(
        json.dumps({"summary_rows": [{**repeated, "source": "nwucla_crrl_again.json"}, other]})
    )
    rows = summary.collect_summary_rows(results)
    assert [r["method"] for r in rows] == ["random", "byol", "random", "crrl", "random"]
    assert rows[3]["source"] == "nwucla_crrl.json"  # the first file's row is kept


def test_summary_without_readme_markers_is_refused(summary, tmp_path):
    results = tmp_path / "benchmarks"
    fake_results(results)
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        summary.write_summary(results, readme)
    assert readme.read_text() == "no markers\n"


def test_missing_nwucla_root_is_one_line_and_exit_code_2(summary, tmp_path, capsys):
    from benchmarks.common import require_nwucla  # the repo root is on the path (fixture)

    with pytest.raises(SystemExit) as stop:
        require_nwucla(tmp_path / "absent")
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "absent" in error and "--root" in error


def test_the_summary_json_records_its_provenance(summary, tmp_path):
    results = tmp_path / "benchmarks"
    fake_results(results)
    summary.write_summary(results, None)
    written = json.loads((results / "results" / "nwucla_summary.json").read_text())
    assert set(written["provenance"]) >= {"commit", "dirty", "command", "configs", "seeds"}
    assert written["provenance"]["command"].startswith("python ")
