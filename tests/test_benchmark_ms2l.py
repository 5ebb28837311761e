"""benchmarks/ms2l/diagnostics/contrastive.py's diagnosis statistics; nwucla_ms2l.py's rows."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from unittest import mock

import pytest
import torch

from skelssl.data.types import DataSpec
from skelssl.methods import build_method
from skelssl.models import EncoderConfig


@pytest.fixture
def diagnosis(import_benchmark):
    return import_benchmark("ms2l.diagnostics.contrastive")


def test_identical_views_of_orthogonal_clips_sit_on_the_orthogonal_floor(diagnosis):
    clips = torch.eye(4)  # four clips, orthogonal projections
    views = clips.expand(3, 4, 4)  # M = 3 identical views of each
    wrong = torch.roll(torch.arange(4), 1)
    stats = diagnosis.batch_stats(views, 1.0, wrong)
    assert stats["loss"] == pytest.approx(math.log(math.e + 3) - 1, abs=1e-5)
    assert stats["loss"] == pytest.approx(stats["floor_orthogonal"], abs=1e-5)
    assert stats["floor_actual"] == pytest.approx(stats["floor_orthogonal"], abs=1e-5)
    assert stats["positive_cos"] == pytest.approx(1.0) and stats["top1"] == 1.0
    assert stats["negative_cos"] == pytest.approx(0.0, abs=1e-6)
    assert stats["loss_wrong_partner"] == pytest.approx(stats["loss"] + 1.0)  # cos 0, not 1


def test_pair_stats_finds_each_clip_and_reports_long_clips_apart(diagnosis):
    a = torch.eye(3)
    b = torch.eye(3) + 0.1  # the same clips, a little off
    stats = diagnosis.pair_stats(a, b, torch.tensor([False, True, False]))
    assert stats["top1"] == 1.0
    assert stats["same"] > stats["other"]
    assert stats["same_long"] == pytest.approx(stats["same"])  # the three are alike
    assert math.isnan(diagnosis.pair_stats(a, b, torch.zeros(3, dtype=torch.bool))["same_long"])


def test_measure_sees_the_views_the_training_loss_sees(diagnosis):
    spec = DataSpec(layout="kinect-v1-20", num_classes=3, frames=12, bodies=1, channels=3)
    torch.manual_seed(0)
    method = build_method(
        "ms2l", {"observed_frames": 4}, EncoderConfig(name="gru", hidden_size=6), spec
    )
    generator = torch.Generator().manual_seed(0)
    joints = torch.randn(8, 12, 1, 20, 3, generator=generator)
    lengths = torch.tensor([12, 9, 12, 7, 5, 12, 3, 10])
    joints[torch.arange(12)[None, :] >= lengths[:, None]] = 0.0
    data = SimpleNamespace(joints=joints.numpy(), lengths=lengths.numpy())
    stats = diagnosis.measure(method, data, batch_size=4, seed=0)  # raises if L_c differs
    assert stats["chance"] == pytest.approx(math.log(4))
    assert stats["floor_actual"] <= stats["loss"] + 1e-6


def test_random_rows_are_untrained_and_share_their_trained_rows_encoder(import_benchmark):
    bench = import_benchmark("ms2l.table")
    assert bench.untrained("random") and bench.untrained("random-authors-init")
    assert not bench.untrained("step-300-3x-authors-init") and not bench.untrained("paper")
    trained = set(bench.VARIANTS["step-300-3x-authors-init"])
    assert set(bench.VARIANTS["random-authors-init"]) == trained - set(bench.STRETCHED_SCHEDULE)


def test_every_validation_variant_is_a_valid_ms2l_config(import_benchmark):
    """A misspelt override in VARIANTS would otherwise surface an hour into a run."""
    bench = import_benchmark("ms2l.table")
    for name, overrides in bench.VARIANTS.items():
        kept, epochs = bench.expand_epochs(overrides, 15)
        kept, _ = bench.without_marker(kept)
        bench.load_config("ms2l", bench.CONFIG, kept)  # raises on an unknown key
        assert epochs >= 15 and not any(o.startswith("EPOCHS") for o in kept), name
    kept, epochs = bench.expand_epochs(bench.VARIANTS["authors-optim-3x"], 15)
    authors = bench.load_config("ms2l", bench.CONFIG, kept)
    assert (authors.train.lr, authors.train.clip_grad, epochs) == (0.001, 10.0, 45)


def test_pretraining_on_the_evaluated_clips_too_keeps_the_iterations(import_benchmark):
    """The transductive rows pre-train on train + evaluated clips for the iterations the
    training clips alone get, so the step decay falls where it does; their records differ."""
    bench = import_benchmark("ms2l.table")
    view1, views12, views123 = range(516), range(1020), range(1484)  # NW-UCLA's counts
    assert bench.equal_iterations(45, 32, view1, views12) == 23  # 720 -> 713 iterations
    assert bench.equal_iterations(23, 32, views12, views123) == 16  # 713 -> 736
    assert bench.equal_iterations(1, 32, view1, views123) == 1
    kept, marked = bench.without_marker(bench.VARIANTS["step-300-3x-transductive"])
    assert marked and kept == bench.VARIANTS["step-300-3x"]
    assert bench.without_marker(bench.VARIANTS["step-300-3x"]) == (kept, False)
    assert bench.PRETRAIN_ROWS["ms2l-transductive"] == [bench.WITH_EVAL_CLIPS]


def test_results_say_the_load_the_runs_trained_under(import_benchmark):
    bench = import_benchmark("ms2l.table")
    runs = {
        "a": [{"load_average_1min": 3.04}, {"load_average_1min": None}],
        "b": [{"load_average_1min": 5.2}, {}],
    }
    assert "runs (2 recorded): 3.0-5.2" in bench.runs_load_text(runs)
    assert bench.runs_load_text({"a": [{}]}) == ""


def test_pretrain_resumes_a_stopped_run_of_the_same_config_only(
    import_benchmark, tmp_path, monkeypatch
):
    """Under ``--reuse`` a run left in its folder (last.pt, no record) resumes when its
    checkpoint's config is this run's; another config or no ``--reuse`` trains afresh."""
    from test_ms2l import tiny_data

    bench = import_benchmark("ms2l.table")
    overrides = ["encoder.hidden_size=6", "train.batch_size=6"]
    config = bench.load_config("ms2l", bench.CONFIG, [*overrides, "params.observed_frames=4"])
    data, run_dir = tiny_data(), tmp_path / "run"
    bench.pretrain(config, data, 1, 0, run_dir, reuse=True)  # nothing there: trained afresh
    assert (run_dir / "last.pt").is_file()
    calls = []
    real_train = bench.train

    def recording_train(*args, resume=False, **kwargs):
        calls.append(resume)
        return real_train(*args, resume=resume, **kwargs)

    monkeypatch.setattr(bench, "train", recording_train)
    bench.pretrain(config, data, 1, 0, run_dir, reuse=True)  # its own run: resumed
    bench.pretrain(config, data, 1, 0, run_dir, reuse=False)
    other = bench.load_config("ms2l", bench.CONFIG, [*overrides, "params.observed_frames=5"])
    bench.pretrain(other, data, 1, 0, run_dir, reuse=True)
    assert calls == [True, False, False]


def test_a_reused_record_gets_the_frozen_classifier_it_lacks_and_only_then(import_benchmark):
    """``--frozen-c`` completes an earlier record with C on its frozen encoder; a record
    that has it, or a run without the flag, is returned as it is, nothing rebuilt."""
    from test_ms2l import tiny_data

    bench = import_benchmark("ms2l.table")
    overrides = ["encoder.hidden_size=6", "train.batch_size=6", "params.observed_frames=4"]
    config = bench.load_config("ms2l", bench.CONFIG, overrides)
    train, test = tiny_data(), tiny_data(6, seed=1)
    args = SimpleNamespace(frozen_c=True, **{**bench.STRATEGY_DEFAULTS, "strategy_epochs": 2})
    record = {"row": "random", "seed": 0, "epochs": 0}
    completed = bench.complete_record(
        args, record, lambda: bench.Splits(config, train, test, train), ()
    )
    assert 0.0 <= completed["frozen_c_top1"] <= 100.0 and "frozen_c_top1" not in record

    def never():
        raise AssertionError("nothing to add: the record must not be rebuilt")

    assert bench.complete_record(args, completed, never, ()) is completed
    args.frozen_c = False
    assert bench.complete_record(args, record, never, ()) is record


def test_the_frozen_classifier_column_and_the_pretrain_row_are_not_trained_twice(
    import_benchmark,
):
    """On the ms2l row ``--frozen-c`` is the ``pretrain`` row: asking for both is refused
    before anything trains."""
    bench = import_benchmark("ms2l.table")
    args = SimpleNamespace(rows="ms2l,random,pretrain", frozen_c=True)
    with pytest.raises(SystemExit, match="drop pretrain"):
        bench.run_test(args, records=None)


def test_the_best_test_epoch_table_pairs_by_seed_and_flags_a_record_not_reproduced(
    import_benchmark,
):
    bench = import_benchmark("ms2l.diagnostics.test_curve")

    def probes(final, best, reproduces=True):
        one = {"final": final, "best": best, "best_epoch": 3, "reproduces": reproduces}
        return {"ours": one, "paper": {**one, "final": final - 10, "best": best - 10}}

    runs = {
        "ms2l": {0: probes(70.0, 71.0), 1: probes(72.0, 72.0)},
        "random": {0: probes(60.0, 61.0), 1: probes(64.0, 64.0, reproduces=False)},
    }
    rows = {(r["row"], r["probe"]): r for r in bench.summary(runs, bench.PROBE_TITLES)}
    ours = rows[("ms2l", "our probe")]
    assert (ours["final"], ours["best"], ours["lift"]) == ("71.0 ± 1.4", "71.5 ± 0.7", "+0.5 ± 0.7")
    assert ours["reproduces"] == "yes" and rows[("random", "our probe")]["reproduces"] == "1 of 2"
    assert ours["last"] == "–"  # no curves kept in these runs
    assert bench.lift_over(runs, ("ms2l", "random"), "ours", "final") == "+9.0 ± 1.4"
    assert bench.lift_over(runs, ("ms2l", "random"), "paper", "best") == "+9.0 ± 1.4"


def test_a_strategy_test_curve_is_read_at_its_final_and_best_epoch_and_checked_against_the_record(
    import_benchmark, tmp_path
):
    """``--strategies``: a kept curve (one process per strategy and seed) is read back, not
    retrained; its final epoch is compared with the strategy's test record."""
    bench = import_benchmark("ms2l.diagnostics.test_curve")
    args = SimpleNamespace(
        work=tmp_path, strategies=["rand-s", "jointly"], base=[], **bench.STRATEGY_DEFAULTS
    )  # fmt: skip
    records = bench.Records(tmp_path / "records.jsonl", reuse=True)
    for strategy, final in (("rand-s", 80.0), ("jointly", 83.0)):
        key = bench.Records.key("test", strategy, [], bench.STRATEGY_EPOCHS, 0)
        records.add({"key": key, "classifier_top1": final})
        kept = {
            "classifier": bench.curve_reading([70.0, 85.0, 80.0 if strategy == "rand-s" else 82.0])
        }
        (tmp_path / "test-curve").mkdir(exist_ok=True)
        (tmp_path / "test-curve" / f"{strategy}-seed0.json").write_text(json.dumps(kept))
    runs = bench.strategy_runs(args, records, splits=None, seeds=[0])
    assert runs["rand-s"][0]["classifier"]["reproduces"]
    assert not runs["jointly"][0]["classifier"]["reproduces"]  # 82.0 kept, 83.0 recorded
    assert runs["rand-s"][0]["classifier"]["best_epoch"] == 2
    table = {r["row"]: r for r in bench.summary(runs, bench.STRATEGY_TITLES)}
    assert table["rand-s"]["last"] == "78.3"  # (70 + 85 + 80) / 3: fewer epochs than LAST
    assert (
        bench.lift_over(runs, ("jointly", "rand-s"), "classifier", "final") == "+2.0"
    )  # one seed: no std
    for strategy in ("rand-s", "jointly"):  # seed 1: kept curves, no records
        (tmp_path / "test-curve" / f"{strategy}-seed1.json").write_text(json.dumps(kept))
    runs = bench.strategy_runs(args, records, splits=None, seeds=[0, 1])
    assert runs["jointly"][1]["classifier"]["reproduces"] is None
    table = {r["row"]: r for r in bench.summary(runs, bench.STRATEGY_TITLES)}
    assert table["rand-s"]["reproduces"] == "1 of 2 (1 without a record)"


