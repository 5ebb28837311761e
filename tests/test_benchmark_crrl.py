"""benchmarks/crrl/table.py: the paired study arithmetic and the kNN diagnosis's features."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture
def crrl_benchmark(import_benchmark):
    return import_benchmark("crrl.table")


def arm(linear: list[float], knn: list[float]) -> dict:
    per_seed = {
        seed: {"linear_top1": a, "knn_top1": b} for seed, (a, b) in enumerate(zip(linear, knn))
    }
    return {"linear_top1": float(np.mean(linear)), "per_seed": per_seed}


def test_paired_difference_names_its_arms_and_pairs_by_seed(crrl_benchmark):
    arms = {"paper": arm([50, 60, 55], [40, 45, 50]), "view-norm": arm([58, 61, 60], [50, 44, 60])}
    result = crrl_benchmark.paired_difference(arms, "view-norm", "paper")
    assert result["winner"] == "view-norm"
    assert result["view-norm_minus_paper_linear_top1"] == pytest.approx(14 / 3, abs=0.01)
    assert result["view-norm_better_linear_top1_seeds"] == 3
    assert result["view-norm_better_knn_top1_seeds"] == 2  # 10, -1, 10
    # the optimiser study's keys are unchanged
    assert "adam_minus_sgd_knn_top1_std" in crrl_benchmark.paired_difference(
        {"adam": arms["paper"], "sgd": arms["view-norm"]}
    )


def test_standardised_uses_the_training_statistics_only(crrl_benchmark):
    train = np.array([[1.0, 10.0], [3.0, 30.0]])
    test = np.array([[2.0, 50.0]])
    train_z, test_z = crrl_benchmark.standardised(train, test)
    np.testing.assert_allclose(train_z, [[-1, -1], [1, 1]])
    np.testing.assert_allclose(test_z, [[0, 3]])


def test_minmax_per_coordinate_scales_each_joint_over_its_frames_and_keeps_padding(crrl_benchmark):
    joints = np.zeros((1, 4, 1, 2, 1))  # (N, T, M, V, C): 3 real frames, 1 padding frame
    joints[0, :3, 0, 0, 0] = [1, 2, 3]
    joints[0, :3, 0, 1, 0] = [5, 5, 7]
    scaled = crrl_benchmark.minmax_per_coordinate(joints)[0, :, 0, :, 0]
    np.testing.assert_allclose(scaled, [[-1, -1], [0, -1], [1, 1], [0, 0]])


def test_finished_with_ignores_probe_settings_and_root_spelling_only(
    crrl_benchmark, import_benchmark, tmp_path
):
    import yaml

    from skelssl.config import load_config, to_dict

    config = load_config("crrl", overrides=["data.root=some/dir", "train.epochs=3"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    saved = to_dict(config)
    saved["data"]["root"] = str((tmp_path / "x" / ".." / "some" / "dir").resolve())
    saved["evaluation"].pop("linear_schedule")  # a run saved before that field existed
    saved["params"].pop("teacher_dropout")  # a pre-training field added later: its default
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved))
    assert not crrl_benchmark.finished_with(run_dir, config)  # no summary.json: unfinished
    (run_dir / "summary.json").write_text("{}")
    moved = load_config(
        "crrl", overrides=[f"data.root={tmp_path / 'some' / 'dir'}", "train.epochs=3"]
    )
    assert crrl_benchmark.finished_with(run_dir, moved)
    other = load_config(
        "crrl", overrides=[f"data.root={tmp_path / 'some' / 'dir'}", "train.epochs=4"]
    )
    assert not crrl_benchmark.finished_with(run_dir, other)
    differences = import_benchmark("common").run_config_differences(run_dir, other)
    assert differences == ["train.epochs: 3 -> 4"]  # what a replaced run is told differed


def test_finished_with_compares_a_split_file_by_content_not_folder(crrl_benchmark, tmp_path):
    import yaml

    from skelssl.config import load_config, to_dict

    splits = {}
    for folder, content in (("a", b"split"), ("b", b"split"), ("c", b"other")):
        (tmp_path / folder).mkdir()
        splits[folder] = tmp_path / folder / "view1_view2.npz"
        splits[folder].write_bytes(content)

    def config(folder: str):
        return load_config("crrl", overrides=[f"data.name={splits[folder]}", "data.split=given"])

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(config("a"))))
    (run_dir / "summary.json").write_text("{}")
    assert crrl_benchmark.finished_with(run_dir, config("b"))  # the same split, elsewhere
    assert not crrl_benchmark.finished_with(run_dir, config("c"))  # another split


def test_finished_with_compares_a_teacher_by_where_its_link_leads(crrl_benchmark, tmp_path):
    import yaml

    from skelssl.config import load_config, to_dict

    for name in ("cml-a", "cml-b"):
        (tmp_path / "runs" / name).mkdir(parents=True)
    (tmp_path / "gathered").mkdir()
    (tmp_path / "gathered" / "cml-a").symlink_to(tmp_path / "runs" / "cml-a")

    def config(teacher):
        return load_config("crrl", overrides=["params.variant=crrl", f"params.teacher={teacher}"])

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump(to_dict(config(tmp_path / "runs" / "cml-a")))
    )
    (run_dir / "summary.json").write_text("{}")
    assert crrl_benchmark.finished_with(run_dir, config(tmp_path / "gathered" / "cml-a"))
    assert not crrl_benchmark.finished_with(run_dir, config(tmp_path / "runs" / "cml-b"))


def test_finished_with_ignores_distillation_settings_only_for_variants_that_do_not_distil(
    crrl_benchmark, tmp_path
):
    import yaml

    from skelssl.config import load_config, to_dict

    def finished(variant: str, extra: list[str]) -> bool:
        teacher = ["params.teacher=t"] if variant == "crrl" else []
        base = [f"params.variant={variant}", *teacher]
        run_dir = tmp_path / variant
        run_dir.mkdir(exist_ok=True)
        saved = to_dict(load_config("crrl", overrides=base))
        (run_dir / "config.yaml").write_text(yaml.safe_dump(saved))
        (run_dir / "summary.json").write_text("{}")
        config = load_config("crrl", overrides=[*base, *extra])
        return crrl_benchmark.finished_with(
            run_dir, config, crrl_benchmark.without_unread_distillation
        )

    step2_only = ["params.distill_weight=0.01", "params.teacher_dropout=true"]
    assert finished("cml", step2_only)  # the teacher phase never reads them
    assert finished("ser", step2_only)
    assert not finished("crrl", ["params.distill_weight=0.01"])  # step 2 does
    assert not finished("crrl", ["params.teacher_dropout=true"])
    assert not finished("cml", ["params.temperature=0.2"])  # other params still count


def test_train_phase_never_deletes_a_linked_run_it_cannot_reuse(crrl_benchmark, tmp_path):
    from skelssl.config import load_config

    linked = tmp_path / "elsewhere" / "cml"
    linked.mkdir(parents=True)
    (linked / "last.pt").write_bytes(b"weights")  # unfinished here: no summary.json
    run_dir = tmp_path / "work" / "cml"
    run_dir.parent.mkdir()
    run_dir.symlink_to(linked)
    config = load_config("crrl", overrides=["train.epochs=1"])
    with pytest.raises(SystemExit, match="links to a run"):
        crrl_benchmark.train_phase(config, run_dir, quiet=True, reuse=True)
    assert (linked / "last.pt").read_bytes() == b"weights" and run_dir.is_symlink()


def test_train_phase_resumes_an_unfinished_run_of_the_same_config(
    crrl_benchmark, tmp_path, monkeypatch
):
    import yaml

    from skelssl.config import load_config, to_dict

    config = load_config("crrl", overrides=["train.epochs=3"])
    run_dir = tmp_path / "cml"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(config)))
    (run_dir / "last.pt").write_bytes(b"weights")  # stopped mid-run: no summary.json
    calls = []

    def fake_pretrain(config, run_dir, *, resume=False, quiet=False):
        calls.append(resume)
        return {"epochs": 3, "seconds": 120.0}

    class Run:
        encoder = data = config = None

    monkeypatch.setattr(crrl_benchmark, "pretrain", fake_pretrain)
    monkeypatch.setattr(crrl_benchmark, "load_run", lambda *args, **kwargs: Run())
    info = crrl_benchmark.train_phase(config, run_dir, quiet=True, reuse=True)[3]
    assert calls == [True] and info["minutes"] == 2.0  # resumed: all calls' time
    assert (run_dir / "last.pt").read_bytes() == b"weights"  # not deleted
    other = load_config("crrl", overrides=["train.epochs=4"])  # another pre-training
    crrl_benchmark.train_phase(other, run_dir, quiet=True, reuse=True)
    assert calls == [True, False] and not run_dir.exists()  # retrained from scratch
    crrl_benchmark.train_phase(config, tmp_path / "new", quiet=True, reuse=False)
    assert calls == [True, False, False]


def test_train_phase_links_a_finished_twin_under_another_name_instead_of_retraining(
    crrl_benchmark, tmp_path, monkeypatch
):
    import yaml

    from skelssl.config import load_config, to_dict

    config = load_config("crrl", overrides=["train.epochs=3"])
    twin = tmp_path / "ser-seed0"  # the configs' arm, finished
    twin.mkdir()
    (twin / "config.yaml").write_text(yaml.safe_dump(to_dict(config)))
    (twin / "summary.json").write_text(json.dumps({"epochs": 3, "wall_seconds": 60.0}))
    calls = []
    monkeypatch.setattr(crrl_benchmark, "pretrain", lambda *a, **k: calls.append(1) or {})
    monkeypatch.setattr(crrl_benchmark, "load_run", lambda *a, **k: type("Run", (), {
        "encoder": None, "data": None, "config": None}))  # fmt: skip
    arm = tmp_path / "ser-decoder-256-seed0"
    info = crrl_benchmark.train_phase(config, arm, quiet=True, reuse=True)[3]
    assert calls == [] and arm.is_symlink() and arm.resolve() == twin.resolve()
    assert info["minutes"] == 1.0  # the twin's own time
    other = load_config("crrl", overrides=["train.epochs=4"])  # no twin: trained
    crrl_benchmark.train_phase(other, tmp_path / "longer-seed0", quiet=True, reuse=True)
    crrl_benchmark.train_phase(config, tmp_path / "fresh-seed0", quiet=True, reuse=False)
    assert calls == [1, 1] and not (tmp_path / "fresh-seed0").is_symlink()


def test_versus_ser_pairs_each_row_by_seed_and_skips_random(crrl_benchmark):
    rows = {
        "random": {**arm([60, 61, 62], [50, 51, 52]), "seeds": [0, 1, 2]},
        "ser": {**arm([70, 72, 74], [60, 60, 60]), "seeds": [0, 1, 2]},
        "crrl": {**arm([71, 71, 77], [62, 58, 61]), "seeds": [0, 1, 2]},
    }
    lines = crrl_benchmark.versus_ser_section({"rows": rows})
    table = "\n".join(lines)
    assert "| crrl | 1.0 ± 2.0 | 0.3 ± 2.1 | 2 of 3 | 2.4 |" in table
    assert "| random" not in table and "| ser" not in table
    assert crrl_benchmark.versus_ser_section({"rows": {"crrl": rows["crrl"]}}) == []


def test_fusion_run_dirs_reuse_the_preparation_study_runs_of_the_configs(crrl_benchmark):
    from types import SimpleNamespace

    args = SimpleNamespace(work="w")
    run_dir = crrl_benchmark.fusion_run_dir
    assert run_dir(args, "ser", 2).name == "ser-view-norm+minmax-seed2"  # the study's own run
    assert run_dir(args, "crrl-teacher-eval", 0).name == "crrl-view-norm+minmax-seed0"
    assert run_dir(args, "crrl-sgd", 1).name == "crrl-view-norm+minmax-sgd-seed1"
    assert run_dir(args, "crrl-teacher-dropout", 0).name.endswith("minmax-teacher-dropout-seed0")
    for arm, bases in crrl_benchmark.FUSION_BASELINES.items():  # every pair names real arms
        assert {arm, *bases} <= set(crrl_benchmark.FUSION_ARMS)
    assert set(crrl_benchmark.FUSION_ARM_TEXT) == set(crrl_benchmark.FUSION_ARMS)


def test_fusion_study_writes_under_its_stem_and_describes_only_its_arms(crrl_benchmark, tmp_path):
    arms = {
        name: {**arm(linear, [60, 61, 62]), "settings": settings, "epochs": [60, 60, 60]}
        for name, linear, settings in (
            ("ser-decoder-frame", [64, 65, 63], ["params.decoder_hidden=0"]),
            ("ser-decoder-256", [66, 64, 66], ["params.decoder_hidden=256"]),
        )
    }
    payload = {"encoder": "gru-2x256", "seeds": [0, 1, 2], "epoch_scale": 1.0, "machine": {},
               "command": "c", "arms": arms,
               "paired": {"ser-decoder-256 - ser-decoder-frame": crrl_benchmark.paired_difference(
                   arms, "ser-decoder-256", "ser-decoder-frame")}}  # fmt: skip
    crrl_benchmark.write_fusion_study(payload, tmp_path, "decoder")
    text = (tmp_path / "decoder.md").read_text()
    assert json.loads((tmp_path / "decoder.json").read_text())["arms"].keys() == arms.keys()
    assert "`ser-decoder-256`, SER whose decoder GRUs have 256 hidden units" in text
    assert "lambda_d = 1" not in text  # an arm that did not run is not described
    assert (
        "| ser-decoder-256 − ser-decoder-frame (paired) | ser-decoder-256 better on 2 of 3" in text
    )


def test_rewrite_under_another_stem_names_its_files_and_draws_no_figures(crrl_benchmark, tmp_path):
    source = crrl_benchmark.REPO / "benchmarks" / "crrl" / "results" / "nwucla_crrl.json"
    (tmp_path / "other.json").write_text(source.read_text())
    crrl_benchmark.rewrite(tmp_path, "other")
    text = (tmp_path / "other.md").read_text()
    assert "Figures: none (only the stem nwucla_crrl draws them)." in text
    assert "| crrl |" in text
    assert not (tmp_path / "nwucla_crrl.md").exists()


def test_side_by_side_features_weigh_both_learners_equally_under_cosine(import_benchmark):
    concat = import_benchmark("crrl.diagnostics.concat")
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(2, 5)) * [[1], [100]], rng.normal(size=(2, 3))
    joint = concat.side_by_side(first, second)

    def cosine(a, b):
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    expected = (cosine(*first) + cosine(*second)) / 2  # the first's scale does not count
    assert cosine(*joint) == pytest.approx(expected)
    assert joint.shape == (2, 8)


def test_a_reading_extracts_with_its_pooling_and_leaves_the_encoder_as_it_was(
    import_benchmark,
):
    import torch

    from skelssl.data.types import DataSpec
    from skelssl.models import EncoderConfig, build_encoder
    from test_ms2l import tiny_data

    readings = import_benchmark("crrl.diagnostics.readings")
    data = tiny_data()
    torch.manual_seed(0)
    encoder = build_encoder(EncoderConfig(name="gru", hidden_size=4), DataSpec.of(data))
    (tap,) = readings.read(encoder, [data], "mean")
    (last,) = readings.read(encoder, [data], "last")
    assert encoder.pooling == "mean" and tap.shape == last.shape == (len(data), 8)
    assert not np.allclose(tap, last)
    np.testing.assert_allclose(readings.read(encoder, [data], "mean")[0], tap)


def test_the_readings_table_pairs_each_reading_with_tap_by_seed(import_benchmark):
    readings = import_benchmark("crrl.diagnostics.readings")

    def seed(offset: float) -> dict:
        return {f"{encoder}_{reading}_{probe}": 50.0 + offset + 2.0 * (reading == "last")
                for encoder in readings.ENCODERS for reading in readings.READINGS
                for probe in ("linear", "knn")}  # fmt: skip

    entry = {"step2": "a", "ser": "b", "knn": "k=1 cosine", "load_average": 1.0,
             "per_seed": {"0": seed(0.0), "1": seed(1.0)}}  # fmt: skip
    text = "\n".join(readings.set_table("val", entry))
    assert "| crrl | last | 52.5 ± 0.7 | 52.5 ± 0.7 | +2.0 ± 0.0 (2 of 2 higher) |" in text
    assert "| ser | tap+last | 50.5 ± 0.7 | 50.5 ± 0.7 | +0.0 ± 0.0 (0 of 2 higher) |" in text


def test_the_differences_to_the_paper_name_the_run_s_optimiser(crrl_benchmark):
    adam = crrl_benchmark.optimiser_note({"optimizer": {"name": "adam", "lr": 0.001}})
    assert adam.startswith("Adam lr 0.001 instead of SGD")
    assert crrl_benchmark.optimiser_note({}) == adam  # files from before the field
    sgd = crrl_benchmark.optimiser_note({"optimizer": {"name": "sgd", "lr": 0.04}})
    assert sgd == "SGD lr 0.04, Sec. IV-B's optimiser"


def test_preparation_differences_pair_against_the_paper_and_the_configs(crrl_benchmark):
    arms = {
        "view-norm+minmax": arm([60, 62, 64], [50, 50, 50]),
        "pc": arm([61, 61, 66], [51, 52, 53]),
    }
    versus = crrl_benchmark.preparation_differences(arms)
    assert list(versus) == ["view-norm+minmax"]  # no "paper" arm ran
    assert versus["view-norm+minmax"]["pc"]["pc_minus_view-norm+minmax_knn_top1"] == 2.0
    assert versus["view-norm+minmax"]["pc"]["pc_better_linear_top1_seeds"] == 2


def test_best_test_epoch_and_final_per_seed(import_benchmark):
    epochs = import_benchmark("crrl.diagnostics.epochs")
    runs = {0: {5: {"linear_top1": 70, "knn_top1": 72}, 60: {"linear_top1": 75, "knn_top1": 71}},
            1: {5: {"linear_top1": 71, "knn_top1": 70}, 60: {"linear_top1": 74, "knn_top1": 73}}}  # fmt: skip
    summary = epochs.summarise(runs)
    assert summary["knn_top1"]["final"] == [71, 73]
    assert summary["knn_top1"]["best_test_epoch"] == [72, 73]
    assert summary["knn_top1"]["best_minus_final"] == [1, 0]
    assert summary["knn_top1"]["best_epochs"] == [5, 60]


def result(path, linear, knn, first_seed=0):
    """A result JSON with one row, ``ser``, whose seeds from ``first_seed`` hold these numbers."""
    runs = {
        str(first_seed + s): {"linear_top1": a, "knn_top1": b}
        for s, (a, b) in enumerate(zip(linear, knn))
    }
    path.write_text(json.dumps({"rows": {"ser": {"per_seed": runs}}}))
    return path


def test_paired_lines_pair_two_result_files_by_seed(import_benchmark, tmp_path):
    paired = import_benchmark("crrl.paired")
    a = result(tmp_path / "a.json", [80, 82, 84], [81, 81, 81])
    b = result(tmp_path / "b.json", [79, 80, 80], [82, 80, 80])
    (line,) = paired.paired_lines(paired.per_seed(a), paired.per_seed(b), [("ser", "ser")])
    assert "linear_top1 82.0 ± 2.0 vs 79.7 ± 0.6: +2.3 ± 1.5 (A higher on 3 of 3)" in line
    assert "(A higher on 2 of 3)" in line


def test_seed_sets_run_apart_merge_for_means_and_pairs(import_benchmark, tmp_path):
    paired = import_benchmark("crrl.paired")
    a = result(tmp_path / "a.json", [80, 82], [81, 83])
    b = result(tmp_path / "b.json", [84, 86], [85, 87], first_seed=2)
    merged = paired.merged_per_seed([a, b])
    (line,) = paired.mean_lines(merged, ["ser"])
    assert "seeds [0, 1, 2, 3]: linear_top1 83.0 ± 2.6; knn_top1 84.0 ± 2.6" in line
    (line,) = paired.paired_lines(merged, merged, [("ser", "ser")])
    assert "+0.0 ± 0.0 (A higher on 0 of 4)" in line
    clash = result(tmp_path / "clash.json", [81], [81], first_seed=1)  # seed 1 is 82 in a
    with pytest.raises(paired.ResultFileError, match="clash.json: seed 1"):
        paired.merged_per_seed([a, clash])


def test_paired_rejects_a_missing_or_foreign_file_in_one_line(import_benchmark, tmp_path):
    paired = import_benchmark("crrl.paired")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"rows": {"ser": {"linear": 80}}}))
    for path in (tmp_path / "absent.json", foreign):
        with pytest.raises(paired.ResultFileError, match=path.name):
            paired.per_seed(path)