def test_a_strategy_test_curve_with_its_own_self_optimiser_is_kept_apart(
    import_benchmark, tmp_path
):
    """``--self-lr``: Jointly's kept curve is named by its settings (a default curve is not
    read for it) and finds no record of the default Jointly to reproduce; Rand-S is shared."""
    bench = import_benchmark("ms2l.diagnostics.test_curve")
    own = {"self_lr": 0.01, "self_step_every": 300, "self_encoder": True}
    args = SimpleNamespace(work=tmp_path, strategies=["rand-s", "jointly"], base=[],
                           **{**bench.STRATEGY_DEFAULTS, **own})  # fmt: skip
    records = bench.Records(tmp_path / "records.jsonl", reuse=True)
    records.add({"key": bench.Records.key("test", "jointly", [], 60, 0), "classifier_top1": 1.0})
    folder = tmp_path / "test-curve"
    folder.mkdir()
    for name, final in (("rand-s", 80.0), ("jointly", 1.0),
                        ("jointly-self_lr0.01-self_step_every300-self_encoder", 84.0)):  # fmt: skip
        kept = {"classifier": bench.curve_reading([70.0, final])}
        (folder / f"{name}-seed0.json").write_text(json.dumps(kept))
    runs = bench.strategy_runs(args, records, splits=None, seeds=[0])
    assert runs["jointly"][0]["classifier"]["final"] == 84.0
    assert runs["jointly"][0]["classifier"]["reproduces"] is None
    assert runs["rand-s"][0]["classifier"]["final"] == 80.0


def test_the_config_adopts_the_stacked_variant_and_validation_still_starts_before_it(
    import_benchmark,
):
    """configs/nwucla/ms2l.yaml holds step-300-3x-stacked's settings; PREVIOUS undoes them to
    the paper's (MS2LConfig's defaults), the base every validation variant was measured on."""
    bench = import_benchmark("ms2l.table")
    adopted = bench.load_config("ms2l", bench.CONFIG, [])
    assert adopted == bench.load_config("ms2l", bench.CONFIG, bench.STACKED)
    previous = bench.load_config("ms2l", bench.CONFIG, bench.PREVIOUS)
    paper = type(previous.params)()
    assert previous.params == paper and adopted.params != paper
    assert bench.PRETRAIN_ROWS["ms2l-previous"] == bench.PREVIOUS


def test_a_record_made_under_another_config_is_refused_not_reused(import_benchmark, tmp_path):
    """Records are keyed by their overrides; the config file itself may change (as it did
    when the stacked settings were adopted), so each record keeps its config's digest."""
    bench = import_benchmark("ms2l.table")
    args = SimpleNamespace(base=[], root="nw-ucla")
    adopted = bench.config_digest(args, [], validate=False)
    assert adopted == bench.config_digest(args, bench.STACKED, validate=False)
    assert adopted != bench.config_digest(args, [], validate=True)  # validation: PREVIOUS
    records = bench.Records(tmp_path / "records.jsonl", reuse=True)
    records.add({"key": "k", "config_digest": adopted})
    records.add({"key": "legacy"})  # from before digests: kept
    assert records.get("k", adopted) and records.get("legacy", adopted)
    with pytest.raises(SystemExit, match="another config: use a new --work"):
        records.get("k", bench.config_digest(args, bench.PREVIOUS, validate=False))


def test_a_results_file_lends_its_runs_to_a_fresh_work_folder_where_missing(
    import_benchmark, tmp_path
):
    """``--records-from``: the runs a committed results file was gathered from join the
    records, a record the folder has already kept as it is; a file without runs is named."""
    bench = import_benchmark("ms2l.table")
    results = tmp_path / "nwucla_ms2l.json"
    runs = {"ms2l": [{"key": "a", "linear_top1": 70.0}, {"key": "b", "linear_top1": 71.0}]}
    results.write_text(json.dumps({"runs": runs}))
    records = bench.Records(tmp_path / "work" / "records.jsonl", reuse=True)
    records.add({"key": "b", "linear_top1": 99.0})
    assert records.adopt(results) == 1 and records.adopt(results) == 0
    reread = bench.Records(tmp_path / "work" / "records.jsonl", reuse=True)
    assert reread.get("a")["linear_top1"] == 70.0 and reread.get("b")["linear_top1"] == 99.0
    (tmp_path / "table.json").write_text("[]")
    with pytest.raises(SystemExit, match="table.json: not a results file"):
        records.adopt(tmp_path / "table.json")


def test_curves_of_two_strategies_are_chosen_apart_and_paired_by_seed(import_benchmark, tmp_path):
    """``--curve rand-s,jointly``: each strategy's best grid epoch is its own, and Jointly's
    column is its paired difference to Rand-S at every grid epoch."""
    bench = import_benchmark("ms2l.table")
    records = bench.Records(tmp_path / "records.jsonl", reuse=True)
    args = SimpleNamespace(curve="rand-s,jointly", seeds=[0, 1], base=[],
                           **{**bench.STRATEGY_DEFAULTS, "strategy_epochs": 10})  # fmt: skip
    rising = [float(e) for e in range(1, 11)]
    for seed in args.seeds:
        for strategy, curve in (("rand-s", rising[::-1]), ("jointly", rising)):
            key = bench.Records.key("val-curve", strategy, [], 10, seed)
            records.add({"key": key, "seed": seed, "monitor_curve": [v + seed for v in curve]})
    results = bench.run_epoch_choice(args, records)
    assert results["chosen_epochs"] == {"rand-s": 5, "jointly": 10}
    assert [row["epoch"] for row in results["table"]] == [5, 10]
    assert results["table"][1]["jointly_vs_rand-s"] == "+9.0 ± 0.0"  # 10 - 1 on both seeds
    bench.write_epoch_choice(results, tmp_path, "cmd", stem="curves")
    assert "Δ vs rand-s (paired)" in (tmp_path / "curves.md").read_text()


def test_only_jointly_records_name_an_omega_other_than_the_papers(import_benchmark):
    """``--omega`` changes Jointly's key (its records are another run) and no other
    strategy's, so Rand-S records pair with every ω."""
    bench = import_benchmark("ms2l.table")
    paper, low = (SimpleNamespace(base=["a=1"], omega=w, strategy_lr=1e-3, strategy_step_every=0,
                                  self_lr=0.0)
                  for w in (1.0, 0.1))  # fmt: skip
    assert bench.strategy_key_overrides(paper, "jointly") == ["a=1"]
    assert bench.strategy_key_overrides(low, "jointly") == ["a=1", "OMEGA=0.1"]
    assert bench.strategy_key_overrides(low, "rand-s") == ["a=1"]


def test_a_results_file_says_which_omega_its_jointly_rows_used(import_benchmark):
    bench = import_benchmark("ms2l.table")
    key = bench.Records.key("test", "jointly", ["OMEGA=0.3"], 60, 0)
    assert "ω = 0.3" in bench.settings_text({"jointly": [{"key": key}]})
    paper = bench.Records.key("test", "jointly", [], 60, 0)
    assert bench.settings_text({"jointly": [{"key": paper}], "rand-s": []}) == ""


def test_an_own_optimiser_of_l_self_is_in_the_keys_of_the_strategies_it_changes(
    import_benchmark,
):
    """``--self-lr`` (with its decay and ``--self-encoder``) makes other Moving and Jointly
    runs; Rand-S records still pair with them, and the results text says so."""
    bench = import_benchmark("ms2l.table")
    args = SimpleNamespace(base=[], omega=1.0, strategy_lr=1e-3, strategy_step_every=0,
                           self_lr=0.01, self_step_every=300, self_encoder=True)  # fmt: skip
    own = ["SELF_LR=0.01", "SELF_STEP_EVERY=300", "SELF_ENCODER"]
    assert bench.strategy_key_overrides(args, "jointly") == own
    assert bench.strategy_key_overrides(args, "moving") == own
    assert bench.strategy_key_overrides(args, "rand-s") == []
    key = bench.Records.key("val-curve", "jointly", own, 60, 0)
    assert "L_self's own Adam (lr 0.01" in bench.settings_text({"jointly": [{"key": key}]})


def test_a_non_default_optimiser_of_c_is_in_every_strategys_key_and_named(import_benchmark):
    """``--strategy-lr`` / ``--strategy-step-every`` (Sec. 4.1's schedule) make other runs
    of every strategy, and the results text names the optimiser they used."""
    bench = import_benchmark("ms2l.table")
    args = SimpleNamespace(base=[], omega=1.0, strategy_lr=0.01, strategy_step_every=100,
                           self_lr=0.0)  # fmt: skip
    for strategy in ("rand-s", "jointly"):
        assert bench.strategy_key_overrides(args, strategy) == ["C_LR=0.01", "C_STEP_EVERY=100"]
    key = bench.Records.key("val-curve", "rand-s", ["C_LR=0.01", "C_STEP_EVERY=100"], 60, 0)
    text = bench.settings_text({"rand-s": [{"key": key}]})
    assert "Adam lr 0.01, x0.1 every 100 iterations" in text


def test_the_rounding_diagnosis_pairs_the_two_gru_paths_by_seed(import_benchmark, tmp_path):
    bench = import_benchmark("ms2l.diagnostics.rounding")
    runs = {"padded": {0: {"top1": 80.0}, 1: {"top1": 84.0}},
            "packed": {0: {"top1": 82.0}, 1: {"top1": 83.0}}}  # fmt: skip
    args = SimpleNamespace(out=tmp_path, stem="r", seeds="0,1")
    bench.write(args, runs, "cmd")
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["packed_minus_padded"] == "+0.5 ± 2.1"  # +2 and -1
    assert summary["mean_absolute_difference"] == 1.5
    assert "| 1 | 84.00 | 83.00 | -1.00 |" in (tmp_path / "r.md").read_text()


def test_the_rounding_diagnosis_swaps_in_the_packed_gru_for_the_padded_one_only_inside(
    import_benchmark,
):
    """``rand_s(..., "packed")`` runs the GRU over padded batches by packing; afterwards the
    module's CPU path is the padded one again."""
    bench = import_benchmark("ms2l.diagnostics.rounding")
    from skelssl.models import gru as gru_module

    original = gru_module.padded_gru
    seen = []

    def fake_train(*args, **kwargs):
        seen.append(gru_module.padded_gru)
        return {"top1": 1.0, "cls_curve": [0.5], "seconds": 6.0}

    splits = (SimpleNamespace(), None, None, None)
    with (
        mock.patch.object(bench, "train_recognition", fake_train),
        mock.patch.object(bench, "random_method", lambda *a: None),
        mock.patch.object(bench, "strategy_settings", lambda *a: None),
    ):
        assert bench.rand_s(splits, 0, "packed")["minutes"] == 0.1
    assert seen == [gru_module.packed_gru] and gru_module.padded_gru is original


def test_a_pre_trained_strategy_curve_starts_from_the_seeds_ms2l_run_and_names_it_when_missing(
    import_benchmark, tmp_path
):
    bench = import_benchmark("ms2l.diagnostics.test_curve")
    args = SimpleNamespace(work=tmp_path, base=[])
    splits = (None, None, None, None)
    with mock.patch.object(bench, "random_method", lambda *a: "random"):
        assert bench.strategy_source(args, splits, "rand-s", 3) == "random"
        with pytest.raises(SystemExit, match=r"test/ms2l/seed3/last.pt: no ms2l pre-training"):
            bench.strategy_source(args, splits, "moving", 3)


def test_jointly_gradients_are_taken_on_the_parameters_both_terms_reach(import_benchmark):
    """The encoder is what L_cls and L_self share: the norms and cosine are over it alone."""
    bench = import_benchmark("ms2l.diagnostics.jointly_gradients")
    shared, classifier, head = (torch.nn.Parameter(torch.tensor(v)) for v in
                                ([1.0, 2.0], [3.0, 0.0], [0.0, 4.0]))  # fmt: skip
    optimisers = [SimpleNamespace(parameters=[shared, classifier]),
                  SimpleNamespace(parameters=[head])]  # fmt: skip
    terms = {"cls": (shared * classifier).sum(), "self": (shared * head).sum()}
    measured = bench.term_gradients(optimisers, terms)  # ∇_shared: (3, 0) and (0, 4)
    assert measured["cls"] == pytest.approx(3.0) and measured["self"] == pytest.approx(4.0)
    assert measured["ratio"] == pytest.approx(4 / 3) and measured["cosine"] == pytest.approx(0.0)
    runs = {0: [{"iteration": i, "cls": 1.0, "self": float(i), "ratio": 1.0, "cosine": 0.0}
                for i in range(0, 8, 2)]}  # fmt: skip
    rows = bench.by_block(runs, 4)
    assert [r["self"] for r in rows] == ["1.00", "5.00"]
